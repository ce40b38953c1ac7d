; matrix_ops.asm: the matrix blocks on 3x3 matrices, and a loop that squares a matrix k times.
;
; Inputs:  A, B (3x3), v (length 3), c (scalar), k (a counter, integer >= 1)
; Outputs: AB = A B, At = A^T, S = A + B, cA = c A (a scalar broadcast), Av = A v,
;          P = A^(2^k) (k squarings; keep the entries of A small so that they stay in range),
;          G = sigmoid(A) elementwise
.isa fleq
.data
A:  [[0.5, -0.25, 0.125], [0.0, 0.75, -0.5], [0.25, 0.5, 1.0]]
B:  [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
v:  [1, -1, 2]
c:  2.5
k:  2
AB: .zeros 3, 3
At: .zeros 3, 3
S:  .zeros 3, 3
cA: .zeros 3, 3
Av: .zeros 3
P:  .zeros 3, 3
G:  .zeros 3, 3
.code
        matmul    AB, A, B
        transpose At, A
        add       S, A, B
        mul       cA, A, c
        matmul    Av, A, v
        sigmoid   G, A
        mov       P, A
square: matmul    P, P, P
        fleq      sub, k, k, 1, k, done     ; k = k - 1; done when k <= 0
        jmp       square
done:   halt
