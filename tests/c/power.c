#include <stdio.h>

/* Fast exponentiation, recursive. */
int power(int base, int e) {
    int half;
    if (e == 0) return 1;
    half = power(base, e / 2);
    if (e % 2) return half * half * base;
    return half * half;
}

int main(void) {
    printf("%d %d %d\n", power(2, 10), power(-3, 5), power(7, 0));
    return power(2, 6);
}
