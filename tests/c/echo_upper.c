#include <stdio.h>

/* Copy the input to the output in upper case; count the characters. */
int main(void) {
    int c, n = 0;
    while ((c = getchar()) != EOF) {
        if (c >= 'a' && c <= 'z') c = c - 'a' + 'A';
        putchar(c);
        n++;
    }
    return n;
}
