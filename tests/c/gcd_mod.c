#include <stdio.h>

int gcd(int a, int b) {
    while (b != 0) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int main(void) {
    printf("%d %d %d %d\n", gcd(1071, 462), gcd(48, 18), gcd(17, 5), gcd(100, 75));
    return gcd(84, 36);
}
