; divmod.asm: integer division with remainder, n = quotient * d + remainder.
; inputs:  n (>= 0), d (> 0)
; outputs: quotient, remainder, div_by_zero (1 when d <= 0: then quotient = remainder = 0)
; about 12 steps per unit of the quotient.

.data
n:           100
d:           7
quotient:    0
remainder:   0
div_by_zero: 0
t:           0

.code
        clr quotient
        clr remainder
        clr div_by_zero
        jle d, bad
        mov remainder, n
loop:   mov t, remainder
        sub t, d               ; t = remainder - d
        inc t                  ; t > 0  <=>  remainder >= d
        jle t, done
        sub remainder, d
        inc quotient
        jmp loop
bad:    inc div_by_zero
done:   halt
