; array_stats.asm: the sum, minimum and maximum of an array, and where they are.
; inputs:  list (8 values, |value| <= 4095 so that the sum and every difference fit in 16 bits)
; outputs: sum, min, max, argmin, argmax (the first position of the minimum / maximum, 0-based)
;          ([31, -4, 15, 92, -65, 35, 89, -79] -> sum 114, min -79 at 7, max 92 at 3);
;          t is a work cell
; The pass is unrolled (no indirect addressing): at most 23 steps per element after the first.

.data
list:   31, -4, 15, 92, -65, 35, 89, -79
sum:    0
min:    0
max:    0
argmin: 0
argmax: 0
t:      0

.code
        mov sum, list+0
        mov min, list+0
        mov max, list+0
        clr argmin
        clr argmax
e1:     add sum, list+1
        mov t, list+1
        sub t, max             ; t = list[1] - max
        jle t, nomax1
        mov max, list+1
        mov argmax, 1
nomax1: mov t, min
        sub t, list+1        ; t = min - list[1]
        jle t, e2
        mov min, list+1
        mov argmin, 1
e2:     add sum, list+2
        mov t, list+2
        sub t, max             ; t = list[2] - max
        jle t, nomax2
        mov max, list+2
        mov argmax, 2
nomax2: mov t, min
        sub t, list+2        ; t = min - list[2]
        jle t, e3
        mov min, list+2
        mov argmin, 2
e3:     add sum, list+3
        mov t, list+3
        sub t, max             ; t = list[3] - max
        jle t, nomax3
        mov max, list+3
        mov argmax, 3
nomax3: mov t, min
        sub t, list+3        ; t = min - list[3]
        jle t, e4
        mov min, list+3
        mov argmin, 3
e4:     add sum, list+4
        mov t, list+4
        sub t, max             ; t = list[4] - max
        jle t, nomax4
        mov max, list+4
        mov argmax, 4
nomax4: mov t, min
        sub t, list+4        ; t = min - list[4]
        jle t, e5
        mov min, list+4
        mov argmin, 4
e5:     add sum, list+5
        mov t, list+5
        sub t, max             ; t = list[5] - max
        jle t, nomax5
        mov max, list+5
        mov argmax, 5
nomax5: mov t, min
        sub t, list+5        ; t = min - list[5]
        jle t, e6
        mov min, list+5
        mov argmin, 5
e6:     add sum, list+6
        mov t, list+6
        sub t, max             ; t = list[6] - max
        jle t, nomax6
        mov max, list+6
        mov argmax, 6
nomax6: mov t, min
        sub t, list+6        ; t = min - list[6]
        jle t, e7
        mov min, list+6
        mov argmin, 6
e7:     add sum, list+7
        mov t, list+7
        sub t, max             ; t = list[7] - max
        jle t, nomax7
        mov max, list+7
        mov argmax, 7
nomax7: mov t, min
        sub t, list+7        ; t = min - list[7]
        jle t, e8
        mov min, list+7
        mov argmin, 7
e8:     halt
