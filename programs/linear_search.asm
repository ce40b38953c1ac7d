; linear_search.asm: find the first cell of list equal to target.
; inputs:  list (8 values), target (|values| <= 16383 so that differences do not wrap)
; outputs: found (1 or 0), index (0-based position of the first match, or -1)
;          ([4, 8, 15, 16, 23, 42, 15, 0], target 15 -> found 1, index 2); t is a work cell
; The scan is unrolled (no indirect addressing): about 11 steps per cell looked at.

.data
list:   4, 8, 15, 16, 23, 42, 15, 0
target: 15
found:  0
index:  0
t:      0

.code
        clr found
        clr index
e0:     mov t, target
        sub t, list+0         ; t = target - list[0]
        jgt t, miss0           ; target > list[0]
        inc t                  ; t > 0 now  <=>  target == list[0]
        jgt t, hit
miss0:  inc index
e1:     mov t, target
        sub t, list+1         ; t = target - list[1]
        jgt t, miss1           ; target > list[1]
        inc t                  ; t > 0 now  <=>  target == list[1]
        jgt t, hit
miss1:  inc index
e2:     mov t, target
        sub t, list+2         ; t = target - list[2]
        jgt t, miss2           ; target > list[2]
        inc t                  ; t > 0 now  <=>  target == list[2]
        jgt t, hit
miss2:  inc index
e3:     mov t, target
        sub t, list+3         ; t = target - list[3]
        jgt t, miss3           ; target > list[3]
        inc t                  ; t > 0 now  <=>  target == list[3]
        jgt t, hit
miss3:  inc index
e4:     mov t, target
        sub t, list+4         ; t = target - list[4]
        jgt t, miss4           ; target > list[4]
        inc t                  ; t > 0 now  <=>  target == list[4]
        jgt t, hit
miss4:  inc index
e5:     mov t, target
        sub t, list+5         ; t = target - list[5]
        jgt t, miss5           ; target > list[5]
        inc t                  ; t > 0 now  <=>  target == list[5]
        jgt t, hit
miss5:  inc index
e6:     mov t, target
        sub t, list+6         ; t = target - list[6]
        jgt t, miss6           ; target > list[6]
        inc t                  ; t > 0 now  <=>  target == list[6]
        jgt t, hit
miss6:  inc index
e7:     mov t, target
        sub t, list+7         ; t = target - list[7]
        jgt t, miss7           ; target > list[7]
        inc t                  ; t > 0 now  <=>  target == list[7]
        jgt t, hit
miss7:  inc index
        mov index, -1          ; no match
        halt
hit:    inc found
