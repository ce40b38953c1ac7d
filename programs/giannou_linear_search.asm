; giannou_linear_search.asm: find target in a list, a rewrite of the linear_search program of
; Giannou et al., "Looped Transformers as Programmable Computers" (2023), with the same memory
; [-1, 0, a_1 .. a_7, temp_1, temp_2, target, flag, index] and the same 11 instructions per
; element, in `subleq` only.
; inputs:  list (7 values), target; flag must start at 1 and index at 0 (their defaults)
; outputs: flag (0: found, 1: not found), index (0-based position of the first match; 7 when
;          not found). [-7, -6, -5, -4, 3, 2, 1] with target 1 -> flag 0, index 6.
; steps: per element before the match, 8 when list[i] <= target and 6 when list[i] > target;
;        6 for the matching element (then halt). 50 with the defaults.

.data
eof_minus_one: -1   ; M1: also the -1 that counts the index up
eof_zero:      0    ; M2
list:   -7, -6, -5, -4, 3, 2, 1
temp_1: 0
temp_2: 0
target: 1
flag:   1
index:  0

.code
e0:     subleq list+0, temp_2           ; C1: temp_2 = -list[0]
        subleq temp_2, temp_1            ; C2: temp_1 = list[0]
        subleq target, temp_1, le0       ; C3: temp_1 = list[0] - target; <= 0: maybe equal
        subleq temp_1, temp_1            ; C4: list[0] > target: not here
        subleq temp_2, temp_2, next0     ; C5
le0:    subleq temp_2, temp_2            ; C6
        subleq temp_1, temp_2, hit0      ; C7: temp_2 = target - list[0]; <= 0: equal
        subleq temp_1, temp_1            ; C8: list[0] < target: not here
        subleq temp_2, temp_2, next0     ; C9
hit0:   subleq flag, flag, halt          ; C10: found: flag = 0
next0:  subleq eof_minus_one, index      ; C11: index += 1
e1:     subleq list+1, temp_2           ; C1: temp_2 = -list[1]
        subleq temp_2, temp_1            ; C2: temp_1 = list[1]
        subleq target, temp_1, le1       ; C3: temp_1 = list[1] - target; <= 0: maybe equal
        subleq temp_1, temp_1            ; C4: list[1] > target: not here
        subleq temp_2, temp_2, next1     ; C5
le1:    subleq temp_2, temp_2            ; C6
        subleq temp_1, temp_2, hit1      ; C7: temp_2 = target - list[1]; <= 0: equal
        subleq temp_1, temp_1            ; C8: list[1] < target: not here
        subleq temp_2, temp_2, next1     ; C9
hit1:   subleq flag, flag, halt          ; C10: found: flag = 0
next1:  subleq eof_minus_one, index      ; C11: index += 1
e2:     subleq list+2, temp_2           ; C1: temp_2 = -list[2]
        subleq temp_2, temp_1            ; C2: temp_1 = list[2]
        subleq target, temp_1, le2       ; C3: temp_1 = list[2] - target; <= 0: maybe equal
        subleq temp_1, temp_1            ; C4: list[2] > target: not here
        subleq temp_2, temp_2, next2     ; C5
le2:    subleq temp_2, temp_2            ; C6
        subleq temp_1, temp_2, hit2      ; C7: temp_2 = target - list[2]; <= 0: equal
        subleq temp_1, temp_1            ; C8: list[2] < target: not here
        subleq temp_2, temp_2, next2     ; C9
hit2:   subleq flag, flag, halt          ; C10: found: flag = 0
next2:  subleq eof_minus_one, index      ; C11: index += 1
e3:     subleq list+3, temp_2           ; C1: temp_2 = -list[3]
        subleq temp_2, temp_1            ; C2: temp_1 = list[3]
        subleq target, temp_1, le3       ; C3: temp_1 = list[3] - target; <= 0: maybe equal
        subleq temp_1, temp_1            ; C4: list[3] > target: not here
        subleq temp_2, temp_2, next3     ; C5
le3:    subleq temp_2, temp_2            ; C6
        subleq temp_1, temp_2, hit3      ; C7: temp_2 = target - list[3]; <= 0: equal
        subleq temp_1, temp_1            ; C8: list[3] < target: not here
        subleq temp_2, temp_2, next3     ; C9
hit3:   subleq flag, flag, halt          ; C10: found: flag = 0
next3:  subleq eof_minus_one, index      ; C11: index += 1
e4:     subleq list+4, temp_2           ; C1: temp_2 = -list[4]
        subleq temp_2, temp_1            ; C2: temp_1 = list[4]
        subleq target, temp_1, le4       ; C3: temp_1 = list[4] - target; <= 0: maybe equal
        subleq temp_1, temp_1            ; C4: list[4] > target: not here
        subleq temp_2, temp_2, next4     ; C5
le4:    subleq temp_2, temp_2            ; C6
        subleq temp_1, temp_2, hit4      ; C7: temp_2 = target - list[4]; <= 0: equal
        subleq temp_1, temp_1            ; C8: list[4] < target: not here
        subleq temp_2, temp_2, next4     ; C9
hit4:   subleq flag, flag, halt          ; C10: found: flag = 0
next4:  subleq eof_minus_one, index      ; C11: index += 1
e5:     subleq list+5, temp_2           ; C1: temp_2 = -list[5]
        subleq temp_2, temp_1            ; C2: temp_1 = list[5]
        subleq target, temp_1, le5       ; C3: temp_1 = list[5] - target; <= 0: maybe equal
        subleq temp_1, temp_1            ; C4: list[5] > target: not here
        subleq temp_2, temp_2, next5     ; C5
le5:    subleq temp_2, temp_2            ; C6
        subleq temp_1, temp_2, hit5      ; C7: temp_2 = target - list[5]; <= 0: equal
        subleq temp_1, temp_1            ; C8: list[5] < target: not here
        subleq temp_2, temp_2, next5     ; C9
hit5:   subleq flag, flag, halt          ; C10: found: flag = 0
next5:  subleq eof_minus_one, index      ; C11: index += 1
e6:     subleq list+6, temp_2           ; C1: temp_2 = -list[6]
        subleq temp_2, temp_1            ; C2: temp_1 = list[6]
        subleq target, temp_1, le6       ; C3: temp_1 = list[6] - target; <= 0: maybe equal
        subleq temp_1, temp_1            ; C4: list[6] > target: not here
        subleq temp_2, temp_2, next6     ; C5
le6:    subleq temp_2, temp_2            ; C6
        subleq temp_1, temp_2, hit6      ; C7: temp_2 = target - list[6]; <= 0: equal
        subleq temp_1, temp_1            ; C8: list[6] < target: not here
        subleq temp_2, temp_2, next6     ; C9
hit6:   subleq flag, flag, halt          ; C10: found: flag = 0
next6:  subleq eof_minus_one, index      ; C11: index += 1
