#include <stdio.h>

/* Characters: escapes, bytes above 127 (signed chars, as gcc's), digits and letters. */
int main(void) {
    char text[] = "tab\there \x41\101 \xe9t\xc3\xa9";
    int i, high = 0, digits = 0;
    for (i = 0; text[i] != '\0'; i++) {
        if (text[i] < 0) high++;
        putchar(text[i]);
    }
    printf("\n%d %d %d %c%c\n", high, text[0], '\n', 'a' + 1, 'Z' - 25);
    for (i = '0'; i <= '9'; i++) digits += i - '0';
    printf("%d %d %s\n", digits, '\\', "q\"uote\'s");
    return high;
}
