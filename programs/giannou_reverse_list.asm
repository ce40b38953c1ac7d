; giannou_reverse_list.asm: reverse a list in place, a rewrite of the reverse_list program of
; Giannou et al., "Looped Transformers as Programmable Computers" (2023), with the same memory
; [-1, 0, a_1 .. a_7, temp_1, temp_2] and the same 8 instructions per swap, in `subleq` only.
; inputs:  list (7 values)
; outputs: list reversed ([-7, -6, -5, -4, 3, 2, 1] -> [1, 2, 3, -4, -5, -6, -7]);
;          temp_1, temp_2 end at 0
; steps: exactly 8 * 3 = 24 (three swaps; the middle cell stays).

.data
eof_minus_one: -1   ; the constants of the original's EOF instruction (kept for the layout)
eof_zero:      0
list:   -7, -6, -5, -4, 3, 2, 1
temp_1: 0
temp_2: 0

.code
        subleq list+0, temp_1          ; swap list[0] and list[6]: temp_1 = -list[0]
        subleq list+6, temp_2          ; temp_2 = -list[6]
        subleq list+0, list+0         ; list[0] = 0
        subleq list+6, list+6         ; list[6] = 0
        subleq temp_2, list+0          ; list[0] = old list[6]
        subleq temp_1, list+6          ; list[6] = old list[0]
        subleq temp_1, temp_1
        subleq temp_2, temp_2
        subleq list+1, temp_1          ; swap list[1] and list[5]: temp_1 = -list[1]
        subleq list+5, temp_2          ; temp_2 = -list[5]
        subleq list+1, list+1         ; list[1] = 0
        subleq list+5, list+5         ; list[5] = 0
        subleq temp_2, list+1          ; list[1] = old list[5]
        subleq temp_1, list+5          ; list[5] = old list[1]
        subleq temp_1, temp_1
        subleq temp_2, temp_2
        subleq list+2, temp_1          ; swap list[2] and list[4]: temp_1 = -list[2]
        subleq list+4, temp_2          ; temp_2 = -list[4]
        subleq list+2, list+2         ; list[2] = 0
        subleq list+4, list+4         ; list[4] = 0
        subleq temp_2, list+2          ; list[2] = old list[4]
        subleq temp_1, list+4          ; list[4] = old list[2]
        subleq temp_1, temp_1
        subleq temp_2, temp_2
