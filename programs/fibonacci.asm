; fibonacci.asm: fib = F(n), with F(0) = 0, F(1) = 1 (F(20) = 6765; F(24) wraps in 16 bits).
; inputs:  n (>= 0)
; outputs: fib, next = F(n + 1) (count and t are work cells)

.data
n:     20
fib:   0
next:  0
count: 0
t:     0

.code
        clr fib
        mov next, 1
        mov count, n
loop:   jle count, done
        mov t, fib
        add t, next            ; t = F(i) + F(i+1)
        mov fib, next
        mov next, t
        dec count
        jmp loop
done:   halt
