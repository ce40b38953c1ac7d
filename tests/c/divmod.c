#include <stdio.h>

int main(void) {
    int a[3] = {100, -7, -2147483647 - 1};
    int b[3] = {7, -3, 1};
    int i, j;
    for (i = 0; i < 3; i++) {
        for (j = 0; j < 3; j++) {
            printf("%d/%d=%d %d%%%d=%d\n", a[i], b[j], a[i] / b[j], a[i], b[j], a[i] % b[j]);
        }
    }
    return a[0] / b[0] + a[1] % b[1];
}
