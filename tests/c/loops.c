#include <stdio.h>

int main(void) {
    int i = 0, n = 0, total = 0;
    do {
        i++;
        if (i % 3 == 0) continue;
        if (i > 20) break;
        total += i;
    } while (i < 100);
    printf("%d %d\n", i, total);
    for (;;) {
        n++;
        if (n * n > 50) break;
    }
    printf("%d\n", n);
    for (i = 10; i > 0; i -= 3) printf("%d ", i);
    printf("\n");
    return total;
}
