; bubble_sort.asm: sort the 6 cells of arr in ascending order (signed), by bubble sort.
; inputs:  arr (6 values, |value| <= 16383 so that differences do not wrap)
; outputs: arr sorted ([5, -3, 9, 0, 2, -7] -> [-7, -3, 0, 2, 5, 9]); d and t are work cells
; The machine has no indirect addressing, so the passes are unrolled: pass p compares the pairs
; (0,1) .. (5-p, 6-p), 15 compare-and-swaps in all, at most 18 steps each.

.data
arr: 5, -3, 9, 0, 2, -7
d:   0
t:   0

.code
cmp0:    mov d, arr+0
        sub d, arr+1          ; d = arr[0] - arr[1]
        jle d, cmp1           ; already in order
        mov t, arr+0          ; swap arr[0] and arr[1]
        mov arr+0, arr+1
        mov arr+1, t
cmp1:    mov d, arr+1
        sub d, arr+2          ; d = arr[1] - arr[2]
        jle d, cmp2           ; already in order
        mov t, arr+1          ; swap arr[1] and arr[2]
        mov arr+1, arr+2
        mov arr+2, t
cmp2:    mov d, arr+2
        sub d, arr+3          ; d = arr[2] - arr[3]
        jle d, cmp3           ; already in order
        mov t, arr+2          ; swap arr[2] and arr[3]
        mov arr+2, arr+3
        mov arr+3, t
cmp3:    mov d, arr+3
        sub d, arr+4          ; d = arr[3] - arr[4]
        jle d, cmp4           ; already in order
        mov t, arr+3          ; swap arr[3] and arr[4]
        mov arr+3, arr+4
        mov arr+4, t
cmp4:    mov d, arr+4
        sub d, arr+5          ; d = arr[4] - arr[5]
        jle d, cmp5           ; already in order
        mov t, arr+4          ; swap arr[4] and arr[5]
        mov arr+4, arr+5
        mov arr+5, t
cmp5:    mov d, arr+0
        sub d, arr+1          ; d = arr[0] - arr[1]
        jle d, cmp6           ; already in order
        mov t, arr+0          ; swap arr[0] and arr[1]
        mov arr+0, arr+1
        mov arr+1, t
cmp6:    mov d, arr+1
        sub d, arr+2          ; d = arr[1] - arr[2]
        jle d, cmp7           ; already in order
        mov t, arr+1          ; swap arr[1] and arr[2]
        mov arr+1, arr+2
        mov arr+2, t
cmp7:    mov d, arr+2
        sub d, arr+3          ; d = arr[2] - arr[3]
        jle d, cmp8           ; already in order
        mov t, arr+2          ; swap arr[2] and arr[3]
        mov arr+2, arr+3
        mov arr+3, t
cmp8:    mov d, arr+3
        sub d, arr+4          ; d = arr[3] - arr[4]
        jle d, cmp9           ; already in order
        mov t, arr+3          ; swap arr[3] and arr[4]
        mov arr+3, arr+4
        mov arr+4, t
cmp9:    mov d, arr+0
        sub d, arr+1          ; d = arr[0] - arr[1]
        jle d, cmp10          ; already in order
        mov t, arr+0          ; swap arr[0] and arr[1]
        mov arr+0, arr+1
        mov arr+1, t
cmp10:   mov d, arr+1
        sub d, arr+2          ; d = arr[1] - arr[2]
        jle d, cmp11          ; already in order
        mov t, arr+1          ; swap arr[1] and arr[2]
        mov arr+1, arr+2
        mov arr+2, t
cmp11:   mov d, arr+2
        sub d, arr+3          ; d = arr[2] - arr[3]
        jle d, cmp12          ; already in order
        mov t, arr+2          ; swap arr[2] and arr[3]
        mov arr+2, arr+3
        mov arr+3, t
cmp12:   mov d, arr+0
        sub d, arr+1          ; d = arr[0] - arr[1]
        jle d, cmp13          ; already in order
        mov t, arr+0          ; swap arr[0] and arr[1]
        mov arr+0, arr+1
        mov arr+1, t
cmp13:   mov d, arr+1
        sub d, arr+2          ; d = arr[1] - arr[2]
        jle d, cmp14          ; already in order
        mov t, arr+1          ; swap arr[1] and arr[2]
        mov arr+1, arr+2
        mov arr+2, t
cmp14:   mov d, arr+0
        sub d, arr+1          ; d = arr[0] - arr[1]
        jle d, done           ; already in order
        mov t, arr+0          ; swap arr[0] and arr[1]
        mov arr+0, arr+1
        mov arr+1, t
done:   halt
