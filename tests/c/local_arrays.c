#include <stdio.h>

int dot(int *u, int *v, int n) {
    int s = 0;
    while (n-- > 0) s += *u++ * *v++;
    return s;
}

int main(void) {
    int u[4] = {1, 2, 3, 4};
    int v[4] = {5, -6, 7};
    char text[] = "abc";
    int i;
    printf("%d\n", dot(u, v, 4));
    for (i = 0; text[i]; i++) text[i] = text[i] - 32;
    printf("%s %d\n", text, i);
    return dot(u, u, 4);
}
