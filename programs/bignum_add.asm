; bignum_add.asm: add two 16-digit decimal numbers held as 4 base-10000 limbs each, with carries.
; inputs:  a, b (4 limbs each, most significant first, every limb 0 .. 9999;
;          a = [9876, 5432, 1098, 7654] is the number 9876543210987654)
; outputs: sum (5 limbs, most significant first: the carry out, then 4 limbs)
;          (9876543210987654 + 1234567890123456 = 11111111101111110 -> [1, 1111, 1111, 111, 1110],
;          that is 1|1111|1111|0111|1110); carry and t are work cells
; The limbs are added from the least significant up, unrolled (no indirect addressing): a limb
; sum is at most 9999 + 9999 + 1 = 19999, so it fits in 16 bits, and one comparison with 9999
; decides the carry. 17 to 19 steps per limb.

.data
a:      9876, 5432, 1098, 7654
b:      1234, 5678, 9012, 3456
sum:    .zero 5
carry:  0
t:      0

.code
        clr carry
        mov sum+4, a+3          ; limb 3
        add sum+4, b+3
        add sum+4, carry
        clr carry
        mov t, sum+4
        sub t, 9999            ; t > 0  <=>  the limb sum is 10000 or more
        jle t, limb3
        sub sum+4, 10000
        inc carry
limb3:
        mov sum+3, a+2          ; limb 2
        add sum+3, b+2
        add sum+3, carry
        clr carry
        mov t, sum+3
        sub t, 9999            ; t > 0  <=>  the limb sum is 10000 or more
        jle t, limb2
        sub sum+3, 10000
        inc carry
limb2:
        mov sum+2, a+1          ; limb 1
        add sum+2, b+1
        add sum+2, carry
        clr carry
        mov t, sum+2
        sub t, 9999            ; t > 0  <=>  the limb sum is 10000 or more
        jle t, limb1
        sub sum+2, 10000
        inc carry
limb1:
        mov sum+1, a+0          ; limb 0
        add sum+1, b+0
        add sum+1, carry
        clr carry
        mov t, sum+1
        sub t, 9999            ; t > 0  <=>  the limb sum is 10000 or more
        jle t, limb0
        sub sum+1, 10000
        inc carry
limb0:
        mov sum+0, carry
