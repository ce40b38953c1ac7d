#include <stdio.h>

/* Primes below 20 by trial division. */
int is_prime(int n) {
    int d;
    if (n < 2) return 0;
    for (d = 2; d * d <= n; d++)
        if (n % d == 0) return 0;
    return 1;
}

int main(void) {
    int n, count = 0;
    for (n = 2; n < 20; n++) {
        if (is_prime(n)) {
            printf("%d ", n);
            count++;
        }
    }
    printf("\n%d primes\n", count);
    return count;
}
