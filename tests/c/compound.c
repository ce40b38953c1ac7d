#include <stdio.h>

int main(void) {
    int x = 10, y, a[3] = {1, 2, 3};
    x += 5; printf("%d ", x);
    x -= 3; printf("%d ", x);
    x *= 7; printf("%d ", x);
    x /= 4; printf("%d ", x);
    x %= 6; printf("%d ", x);
    x <<= 4; printf("%d ", x);
    x >>= 2; printf("%d ", x);
    x |= 3; printf("%d ", x);
    x &= 13; printf("%d ", x);
    x ^= 6; printf("%d\n", x);
    y = x++ + ++x;
    printf("%d %d\n", x, y);
    y = x-- - --x;
    printf("%d %d\n", x, y);
    a[1] += 10; a[2] *= a[1]; a[0]--;
    printf("%d %d %d\n", a[0], a[1], a[2]);
    return x;
}
