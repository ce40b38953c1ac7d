; factorial.asm: fact = n! with 16-bit words (7! = 5040; 8! = 40320 wraps to -25216).
; inputs:  n (>= 0)
; outputs: fact (k, m and step are work cells)
; the product is built by repeated addition: fact * k = fact + fact + ... (k times).

.bits 16

.data
n:    7
fact: 0
k:    0          ; the next factor, 2 .. n
m:    0          ; additions left in this multiplication
step: 0          ; the old value of fact, added k times

.code
        mov fact, 1
        mov k, 2
next:   mov m, n
        sub m, k
        inc m                  ; m = n - k + 1 > 0  <=>  k <= n
        jle m, done
        mov step, fact
        clr fact
        mov m, k
times:  add fact, step
        dec m
        jgt m, times
        inc k
        jmp next
done:   halt
