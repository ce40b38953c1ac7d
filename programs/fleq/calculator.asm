; calculator.asm: sum, difference, product, quotient and square root of two scalars, computed by
; FLEQ's function blocks on the looped transformer.
;
; Inputs:  x, y (scalars; the stated accuracy holds for |x|, |y| in [1e-6, 1e6], and for x = 0)
; Outputs: sum = x + y, diff = x - y, prod = x * y, quot = x / y, root = sqrt(x) (for x > 0;
;          root = 0 for x <= 0). y = 0 is a fault (exit 4): x / 0 has no value.
; Error:   every output within 1e-5 relative (measured: benchmarks/fleq_accuracy.py; the contract
;          asks for 1e-4). sum and diff are exact float64 sums.
;
; Range reduction: `mul`, `recip` and `rsqrt` are accurate on narrow domains (docs/fleq.md), so the
; program works on mantissas. `exponent` splits v = m 2^e with 1/2 <= |m| < 1 and `scale` multiplies
; by 2^k, both exactly. The product is mx my scaled by 2^(ex + ey); the quotient mx (1/my) scaled by
; 2^(ex - ey), 1/my from `recip` refined by three Newton steps r <- r (2 - my r) (the error squares
; each step: 3.7e-3, 1.4e-5, 2e-10, then the product block's own ~1e-6). The root: x = xr 4^h with
; xr in [1/2, 2), sqrt(xr) = xr / sqrt(xr) from `rsqrt` refined by s <- s (3 - xr s^2) / 2, scaled by 2^h.
.isa fleq
.data
x:    2.0
y:    3.0
sum:  0
diff: 0
prod: 0
quot: 0
root: 0
ex:   0          ; x = mx 2^ex
ey:   0          ; y = my 2^ey
mx:   0
my:   0
r:    0          ; 1/my, refined
xr:   0          ; x = xr 4^h, xr in [1/2, 2)
h:    0
s:    0          ; 1/sqrt(xr), refined
e:    0
t:    0
nx:   0          ; -x
k:    0          ; Newton step counter

.code
        add   sum, x, y
        sub   diff, x, y

        exponent ey, y                   ; y = 0 faults here: x / 0
        sub   t, 0, ey
        scale my, y, t                   ; my = y 2^-ey, 1/2 <= |my| < 1
        recip r, my                      ; r ~ 1/my
        mov   k, 3
rstep:  mul   t, my, r                   ; t = my r
        sub   t, 2, t                    ; t = 2 - my r
        mul   r, r, t                    ; r = r (2 - my r)
        fleq  sub, k, k, 1, k, rdone     ; k = k - 1; done when k <= 0
        jmp   rstep

rdone:  sub   nx, 0, x
        jle   x, xle0
        jmp   xnz
xle0:   jle   nx, xzero                  ; x <= 0 and -x <= 0: x = 0
xnz:    exponent ex, x
        sub   t, 0, ex
        scale mx, x, t                   ; mx = x 2^-ex, 1/2 <= |mx| < 1
        mul   t, mx, my
        add   e, ex, ey
        scale prod, t, e                 ; prod = mx my 2^(ex + ey)
        mul   t, mx, r
        sub   e, ex, ey
        scale quot, t, e                 ; quot = (mx / my) 2^(ex - ey)
        jle   x, halt                    ; no root for x < 0 (root stays 0)

        mov   e, ex                      ; x = mx 2^e; move pairs of 2 from e into h
        clr   h
down:   sub   t, e, 1
        jle   t, up                      ; e <= 1
        sub   e, e, 2
        inc   h
        jmp   down
up:     add   t, e, 1
        jgt   t, reduced                 ; e >= 0
        add   e, e, 2
        dec   h
        jmp   up
reduced: scale xr, mx, e                 ; xr = mx 2^e in [1/2, 2), x = xr 4^h

        rsqrt s, xr                      ; s ~ 1/sqrt(xr)
        mov   k, 3
sstep:  mul   t, s, s                    ; t = s^2
        mul   t, t, xr                   ; t = xr s^2
        mul   t, t, 0.5                  ; t = xr s^2 / 2
        sub   t, 1.5, t                  ; t = 3/2 - xr s^2 / 2
        mul   s, s, t                    ; s = s (3 - xr s^2) / 2
        fleq  sub, k, k, 1, k, sdone
        jmp   sstep
sdone:  mul   t, xr, s                   ; sqrt(xr) = xr / sqrt(xr)
        scale root, t, h
        halt

xzero:  clr   prod
        clr   quot
        clr   root
