#include <stdio.h>

char line[64];

int main(void) {
    int n = 0, c;
    while (n < 63 && (c = getchar()) != EOF && c != '\n') line[n++] = c;
    while (n > 0) putchar(line[--n]);
    putchar('\n');
    return 0;
}
