#include <stdio.h>

int moves;

void hanoi(int n, int from, int to, int via) {
    if (n == 0) return;
    hanoi(n - 1, from, via, to);
    printf("%c->%c ", 'A' + from, 'A' + to);
    moves++;
    hanoi(n - 1, via, to, from);
}

int main(void) {
    hanoi(4, 0, 2, 1);
    printf("\n%d moves\n", moves);
    return moves;
}
