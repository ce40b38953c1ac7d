; reverse.asm: reverse the 8 cells of list in place.
; inputs:  list (8 values)
; outputs: list reversed ([1, 2, 3, 4, 5, 6, 7, 8] -> [8, 7, 6, 5, 4, 3, 2, 1]); t is a work cell
; Four swaps of three `mov` each: 4 * 3 * 4 = 48 steps, always.

.data
list: 1, 2, 3, 4, 5, 6, 7, 8
t:    0

.code
        mov t, list+0         ; swap list[0] and list[7]
        mov list+0, list+7
        mov list+7, t
        mov t, list+1         ; swap list[1] and list[6]
        mov list+1, list+6
        mov list+6, t
        mov t, list+2         ; swap list[2] and list[5]
        mov list+2, list+5
        mov list+5, t
        mov t, list+3         ; swap list[3] and list[4]
        mov list+3, list+4
        mov list+4, t
