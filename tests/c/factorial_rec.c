#include <stdio.h>

int factorial(int n) {
    if (n <= 1) return 1;
    return n * factorial(n - 1);
}

int main(void) {
    int n;
    for (n = 0; n <= 7; n++) printf("%d! = %d\n", n, factorial(n));
    return factorial(5);
}
