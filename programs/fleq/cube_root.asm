; cube_root.asm: cube roots of three positive numbers by Newton's method.
;
; Inputs:  a (3 values in [1e-3, 1e3]), k (the number of Newton steps, 6; an integer >= 1)
; Outputs: y = a^(1/3) (3 values)
;          (defaults: a = [0.002, 2, 729] -> y = [0.125992105, 1.25992105, 9])
; Domain:  1e-3 <= a <= 1e3 (the starting guess uses rsqrt twice; y^2 stays inside recip's domain)
; Error:   y within 3e-6 relative (the `mul` block's 1e-6 per product, a few products in the last
;          step; Newton corrects the errors of the earlier steps).
;
; Newton's method for y^3 = a: y <- y - (y^3 - a) / (3 y^2) = (2 y + a / y^2) / 3. The start is
; a^(1/4) = rsqrt(rsqrt(a)), within a factor 1.8 of a^(1/3) on the domain, from where 6 steps
; reach the blocks' precision. 1 / y^2 comes from `recip` (3.7e-3 relative), refined by two
; Newton steps r <- r (2 - y^2 r) (error 1.4e-5, then 2e-10).
.isa fleq
.data
a:   [0.002, 2, 729]
y:   .zeros 3
y2:  .zeros 3       ; y^2
r:   .zeros 3       ; 1 / y^2
t:   .zeros 3
k:   6              ; Newton steps (a counter)
.code
        rsqrt   t, a                     ; a^(-1/2)
        rsqrt   y, t                     ; y = a^(1/4)
step:   mul     y2, y, y
        recip   r, y2                    ; r ~ 1 / y^2
.rep i, 2
        mul     t, y2, r
        sub     t, 2, t
        mul     r, r, t                  ; r = r (2 - y^2 r)
.endr
        mul     t, a, r                  ; t = a / y^2
        add     y, y, y
        add     y, y, t
        mul     y, y, 0.3333333333333333 ; y = (2 y + a / y^2) / 3
        fleq    sub, k, k, 1, k, done    ; k = k - 1; done when k <= 0
        jmp     step
done:   halt
