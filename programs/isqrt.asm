; isqrt.asm: the integer square root, by subtracting the odd numbers 1, 3, 5, ... (their sums are
; the squares 1, 4, 9, ...).
; inputs:  n (0 .. 32767)
; outputs: root = floor(sqrt(n)), rem = n - root * root (2024 -> 44, 88); odd and t are work cells
; steps: 11 * root + 19 (2024 -> 503; 32767 -> 2010).

.data
n:    2024
root: 0
rem:  0
odd:  0
t:    0

.code
        clr root
        mov rem, n
        mov odd, 1
loop:   sub rem, odd           ; rem = n - (1 + 3 + ... + odd) = n - (root + 1)^2
        mov t, rem
        inc t
        jle t, undo            ; rem < 0: (root + 1)^2 > n, so root is the answer
        inc root
        inc odd
        inc odd
        jmp loop
undo:   add rem, odd           ; rem = n - root^2
