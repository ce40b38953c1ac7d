#include <stdio.h>

int composite[100];

int main(void) {
    int i, j, count = 0;
    for (i = 2; i < 100; i++) {
        if (composite[i]) continue;
        count++;
        for (j = i + i; j < 100; j += i) composite[j] = 1;
    }
    printf("%d primes below 100\n", count);
    return count;
}
