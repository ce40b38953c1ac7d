; wrap8.asm: 8-bit words wrap around: every result is taken modulo 2^8 = 256 and read as a
; two's-complement number in -128 .. 127.
; inputs:  a, b, big, small
; outputs: sum = a + b (100 + 100 = 200 wraps to -56), big_plus_1 (127 + 1 = -128),
;          small_minus_1 (-128 - 1 = 127), neg_small = -small (-(-128) = -128),
;          times16 = a * 16 by doubling four times (100 * 16 = 1600 = 6 * 256 + 64 -> 64)

.bits 8

.data
a:             100
b:             100
big:           127
small:         -128
sum:           0
big_plus_1:    0
small_minus_1: 0
neg_small:     0
times16:       0

.code
        mov sum, a
        add sum, b
        mov big_plus_1, big
        inc big_plus_1
        mov small_minus_1, small
        dec small_minus_1
        clr neg_small
        sub neg_small, small
        mov times16, a
        add times16, times16   ; add X, X doubles X
        add times16, times16
        add times16, times16
        add times16, times16
