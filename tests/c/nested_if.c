#include <stdio.h>

int classify(int x) {
    if (x < 0) {
        if (x < -100) return -2;
        else return -1;
    } else if (x == 0) {
        return 0;
    } else {
        if (x > 100) {
            if (x > 1000) return 3;
            return 2;
        }
        return 1;
    }
}

int main(void) {
    int values[8] = {-500, -5, 0, 7, 100, 101, 5000, -2147483647 - 1};
    int i, sum = 0;
    for (i = 0; i < 8; i++) {
        printf("%d -> %d\n", values[i], classify(values[i]));
        sum += classify(values[i]);
    }
    return sum + 10;
}
