/* Euclid's algorithm by subtraction, the same algorithm and inputs as programs/gcd.asm. */
int a = 1071;
int b = 462;
int g;

int main(void) {
    while (b != 0) {
        if (a == 0) { a = b; break; }
        if (a > b) a -= b;
        else b -= a;
    }
    g = a;
    return g;
}
