; calculator.asm: sum, difference, product, quotient and square root of two scalars, computed by
; FLEQ's function blocks on the looped transformer.
;
; Inputs:  x, y (scalars; the stated accuracy holds for |x|, |y| in [0.01, 100])
; Outputs: sum = x + y, diff = x - y, prod = x * y, quot = x / y, root = sqrt(x) (for x > 0;
;          root = 0 for x <= 0)
; Error:   every output within 2e-6 relative (measured: benchmarks/fleq_accuracy.py; the contract
;          asks for 1e-4). sum and diff are exact float64 sums.
;
; The quotient starts from `recip`, the fitted piecewise-linear 1/y (relative error 3.7e-3 for
; |y| in [2^-12, 2^12]), refined by three Newton steps r <- r (2 - y r): the error squares each
; step (3.7e-3, 1.4e-5, 2e-10, then the product block's own ~1e-11). The root starts from `rsqrt`
; (1.4e-3), refined by s <- s (3 - x s^2) / 2 three times, then root = x * s.
.isa fleq
.data
x:    2.0
y:    3.0
sum:  0
diff: 0
prod: 0
quot: 0
root: 0
r:    0          ; 1/y, refined
s:    0          ; 1/sqrt(x), refined
t:    0
k:    0          ; Newton step counter

.code
        add   sum, x, y
        sub   diff, x, y
        mul   prod, x, y

        recip r, y                       ; r ~ 1/y
        mov   k, 3
rstep:  mul   t, y, r                    ; t = y r
        sub   t, 2, t                    ; t = 2 - y r
        mul   r, r, t                    ; r = r (2 - y r)
        fleq  sub, k, k, 1, k, rdone     ; k = k - 1; done when k <= 0
        jmp   rstep
rdone:  mul   quot, x, r

        rsqrt s, x                       ; s ~ 1/sqrt(x)
        mov   k, 3
sstep:  mul   t, s, s                    ; t = s^2
        mul   t, t, x                    ; t = x s^2
        mul   t, t, 0.5                  ; t = x s^2 / 2
        sub   t, 1.5, t                  ; t = 3/2 - x s^2 / 2
        mul   s, s, t                    ; s = s (3 - x s^2) / 2
        fleq  sub, k, k, 1, k, sdone
        jmp   sstep
sdone:  mul   root, x, s                 ; sqrt(x) = x / sqrt(x)
        halt
