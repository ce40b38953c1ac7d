#include <stdio.h>

/* The first Fibonacci numbers, iteratively. */
int main(void) {
    int a = 0, b = 1, i, t;
    for (i = 0; i < 20; i++) {
        printf("%d ", a);
        t = a + b;
        a = b;
        b = t;
    }
    printf("\n");
    return a;
}
