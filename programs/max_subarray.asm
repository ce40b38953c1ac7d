; max_subarray.asm: the contiguous run of an array with the largest sum (Kadane's algorithm).
; inputs:  list (8 values, |value| <= 2047 so that every partial sum and difference fits)
; outputs: best (the largest sum of a non-empty run), first, last (where such a run starts and
;          ends, 0-based: the one that ends first) ([-2, 1, -3, 4, -1, 2, 1, -5] -> best 6, first 3,
;          last 6); cur (the best sum of a run ending at the last element), start, t are work cells
; A dynamic program, unrolled (no indirect addressing): cur = max(cur + x, x) keeps the best run
; ending at each element, best the best seen. At most 27 steps per element after the first.

.data
list:   -2, 1, -3, 4, -1, 2, 1, -5
best:   0
first:  0
last:   0
cur:    0
start:  0
t:      0

.code
        mov cur, list+0
        clr start
        mov best, list+0
        clr first
        clr last
e1:     jle cur, restart1       ; a run ending before 1 with a sum <= 0 is not worth keeping
        add cur, list+1
        jmp compare1
restart1: mov cur, list+1
        mov start, 1
compare1: mov t, cur
        sub t, best            ; t = cur - best
        jle t, e2
        mov best, cur
        mov first, start
        mov last, 1
e2:     jle cur, restart2       ; a run ending before 2 with a sum <= 0 is not worth keeping
        add cur, list+2
        jmp compare2
restart2: mov cur, list+2
        mov start, 2
compare2: mov t, cur
        sub t, best            ; t = cur - best
        jle t, e3
        mov best, cur
        mov first, start
        mov last, 2
e3:     jle cur, restart3       ; a run ending before 3 with a sum <= 0 is not worth keeping
        add cur, list+3
        jmp compare3
restart3: mov cur, list+3
        mov start, 3
compare3: mov t, cur
        sub t, best            ; t = cur - best
        jle t, e4
        mov best, cur
        mov first, start
        mov last, 3
e4:     jle cur, restart4       ; a run ending before 4 with a sum <= 0 is not worth keeping
        add cur, list+4
        jmp compare4
restart4: mov cur, list+4
        mov start, 4
compare4: mov t, cur
        sub t, best            ; t = cur - best
        jle t, e5
        mov best, cur
        mov first, start
        mov last, 4
e5:     jle cur, restart5       ; a run ending before 5 with a sum <= 0 is not worth keeping
        add cur, list+5
        jmp compare5
restart5: mov cur, list+5
        mov start, 5
compare5: mov t, cur
        sub t, best            ; t = cur - best
        jle t, e6
        mov best, cur
        mov first, start
        mov last, 5
e6:     jle cur, restart6       ; a run ending before 6 with a sum <= 0 is not worth keeping
        add cur, list+6
        jmp compare6
restart6: mov cur, list+6
        mov start, 6
compare6: mov t, cur
        sub t, best            ; t = cur - best
        jle t, e7
        mov best, cur
        mov first, start
        mov last, 6
e7:     jle cur, restart7       ; a run ending before 7 with a sum <= 0 is not worth keeping
        add cur, list+7
        jmp compare7
restart7: mov cur, list+7
        mov start, 7
compare7: mov t, cur
        sub t, best            ; t = cur - best
        jle t, e8
        mov best, cur
        mov first, start
        mov last, 7
e8:     halt
