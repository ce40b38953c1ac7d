#include <stdio.h>

int main(void) {
    int x = 0x5A3C, y = -1234, z = 77;
    printf("%d %d %d\n", x & y, x | y, x ^ y);
    printf("%d %d %d\n", ~x, ~y, ~0);
    printf("%d %d %d %d\n", x << 3, y << 1, x >> 4, y >> 3);
    printf("%d %d\n", z & 1, (z >> 1) & 7);
    printf("%x\n", (x << 16) | (z << 8) | 255);
    return (x ^ z) & 255;
}
