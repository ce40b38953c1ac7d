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
    int n;
    for (n = 1; n <= 9; n++) printf("collatz(%d) = %d\n", n, collatz(n));
    return collatz(7);
}
