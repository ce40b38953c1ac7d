; giannou_factorial.asm: n! by repeated addition, a rewrite of the factorial program of Giannou
; et al., "Looped Transformers as Programmable Computers" (2023), with the same memory
; [-1, 0, n, -n, counter, temp, -2, -1, 0, 1] and the same ten instructions (C1 .. C10), in
; `subleq` only (no macros).
; inputs:  n (>= 2) and neg_n, which must be -n
; outputs: n = n! (7 -> 5040); neg_n = -n!; counter, temp end at 0
; steps: exactly 2 + sum over k = 2 .. n-1 of (3k + 1) + 1; 68 for n = 7.
; Multiplying by k adds the old value (held as -neg_n) k - 1 more times, for k = n-1 down to 2.

.bits 16

.data
eof_minus_one: -1   ; M1, M2: the constants of the original's EOF instruction (the assembler
eof_zero:      0    ;         makes its own halt column, so they are kept only for the layout)
n:         7        ; M3
neg_n:     -7       ; M4
counter:   0        ; M5: additions left in this multiplication
temp:      0        ; M6: -(k - 1) for the factor k being applied
minus_two: -2       ; M7
minus_one: -1       ; M8
zero:      0        ; M9
one:       1        ; M10

.code
c1:     subleq n, temp                  ; temp = -n
c2:     subleq minus_two, temp, c4      ; temp = -n + 2 (the first factor is n - 1)
c3:     subleq minus_one, temp, c4      ; temp += 1: the next, smaller factor
c4:     subleq temp, counter, halt      ; counter = k - 1; no additions left: done
c5:     subleq neg_n, n, halt           ; n += old n
c6:     subleq one, counter, c8         ; counter -= 1; this factor is done at 0
c7:     subleq zero, zero, c5
c8:     subleq neg_n, neg_n             ; neg_n = 0
c9:     subleq n, neg_n                 ; neg_n = -n
c10:    subleq zero, zero, c3
