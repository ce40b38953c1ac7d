#include <stdio.h>

int is_odd(int n);

int is_even(int n) {
    if (n == 0) return 1;
    return is_odd(n - 1);
}

int is_odd(int n) {
    if (n == 0) return 0;
    return is_even(n - 1);
}

int main(void) {
    int n, evens = 0;
    for (n = 0; n < 12; n++) {
        printf("%d", is_even(n));
        evens += is_even(n);
    }
    printf("\n");
    return evens;
}
