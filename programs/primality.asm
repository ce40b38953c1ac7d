; primality.asm: is n a prime? Trial division by d = 2, 3, ... while d * d <= n.
; inputs:  n (0 .. 32760)
; outputs: prime (1 or 0), divisor (the smallest divisor found, or 0 when n is prime or n < 2)
; d, square, r and t are work cells. A remainder comes from repeated subtraction (3 steps each),
; so the run takes about 3 * n * (1/2 + 1/3 + ... ) steps: 97 takes about 700.

.data
n:       97
prime:   0
divisor: 0
d:       0
square:  0       ; d * d
r:       0
t:       0

.code
        clr prime
        clr divisor
        mov t, n
        dec t
        jle t, done            ; n <= 1: not a prime
        mov d, 2
        mov square, 4
try:    mov t, square
        sub t, n
        jgt t, is_prime        ; d * d > n: no divisor left to try
        mov r, n
rem:    sub r, d
        jgt r, rem             ; r ends in -d+1 .. 0, and is 0 when d divides n
        inc r
        jgt r, composite
        add square, d          ; (d + 1)^2 = d^2 + 2d + 1
        add square, d
        inc square
        inc d
        jmp try
composite:
        mov divisor, d
        halt
is_prime:
        inc prime
done:   halt
