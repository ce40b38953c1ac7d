#include <stdio.h>

int isqrt(int n) {
    int r = 0, odd = 1;
    while (n >= odd) {
        n -= odd;
        odd += 2;
        r++;
    }
    return r;
}

int main(void) {
    int n;
    for (n = 0; n <= 100; n += 11) printf("%d:%d ", n, isqrt(n));
    printf("\n");
    return isqrt(2024);
}
