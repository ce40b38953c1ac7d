; itoa.asm: the decimal digits of n as character codes (what printing a number does).
; inputs:  n (-32767 .. 32767)
; outputs: text (6 character codes: the sign, '-' or ' ', then 5 digits with leading zeros)
;          (-1905 -> "-01905", i.e. [45, 48, 49, 57, 48, 53]; 42 -> " 00042"); x and t are work
;          cells
; Each digit counts how many times its power of ten can be subtracted (at most 9 times; no
; division is needed), 9 steps per subtraction; the last digit is what remains. At most 328 steps.

.data
n:      -1905
text:   .zero 6
x:      0
t:      0

.code
        mov x, n
        mov text+0, ' '
        jgt x, digits          ; n > 0
        mov t, x
        clr x
        sub x, t               ; x = -n >= 0
        jle x, digits          ; n == 0: no sign
        mov text+0, '-'
digits:
        mov text+1, '0'          ; the 10000s
count0: mov t, x
        sub t, 9999            ; t > 0  <=>  x >= 10000
        jle t, done0
        sub x, 10000
        inc text+1
        jmp count0
done0:
        mov text+2, '0'          ; the 1000s
count1: mov t, x
        sub t, 999            ; t > 0  <=>  x >= 1000
        jle t, done1
        sub x, 1000
        inc text+2
        jmp count1
done1:
        mov text+3, '0'          ; the 100s
count2: mov t, x
        sub t, 99            ; t > 0  <=>  x >= 100
        jle t, done2
        sub x, 100
        inc text+3
        jmp count2
done2:
        mov text+4, '0'          ; the 10s
count3: mov t, x
        sub t, 9            ; t > 0  <=>  x >= 10
        jle t, done3
        sub x, 10
        inc text+4
        jmp count3
done3:
        mov text+5, x           ; the units: x is 0 .. 9 now
        add text+5, '0'
