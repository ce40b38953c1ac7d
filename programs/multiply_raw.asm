; multiply_raw.asm: product = a * b by repeated addition, written with `subleq` only (no macros).
; inputs:  a, b (b >= 0); product must start at 0 (its default)
; outputs: product (6 * 7 = 42); b ends at 0, neg_a = -a
; steps: exactly 3 * b + 1 for b >= 1, and 1 for b <= 0.

.data
a:       6
b:       7
product: 0
neg_a:   0
Z:       0

.code
        subleq Z, b, halt      ; b <= 0: the product is 0
        subleq a, neg_a        ; neg_a = -a
loop:   subleq neg_a, product  ; product += a
        subleq 1, b, halt      ; b -= 1; finished when it reaches 0
        subleq Z, Z, loop
