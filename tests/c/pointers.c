#include <stdio.h>

void swap(int *x, int *y) {
    int t = *x;
    *x = *y;
    *y = t;
}

int buffer[6] = {10, 20, 30, 40, 50, 60};

int main(void) {
    int a = 3, b = 4;
    int *p = buffer;
    int *end = buffer + 6;
    int total = 0;
    swap(&a, &b);
    printf("a=%d b=%d\n", a, b);
    while (p < end) {
        total += *p;
        *p += 1;
        p++;
    }
    printf("total=%d last=%d diff=%d\n", total, *(end - 1), end - buffer);
    p = &buffer[2];
    *p++ = 99;
    *p = *p * 2;
    printf("%d %d %d\n", buffer[2], buffer[3], p[-1]);
    return a * 10 + b;
}
