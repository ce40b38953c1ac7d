; exp.asm: e^x and tanh(x) at three points, from the sigmoid block.
;
; Inputs:  x (3 values, |x| <= 8)
; Outputs: e = e^x, th = tanh(x) (3 values each)
;          (defaults: x = [-2, 0.5, 3] -> e = [0.135335283, 1.648721271, 20.08553692],
;          th = [-0.96402758, 0.46211716, 0.99505475])
; Domain:  |x| <= 8 (sigmoid(-x) must stay inside recip's domain [2^-12, 2^12]; e^8 = 2981)
; Error:   e within 5e-6 relative (the `mul` block's 1e-6 per product, a few products; the
;          reciprocal is refined to the `mul` block's own precision); th within 4e-15 absolute
;          (sigmoid is exact to 2.3e-16, then a doubling and a subtraction in float64).
;
; With s = sigmoid(x) = 1 / (1 + e^-x), the odds s / (1 - s) are e^x; 1 - s is sigmoid(-x),
; which the block computes directly, without the cancellation of 1 - s for a large x. The
; reciprocal r = 1 / sigmoid(-x) = 1 + e^x starts from `recip` (3.7e-3 relative) and is refined
; by three Newton steps r <- r (2 - q r), then e^x = s r. tanh(x) = 2 sigmoid(2x) - 1.
.isa fleq
.data
x:   [-2, 0.5, 3]
e:   .zeros 3
th:  .zeros 3
s:   .zeros 3       ; sigmoid(x)
q:   .zeros 3       ; sigmoid(-x) = 1 - s
r:   .zeros 3       ; 1 / q, refined
t:   .zeros 3
k:   0              ; Newton step counter
.code
        sigmoid s, x
        sub     t, 0, x                  ; t = -x
        sigmoid q, t
        recip   r, q                     ; r ~ 1 / q
        mov     k, 3
step:   mul     t, q, r
        sub     t, 2, t                  ; t = 2 - q r
        mul     r, r, t                  ; r = r (2 - q r)
        fleq    sub, k, k, 1, k, done    ; k = k - 1; done when k <= 0
        jmp     step
done:   mul     e, s, r                  ; e^x = s / (1 - s)
        add     t, x, x
        sigmoid t, t                     ; sigmoid(2x)
        add     t, t, t
        sub     th, t, 1                 ; tanh(x) = 2 sigmoid(2x) - 1
