; sum_raw.asm: sum = 1 + 2 + ... + n, written with `subleq` only (no macros).
; inputs:  n (>= 0)
; outputs: sum (n = 10 -> 55); n ends at 0, tmp at 0, Z stays 0
; steps: exactly 5 * n for n >= 1, and 1 for n <= 0.

.data
n:   10
sum: 0
tmp: 0
Z:   0

.code
        subleq Z, n, halt      ; n <= 0: nothing to add
loop:   subleq n, tmp          ; tmp = -n
        subleq tmp, sum        ; sum += n
        subleq tmp, tmp        ; tmp = 0
        subleq 1, n, halt      ; n -= 1; finished when it reaches 0
        subleq Z, Z, loop
