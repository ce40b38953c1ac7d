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

/* a / b for a read as unsigned (0 .. 2^32-1) and 0 < b < 2^31: restoring division over a's bits
   (shift-and-subtract), after skipping a's leading zeros a byte at a time; the remainder goes to
   __divmod_r. A divisor above 2^30 leaves a quotient of at most 3: subtraction is faster. */
int __udivmod(int a, int b) {
    int q = 0, r = 0, n = 32;
    if (b > 1073741824) {
        while (a < 0 || a >= b) { a -= b; q++; }
        __divmod_r = a;
        return q;
    }
    if (a == 0) { __divmod_r = 0; return 0; }
    if (a > 0) {
        while (a < 8388608) { a *= 256; n -= 8; }
        while (a > 0) { a += a; n--; }
    }
    while (n > 0) {
        r += r;
        if (a < 0) r++;
        a += a;
        q += q;
        r -= b;
        if (r < 0) r += b;
        else q++;
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

/* printf's %d: n = -|x| (so that INT_MIN fits once its first digit is out), the highest power
   of ten first found upwards (small numbers skip the large powers), then each digit by adding
   that power while n stays <= 0. The table holds the powers negated: n += 10^k is one subtraction. */
int __npow10[10] = {0, -10, -100, -1000, -10000, -100000, -1000000, -10000000, -100000000, -1000000000};

void __print_int(int x) {
    int n = x, d, q;
    int *power = __npow10 + 1;
    if (x < 0) {
        putchar('-');
        if (x == -2147483647 - 1) { putchar('2'); n = -147483648; }
    } else n = -x;
    while (n - *power <= 0) {
        power++;
        if (power == __npow10 + 10) break;
    }
    power--;
    while ((q = *power) != 0) {
        d = '0';
        n -= q;
        while (n <= 0) { d++; n -= q; }
        n += q;
        putchar(d);
        power--;
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
