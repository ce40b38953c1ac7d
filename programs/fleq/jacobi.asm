; jacobi.asm: solve A x = b for a diagonally dominant 3x3 matrix by Jacobi iteration.
;
; Inputs:  A (3x3, strictly diagonally dominant by rows: |A_ii| > sum of |A_ij|, j != i),
;          b (3 values), n (the number of sweeps, an integer >= 1)
; Outputs: x (the solution after n sweeps), res = b - A x (the residual)
;          (defaults: A = [[10, -1, 2], [-1, 11, -1], [2, -1, 10]], b = [6, 25, -11], n = 30
;          -> x = [1.0432692, 2.2692308, -1.0817308])
; Domain:  diagonal entries 2^-12 <= |A_ii| <= 2^12 (recip's domain), |x| <= 100 (matmul's
;          right operand), entries and values within 1e6.
; Error:   |x - A^-1 b| <= rho^n |x| + 1e-5 |x| (max norms; rho < 1 is the largest row sum of
;          |A_ij| / |A_ii|, j != i, 0.3 for the defaults): the iteration contracts by rho per sweep,
;          and each sweep adds the blocks' rounding (matmul 2e-7 per term, mul 1e-6).
;
; With D the diagonal of A and R = A - D, Jacobi's sweep is x <- D^-1 (b - R x). The diagonal is
; taken out with an elementwise product by the identity; 1 / A_ii starts from `recip` (3.7e-3
; relative) and is refined by three Newton steps, as in calculator.asm.
.isa fleq
.data
A:    [[10, -1, 2], [-1, 11, -1], [2, -1, 10]]
b:    [6, 25, -11]
n:    30
x:    .zeros 3
res:  .zeros 3
D:    .zeros 3, 3
R:    .zeros 3, 3
d:    .zeros 3       ; the diagonal of A
dinv: .zeros 3       ; 1 / d, refined
t:    .zeros 3
I:    .eye 3
ones: [1, 1, 1]
.code
        mul     D, A, I                  ; D = diag(A) as a matrix
        sub     R, A, D                  ; R = A - D
        matmul  d, D, ones               ; d = the diagonal as a vector
        recip   dinv, d
.rep i, 3
        mul     t, d, dinv
        sub     t, 2, t
        mul     dinv, dinv, t            ; dinv = dinv (2 - d dinv)
.endr
        clr     x
sweep:  matmul  t, R, x
        sub     t, b, t                  ; t = b - R x
        mul     x, t, dinv               ; x = D^-1 (b - R x)
        fleq    sub, n, n, 1, n, done    ; n = n - 1; done when n <= 0
        jmp     sweep
done:   matmul  t, A, x
        sub     res, b, t                ; res = b - A x
