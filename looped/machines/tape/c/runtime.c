/* The runtime of C on the SUBLEQ tape machine (docs/c.md): the operators SUBLEQ has no
   instruction for, and printf's conversions. Written in the compiler's own C subset, using
   only + - and comparisons (so it compiles without itself), and plain C that gcc compiles too:
   tests/machines/tape/c/test_c_runtime.py checks every function against gcc.
   Words are 32-bit two's complement, wrapping (gcc -fwrapv). */

#include <stdio.h>

int __divmod_r; /* the remainder left by __udivmod */

/* a * b mod 2^32: shift-and-add over b's bits, from its highest set bit down. */
int __mul(int a, int b) {
    int r = 0, n = 32;
    if (b < 0) { b = -b; a = -a; }
    if (b == 0) return 0;
    while (b > 0) { b += b; n--; }
    while (n > 0) {
        r += r;
        if (b < 0) r += a;
        b += b;
        n--;
    }
    return r;
}

/* a / b for a read as unsigned (0 .. 2^32-1) and 0 < b < 2^31: shift-and-subtract over a's bits
   (restoring division); the remainder goes to __divmod_r. */
int __udivmod(int a, int b) {
    int q = 0, r = 0, n = 32, bit, t;
    if (a == 0) { __divmod_r = 0; return 0; }
    while (a > 0) { a += a; n--; }
    while (n > 0) {
        bit = 0;
        if (a < 0) bit = 1;
        a += a;
        t = r - (b - r) + bit;    /* 2r + bit - b, without overflow */
        if (t >= 0) { r = t; q += q + 1; }
        else { r += r + bit; q += q; }
        n--;
    }
    __divmod_r = r;
    return q;
}

/* C's division: the quotient truncated toward zero. */
int __div(int a, int b) {
    int negative = 0, q;
    if (b < 0) {
        if (b == -2147483647 - 1) return a == b;
        b = -b;
        negative = 1;
    }
    if (a < 0) { a = -a; negative = 1 - negative; }
    q = __udivmod(a, b);
    if (negative) return -q;
    return q;
}

/* C's remainder: the sign of the dividend. */
int __mod(int a, int b) {
    if (b < 0) {
        if (b == -2147483647 - 1) {
            if (a == b) return 0;
            return a;
        }
        b = -b;
    }
    if (a < 0) { __udivmod(-a, b); return -__divmod_r; }
    __udivmod(a, b);
    return __divmod_r;
}

/* a << n (0 <= n < 32): n doublings. */
int __shl(int a, int n) {
    while (n > 0) { a += a; n--; }
    return a;
}

/* a >> n (0 <= n < 32), arithmetic as gcc's: the sign, then a's bits 30 .. n. */
int __shr(int a, int n) {
    int r = 0, k;
    if (n <= 0) return a;
    if (a < 0) r = -1;
    k = 31 - n;
    a += a;
    while (k > 0) {
        r += r;
        if (a < 0) r++;
        a += a;
        k--;
    }
    return r;
}

/* The bitwise operators, one bit at a time from the top (the sign tells the top bit). */
int __and(int a, int b) {
    int r = 0, n = 32;
    while (n > 0) {
        if (a == 0) break;
        if (b == 0) break;
        r += r;
        if (a < 0) if (b < 0) r++;
        a += a; b += b;
        n--;
    }
    while (n > 0) { r += r; n--; }
    return r;
}

int __or(int a, int b) {
    int r = 0, n = 32;
    while (n > 0) {
        r += r;
        if (a < 0) r++;
        else if (b < 0) r++;
        a += a; b += b;
        n--;
    }
    return r;
}

int __xor(int a, int b) {
    int r = 0, n = 32;
    while (n > 0) {
        r += r;
        if (a < 0) { if (b >= 0) r++; }
        else if (b < 0) r++;
        a += a; b += b;
        n--;
    }
    return r;
}

/* printf's %d: digits by subtracting powers of ten from -|x| (so INT_MIN needs no special case). */
int __pow10[10] = {1000000000, 100000000, 10000000, 1000000, 100000, 10000, 1000, 100, 10, 0};

void __print_int(int x) {
    int n = x, d, started = 0, p;
    int *power = __pow10;
    if (x < 0) putchar('-');
    else n = -x;
    while ((p = *power) != 0) {
        d = '0';
        while (n + p <= 0) { n += p; d++; }
        if (d != '0') started = 1;
        if (started) putchar(d);
        power++;
    }
    putchar('0' - n);
}

/* printf's %x: eight hexadecimal digits from the top, leading zeros dropped. */
void __print_hex(int x) {
    int k = 8, d, b, started = 0;
    while (k > 0) {
        d = 0;
        b = 4;
        while (b > 0) { d += d; if (x < 0) d++; x += x; b--; }
        if (d != 0) started = 1;
        if (k == 1) started = 1;
        if (started) {
            if (d < 10) putchar('0' + d);
            else putchar('a' - 10 + d);
        }
        k--;
    }
}

/* printf's %s and puts of a pointer: the characters up to the terminating 0. */
void __print_str(char *s) {
    int c;
    while ((c = *s) != 0) { putchar(c); s++; }
}
