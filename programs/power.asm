; power.asm: result = base ^ exponent, by repeated multiplication (each one repeated addition).
; inputs:  base (>= 0), exponent (>= 0)
; outputs: result (wraps modulo 2^16; 0^0 = 1)
; about exponent * (6 * base + 20) steps.

.data
base:     3
exponent: 9
result:   0
e:        0
k:        0
factor:   0

.code
        mov result, 1
        mov e, exponent
outer:  jle e, done
        mov factor, result     ; result = factor * base = factor + factor + ... (base times)
        clr result
        mov k, base
inner:  jle k, next
        add result, factor
        dec k
        jmp inner
next:   dec e
        jmp outer
done:   halt
