; signed.asm: signed arithmetic: absolute value and sign of x, maximum and minimum of x and y.
; inputs:  x, y (|x|, |y| <= 16383 so that x - y does not wrap)
; outputs: abs_x = |x|, sign_x = -1, 0 or 1, max_xy, min_xy (neg_x and d are work cells)

.data
x:      -42
y:      17
abs_x:  0
sign_x: 0
max_xy: 0
min_xy: 0
neg_x:  0
d:      0

.code
        clr neg_x
        sub neg_x, x           ; neg_x = -x
        jgt x, positive
        jgt neg_x, negative
        clr abs_x              ; x == 0
        clr sign_x
        jmp compare
positive:
        mov abs_x, x
        mov sign_x, 1
        jmp compare
negative:
        mov abs_x, neg_x
        mov sign_x, -1
compare:
        mov d, x
        sub d, y               ; d = x - y
        jgt d, x_bigger
        mov max_xy, y
        mov min_xy, x
        halt
x_bigger:
        mov max_xy, x
        mov min_xy, y
