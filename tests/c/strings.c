#include <stdio.h>

int length(char *s) {
    int n = 0;
    while (s[n]) n++;
    return n;
}

void copy(char *to, char *from) {
    while ((*to++ = *from++) != 0)
        ;
}

int compare(char *a, char *b) {
    while (*a && *a == *b) { a++; b++; }
    return *a - *b;
}

void reverse(char *s) {
    char *end = s + length(s) - 1;
    while (s < end) {
        char t = *s;
        *s++ = *end;
        *end-- = t;
    }
}

int main(void) {
    char word[16] = "looped";
    char other[16];
    copy(other, word);
    reverse(other);
    printf("%s reversed is %s (%d letters)\n", word, other, length(word));
    printf("compare: %d %d %d\n", compare("abc", "abd") < 0, compare("abc", "abc"), compare("b", "a") > 0);
    puts(other);
    puts("done");
    return length("twelve chars");
}
