; matrix_power.asm: the n-th power of a 3x3 matrix by repeated squaring, here the n-step
; transition probabilities of a Markov chain.
;
; Inputs:  A (3x3; the defaults are a weather chain: from each of sunny, cloudy, rainy, the
;          probabilities of tomorrow's weather, rows summing to 1), n (0 .. 127, an integer)
; Outputs: P = A^n, pi = the first row of P (where the chain is after n days from sunny; for a
;          large n, the chain's stationary distribution)
;          (defaults: n = 100 -> every row of P = pi = [0.428571, 0.303571, 0.267857], i.e.
;          [3/7, 17/56, 15/56])
; Domain:  0 <= n <= 127; the entries of every power of A up to n within 100 in magnitude (matmul's
;          right operand; a stochastic matrix's powers stay in [0, 1]).
; Error:   within 1e-5 of A^n for a stochastic A (matmul 2e-7 per term, 14 products at most);
;          for other matrices, relative to the largest power's entries, about 14 * 2e-7 times the
;          growth of errors through the squarings.
;
; Left-to-right binary exponentiation: for each bit of n from the highest (64) down, square P,
; then multiply by A when the bit is set. The bits are tested by subtracting powers of two from
; a copy m of n: integer values are exact. 7 squarings and one product per set bit.
.isa fleq
.data
A:    [[0.6, 0.3, 0.1], [0.3, 0.4, 0.3], [0.3, 0.2, 0.5]]
n:    100
P:    .zeros 3, 3
pi:   [[0, 0, 0]]
I:    .eye 3
e0:   [[1, 0, 0]]
m:    0
t:    0
.code
        mov     P, I
        mov     m, n
b6:     matmul  P, P, P                  ; bit 6 (64)
        sub     t, m, 63                 ; t > 0  <=>  m >= 64
        jle     t, b5
        sub     m, m, 64
        matmul  P, P, A
b5:     matmul  P, P, P                  ; bit 5 (32)
        sub     t, m, 31                 ; t > 0  <=>  m >= 32
        jle     t, b4
        sub     m, m, 32
        matmul  P, P, A
b4:     matmul  P, P, P                  ; bit 4 (16)
        sub     t, m, 15                 ; t > 0  <=>  m >= 16
        jle     t, b3
        sub     m, m, 16
        matmul  P, P, A
b3:     matmul  P, P, P                  ; bit 3 (8)
        sub     t, m, 7                  ; t > 0  <=>  m >= 8
        jle     t, b2
        sub     m, m, 8
        matmul  P, P, A
b2:     matmul  P, P, P                  ; bit 2 (4)
        sub     t, m, 3                  ; t > 0  <=>  m >= 4
        jle     t, b1
        sub     m, m, 4
        matmul  P, P, A
b1:     matmul  P, P, P                  ; bit 1 (2)
        sub     t, m, 1                  ; t > 0  <=>  m >= 2
        jle     t, b0
        sub     m, m, 2
        matmul  P, P, A
b0:     matmul  P, P, P                  ; bit 0 (1)
        sub     t, m, 0                  ; t > 0  <=>  m >= 1
        jle     t, done
        sub     m, m, 1
        matmul  P, P, A
done:   matmul  pi, e0, P                ; the first row of P
