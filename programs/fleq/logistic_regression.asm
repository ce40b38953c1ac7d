; logistic_regression.asm: fit a logistic model to three samples by gradient descent.
;
; Inputs:  X (3x2: one sample per row; the first column of ones gives the intercept), y (3 targets
;          in [0, 1], soft labels allowed), lr (the step size), n (the number of steps, an integer
;          >= 1)
; Outputs: w (2 weights), p = sigmoid(X w) (the fitted probabilities), g (the last mean gradient)
;          (defaults: X = [[1, -1], [1, 0.5], [1, 2]], y = [0.1, 0.6, 0.9], lr = 5, n = 20
;          -> w = [-0.505233, 1.479416], p = [0.120824, 0.558352, 0.920824], g ~ 3e-8: the
;          optimum of the cross-entropy)
; Domain:  |w| <= 100 (matmul's right operand), |X w| and every value within 1e6.
; Error:   the iterates are those of exact gradient descent within 1e-5 relative, g within 1e-9
;          absolute (matmul 2e-7 per term, mul 1e-6, sigmoid exact to 2.3e-16; gradient descent
;          on this convex loss damps the rounding of the earlier steps).
;
; The loss is the mean cross-entropy of sigmoid(X w) against y; its gradient is
; X^T (sigmoid(X w) - y) / 3, and each step is w <- w - lr * gradient: 9 instructions.
.isa fleq
.data
X:    [[1, -1], [1, 0.5], [1, 2]]
y:    [0.1, 0.6, 0.9]
lr:   5
n:    20
w:    .zeros 2
p:    .zeros 3
g:    .zeros 2
Xt:   .zeros 2, 3
e:    .zeros 3      ; the errors p - y
u:    .zeros 2      ; the update lr * g
.code
        transpose Xt, X
        clr     w
step:   matmul  p, X, w
        sigmoid p, p                     ; p = sigmoid(X w)
        sub     e, p, y
        matmul  g, Xt, e
        mul     g, g, 0.3333333333333333 ; g = X^T (p - y) / 3, the mean gradient
        mul     u, g, lr
        sub     w, w, u                  ; w = w - lr g
        fleq    sub, n, n, 1, n, done    ; n = n - 1; done when n <= 0
        jmp     step
done:   matmul  p, X, w
        sigmoid p, p                     ; the fitted probabilities
