; heat_diffusion.asm: heat flowing along a rod, by the explicit finite-difference scheme.
;
; Inputs:  u (the temperatures of the 3 interior points of the rod), left, right (the fixed
;          temperatures at its ends), alpha (the diffusion number k dt / dx^2, at most 0.5 for
;          stability), n (the number of time steps, an integer >= 1)
; Outputs: u after n steps
;          (defaults: u = [0, 0, 0], left = 100, right = 20, alpha = 0.25, n = 40
;          -> u = [79.909, 59.871, 39.909], near the steady state [80, 60, 40], the straight line
;          between the ends)
; Domain:  |u|, |left|, |right| <= 100 (u is matmul's right operand), 0 < alpha <= 0.5.
; Error:   within 1e-5 of the exact scheme's values, relative to max |u|, |left|, |right| (matmul
;          2e-7 per term each step; the scheme is stable, so errors do not grow).
;
; One step is u_i <- u_i + alpha (u_{i-1} - 2 u_i + u_{i+1}), with u_0 = left and u_4 = right:
; u <- T u + f, with T = I + alpha L (L the second-difference matrix, tridiagonal) and
; f = alpha [left, 0, right]. T and f are built once; each step is a matmul and an add.
.isa fleq
.data
u:     [0, 0, 0]
left:  100
right: 20
alpha: 0.25
n:     40
L:     [[-2, 1, 0], [1, -2, 1], [0, 1, -2]]
I:     .eye 3
T:     .zeros 3, 3
f:     .zeros 3
g:     .zeros 3
e0:    [1, 0, 0]
e2:    [0, 0, 1]
.code
        mul     T, L, alpha
        add     T, T, I                  ; T = I + alpha L
        mul     f, e0, left
        mul     g, e2, right
        add     f, f, g
        mul     f, f, alpha              ; f = alpha [left, 0, right]
step:   matmul  u, T, u
        add     u, u, f                  ; u = T u + f
        fleq    sub, n, n, 1, n, done    ; n = n - 1; done when n <= 0
        jmp     step
done:   halt
