#include <stdio.h>

int data[10] = {5, -3, 9, 0, 2, -7, 12, 4, 4, -1};

void sort(int *a, int n) {
    int i, j, t;
    for (i = 0; i < n - 1; i++)
        for (j = 0; j < n - 1 - i; j++)
            if (a[j] > a[j + 1]) {
                t = a[j];
                a[j] = a[j + 1];
                a[j + 1] = t;
            }
}

int main(void) {
    int i;
    sort(data, 10);
    for (i = 0; i < 10; i++) printf("%d ", data[i]);
    printf("\n");
    return data[0] + 100;
}
