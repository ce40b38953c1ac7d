; binary.asm: the 16 bits of n (two's complement, most significant first) and how many are 1.
; inputs:  n (any 16-bit value)
; outputs: bits (16 cells of 0 or 1), ones (the population count), parity (ones mod 2)
;          (2024 = 0b0000011111101000 -> ones 7, parity 1; -1 -> 16 ones, parity 0); x and t are
;          work cells
; The top bit is the sign: the program tests x < 0, then shifts x left by adding it to itself
; (the bit falls off the top: arithmetic wraps modulo 2^16), and stops early when x is 0.
; Unrolled (no indirect addressing): 5 steps per 0 bit, 8 per 1 bit, plus the parity loop.

.data
n:      2024
bits:   .zero 16
ones:   0
parity: 0
x:      0
t:      0

.code
        mov x, n
        clr ones
        clr bits+0
        clr bits+1
        clr bits+2
        clr bits+3
        clr bits+4
        clr bits+5
        clr bits+6
        clr bits+7
        clr bits+8
        clr bits+9
        clr bits+10
        clr bits+11
        clr bits+12
        clr bits+13
        clr bits+14
        clr bits+15
bit0:   jgt x, shift0          ; x > 0: the top bit is 0
        subleq -1, x, one0     ; x = x + 1 <= 0  <=>  x was < 0 (no wrap: x <= 0 here)
        jmp count              ; x was 0: so are the remaining bits
one0:   inc bits+0
        inc ones
        dec x                  ; x as it was
shift0: add x, x               ; x = 2x: the next bit moves to the top
bit1:   jgt x, shift1
        subleq -1, x, one1
        jmp count
one1:   inc bits+1
        inc ones
        dec x
shift1: add x, x
bit2:   jgt x, shift2
        subleq -1, x, one2
        jmp count
one2:   inc bits+2
        inc ones
        dec x
shift2: add x, x
bit3:   jgt x, shift3
        subleq -1, x, one3
        jmp count
one3:   inc bits+3
        inc ones
        dec x
shift3: add x, x
bit4:   jgt x, shift4
        subleq -1, x, one4
        jmp count
one4:   inc bits+4
        inc ones
        dec x
shift4: add x, x
bit5:   jgt x, shift5
        subleq -1, x, one5
        jmp count
one5:   inc bits+5
        inc ones
        dec x
shift5: add x, x
bit6:   jgt x, shift6
        subleq -1, x, one6
        jmp count
one6:   inc bits+6
        inc ones
        dec x
shift6: add x, x
bit7:   jgt x, shift7
        subleq -1, x, one7
        jmp count
one7:   inc bits+7
        inc ones
        dec x
shift7: add x, x
bit8:   jgt x, shift8
        subleq -1, x, one8
        jmp count
one8:   inc bits+8
        inc ones
        dec x
shift8: add x, x
bit9:   jgt x, shift9
        subleq -1, x, one9
        jmp count
one9:   inc bits+9
        inc ones
        dec x
shift9: add x, x
bit10:  jgt x, shift10
        subleq -1, x, one10
        jmp count
one10:  inc bits+10
        inc ones
        dec x
shift10:add x, x
bit11:  jgt x, shift11
        subleq -1, x, one11
        jmp count
one11:  inc bits+11
        inc ones
        dec x
shift11:add x, x
bit12:  jgt x, shift12
        subleq -1, x, one12
        jmp count
one12:  inc bits+12
        inc ones
        dec x
shift12:add x, x
bit13:  jgt x, shift13
        subleq -1, x, one13
        jmp count
one13:  inc bits+13
        inc ones
        dec x
shift13:add x, x
bit14:  jgt x, shift14
        subleq -1, x, one14
        jmp count
one14:  inc bits+14
        inc ones
        dec x
shift14:add x, x
bit15:  jgt x, shift15
        subleq -1, x, one15
        jmp count
one15:  inc bits+15
        inc ones
        dec x
shift15:add x, x
count:  mov parity, ones
halve:  mov t, parity
        dec t
        jle t, done            ; parity is 0 or 1
        sub parity, 2
        jmp halve
done:   halt
