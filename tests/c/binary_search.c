#include <stdio.h>

int sorted[16] = {-40, -12, -3, 0, 1, 4, 9, 15, 22, 23, 37, 41, 56, 70, 88, 99};

int find(int *a, int n, int key) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (a[mid] == key) return mid;
        if (a[mid] < key) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int main(void) {
    printf("%d %d %d %d\n", find(sorted, 16, 22), find(sorted, 16, -40), find(sorted, 16, 99), find(sorted, 16, 5));
    return find(sorted, 16, 41);
}
