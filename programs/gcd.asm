; gcd.asm: greatest common divisor by Euclid's subtraction algorithm.
; inputs:  a, b (>= 0)
; outputs: g = gcd(a, b) (gcd(a, 0) = a); a and b are used up as work cells
; about 12 steps per subtraction.

.data
a: 1071
b: 462
g: 0
t: 0

.code
loop:   jle b, take_a          ; b == 0: the answer is a
        jle a, take_b          ; a == 0: the answer is b
        mov t, a
        sub t, b               ; t = a - b
        jle t, a_le_b
        sub a, b               ; a > b
        jmp loop
a_le_b: sub b, a               ; a <= b (a == b leaves b = 0)
        jmp loop
take_a: mov g, a
        halt
take_b: mov g, b
