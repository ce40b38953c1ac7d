; multiply.asm: product = a * b, by repeated addition (signed).
; inputs:  a, b   (b in -32767 .. 32767; the product wraps modulo 2^16 like every sum)
; outputs: product (count and addend are the program's own work cells)
; about 6 * |b| + 20 steps.

.data
a:       12
b:       34
product: 0
count:   0
addend:  0

.code
        clr product
        mov count, b
        mov addend, a
        jgt count, loop        ; b > 0: add a, b times
        clr addend             ; b <= 0: add -a, -b times
        sub addend, a
        clr count
        sub count, b
loop:   jle count, done
        add product, addend
        dec count
        jmp loop
done:   halt
