; linreg_sgd.asm: in-context linear regression by stochastic gradient descent.
;
; Inputs:  X (16x3, entries in [-1, 1]), y (16: the targets, y ~ X w)
; Outputs: w (3): the fitted weights (the other labels are work values)
; Method:  w = 0, then 40 epochs over the 16 points in order, each point i updating
;          w <- w - eta (x_i . w - y_i) x_i with eta = 0.5 (x_i is row i of X). The epochs are a loop
;          with a counter; the 16 points of an epoch are unrolled (.rep). Before the epochs the
;          points are laid out as rows r_i (for x_i . w) and as columns of eta X^T (for the step).
; Error:   for noise-free y = X w with entries of X in [-1, 1] and |w| <= 5, SGD's own error after 40
;          epochs was at most 9e-7 on 3,000 random problems; the product blocks add ~1e-7 relative.
;          The goal is 1e-2 (held by tests/test_fleq_icl.py). Larger w scale the error with |w|.
.isa fleq
.data
X:  [[0.5, -0.2, 0.9], [-0.7, 0.4, 0.1], [0.3, 0.8, -0.5], [-0.1, -0.9, 0.6],
     [0.9, 0.1, 0.2], [-0.4, 0.6, -0.8], [0.2, -0.5, -0.3], [-0.8, -0.3, 0.7],
     [0.6, 0.7, 0.4], [-0.2, 0.2, -0.9], [0.1, -0.8, 0.5], [-0.6, 0.5, 0.3],
     [0.8, -0.6, -0.1], [-0.3, -0.1, -0.6], [0.4, 0.3, 0.8], [-0.9, 0.9, -0.2]]
y:  [1.65, -1.75, -0.45, 1.0, 1.8, -1.8, 0.75, -0.95,      ; X [2, -1, 0.5]
     0.7, -1.05, 1.25, -1.55, 2.15, -0.8, 0.9, -2.8]
w:  .zeros 3
Xt: .zeros 3, 16        ; X^T: column i is point i, then eta X^T
yt: .zeros 1, 16        ; y^T: column i is y_i
r0: .zeros 1, 3
r1: .zeros 1, 3
r2: .zeros 1, 3
r3: .zeros 1, 3
r4: .zeros 1, 3
r5: .zeros 1, 3
r6: .zeros 1, 3
r7: .zeros 1, 3
r8: .zeros 1, 3
r9: .zeros 1, 3
r10: .zeros 1, 3
r11: .zeros 1, 3
r12: .zeros 1, 3
r13: .zeros 1, 3
r14: .zeros 1, 3
r15: .zeros 1, 3
p:  0                   ; x_i . w
e:  0                   ; x_i . w - y_i
g:  .zeros 3            ; the step
k:  40                  ; epochs left
.code
        transpose Xt, X
        transpose yt, y
.rep i, 16
        transpose r{i}, Xt+{i}
.endr
        mul       Xt, Xt, 0.5
epoch:
.rep i, 16
        matmul    p, r{i}, w
        sub       e, p, yt+{i}
        mul       g, Xt+{i}, e
        sub       w, w, g
.endr
        dec       k
        jgt       k, epoch
        halt
