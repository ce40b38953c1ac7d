; collatz.asm: the Collatz sequence from n (n -> n / 2 if even, 3n + 1 if odd) until it reaches 1.
; inputs:  n (>= 1; keep it small: 7 takes about 1000 steps, and values must stay below 2^15)
; outputs: steps (7 -> 16), peak (the largest value seen; 7 -> 52)
; x, t and half are work cells. Parity comes from halving by repeated subtraction of 2.

.data
n:     7
steps: 0
peak:  0
x:     0
t:     0
half:  0

.code
        clr steps
        mov x, n
        mov peak, x
loop:   mov t, x
        dec t
        jle t, done            ; x <= 1: finished
        mov t, x
        clr half
halve:  sub t, 2
        inc half
        jgt t, halve           ; t ends at 0 (x even) or -1 (x odd)
        inc t
        jgt t, even
        mov t, x               ; odd: x = 3x + 1
        add x, t
        add x, t
        inc x
        mov t, x
        sub t, peak
        jle t, counted
        mov peak, x
        jmp counted
even:   mov x, half
counted:
        inc steps
        jmp loop
done:   halt
