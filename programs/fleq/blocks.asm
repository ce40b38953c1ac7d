; blocks.asm: each of FLEQ's function blocks once, on scalars, with no refinement (what
; benchmarks/fleq_accuracy.py measures the blocks' own errors with).
;
; Inputs:  x, y (scalars)
; Outputs: s = x + y, d = x - y, p = x y (mul), m = x y (a 1x1 matmul), r ~ 1/x (recip),
;          q ~ 1/sqrt(x) (rsqrt, x > 0), g = 1 / (1 + e^-x) (sigmoid), c = x (mov),
;          t = x (transpose)
.isa fleq
.data
x: 0.5
y: 4
s: 0
d: 0
p: 0
m: 0
r: 0
q: 0
g: 0
c: 0
t: 0
.code
        add       s, x, y
        sub       d, x, y
        mul       p, x, y
        matmul    m, x, y
        recip     r, x
        sigmoid   g, x
        mov       c, x
        transpose t, x
        rsqrt     q, x                ; last: for x <= 0 it faults (after the others have run)
