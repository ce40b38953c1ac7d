#include <stdio.h>

int main(void) {
    int a[6] = {100, -100, 7, -7, 2147483647, -2147483647 - 1};
    int b[4] = {7, -7, 1, 3};
    int i, j, check = 0;
    for (i = 0; i < 6; i++) {
        for (j = 0; j < 4; j++) {
            printf("%d/%d=%d %d%%%d=%d\n", a[i], b[j], a[i] / b[j], a[i], b[j], a[i] % b[j]);
            check += a[i] / b[j] + a[i] % b[j];
        }
    }
    return check & 255;
}
