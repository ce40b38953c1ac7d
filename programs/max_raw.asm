; max_raw.asm: m = max(x, y), written with `subleq` only (no macros).
; inputs:  x, y (|x|, |y| <= 16383 so that x - y does not wrap); m, t, u, d must start at 0
; outputs: m (max(-5, 12) = 12); t = -x, d = x - y, u = -y when y won
; steps: exactly 5 either way.

.data
x: -5
y: 12
m: 0
t: 0
u: 0
d: 0
Z: 0

.code
        subleq x, t            ; t = -x
        subleq t, d            ; d = x
        subleq y, d, take_y    ; d = x - y; x <= y: the answer is y
        subleq t, m            ; m = x
        subleq Z, Z, halt
take_y: subleq y, u            ; u = -y
        subleq u, m            ; m = y
