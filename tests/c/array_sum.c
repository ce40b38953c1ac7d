#include <stdio.h>

int values[12] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};

int sum(int *a, int n) {
    int s = 0, i;
    for (i = 0; i < n; i++) s += a[i];
    return s;
}

int main(void) {
    int total = sum(values, 12);
    int max = values[0], i;
    for (i = 1; i < 12; i++)
        if (values[i] > max) max = values[i];
    printf("sum %d max %d\n", total, max);
    return total;
}
