#include <stdio.h>

int counter = 100;
char *greeting = "hi";
int table[5];

int next_id(void) {
    static int id = 10;
    id++;
    return id;
}

int main(void) {
    int i;
    for (i = 0; i < 5; i++) table[i] = next_id() * 2;
    counter += table[4];
    printf("%s %d %d %d\n", greeting, counter, table[0], next_id());
    return counter - 100;
}
