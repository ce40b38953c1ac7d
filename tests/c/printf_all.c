#include <stdio.h>

int main(void) {
    char *name = "SUBLEQ";
    printf("%d %d %d %d\n", 0, -1, 2147483647, -2147483647 - 1);
    printf("[%c%c%c] %s!\n", 'a', 66, '0' + 7, name);
    printf("%x %x %x %x\n", 255, 4096, -1, 0);
    printf("100%% %d%%\n", 42);
    return 0;
}
