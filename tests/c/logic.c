#include <stdio.h>

int calls;

int touch(int v) {
    calls++;
    return v;
}

int main(void) {
    int a = 5, b = 0, r;
    r = touch(a) && touch(b);
    printf("%d %d\n", r, calls);
    r = touch(b) && touch(a);
    printf("%d %d\n", r, calls);
    r = touch(a) || touch(b);
    printf("%d %d\n", r, calls);
    r = !a + !b + (a > b ? 10 : 20) + (b ? 100 : 200);
    printf("%d\n", r);
    printf("%d %d %d %d %d %d\n", a < b, a <= 5, a > 4, a >= 6, a == 5, a != 5);
    return r;
}
