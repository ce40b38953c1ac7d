; horner.asm: a polynomial and its derivative at three points, by Horner's rule.
;
; Inputs:  c (a 1x6 row: the coefficients of p(x) = c0 x^5 + c1 x^4 + ... + c5, highest degree
;          first, as numpy.polyval takes them), x (3 points)
; Outputs: p = p(x), dp = p'(x) (3 values each)
;          (defaults: p(x) = x^5 - 3x^3 + 2x - 1 at x = -1.5, 0.5, 2
;          -> p = [-1.46875, -0.34375, 11], dp = [7.0625, 0.0625, 46])
; Domain:  every partial result within 1e6 in magnitude; products of 1e-4 .. 1e4 in magnitude
;          are the most accurate (the `mul` block's domain).
; Error:   each step is one `mul` (relative 1e-6) and one exact `add`: p is within 1e-5 S(p) of
;          p(x), with S(p) = |c0| |x|^5 + ... + |c5| the sum of the terms' magnitudes, and dp
;          within 1e-5 (S(p') + S(p)) of p'(x); 1e-10 absolute below the `mul` block's domain.
;
; Horner's rule: p = (((c0 x + c1) x + c2) x + ...) + c5, with the derivative carried alongside,
; dp = dp x + p before each update of p. The coefficients are columns of the row c (c+k is the
; scalar c_k), so the loop over them is unrolled with .rep; every line works on the 3 points at
; once (a scalar added to a vector is broadcast).
.isa fleq
.data
c:   [[1, 0, -3, 0, 2, -1]]
x:   [-1.5, 0.5, 2]
p:   .zeros 3
dp:  .zeros 3
.code
        clr   p
        clr   dp
        add   p, p, c+0                ; p = c0
.rep k, 5
        mul   dp, dp, x
        add   dp, dp, p                ; dp = dp x + p
        mul   p, p, x
        add   p, p, c+{k+1}            ; p = p x + c_{k+1}
.endr
