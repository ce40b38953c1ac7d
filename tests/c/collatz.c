#include <stdio.h>

int collatz(int n) {
    int steps = 0;
    while (n != 1) {
        if (n % 2 == 0) n = n / 2;
        else n = 3 * n + 1;
        steps++;
    }
    return steps;
}

int main(void) {
    int n = 6;
    printf("%d", n);
    while (n != 1) {
        if (n % 2 == 0) n = n / 2;
        else n = 3 * n + 1;
        printf(" %d", n);
    }
    printf("\ncollatz(7) = %d\n", collatz(7));
    return collatz(3);
}
