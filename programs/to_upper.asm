; to_upper.asm: turn the lower-case letters of a text into capitals (character literals).
; inputs:  text (8 character codes)
; outputs: text with a..z replaced by A..Z ("Hi, you!" -> "HI, YOU!" = [72, 73, 44, 32, 89, 79, 85, 33]);
;          t is a work cell

.data
text: 'H', 'i', ',', ' ', 'y', 'o', 'u', '!'
t:    0

.code
c0:     mov t, text+0
        sub t, 96              ; t > 0  <=>  text[0] >= 'a'
        jle t, c1
        mov t, 'z'
        sub t, text+0         ; t >= 0  <=>  text[0] <= 'z'
        inc t
        jle t, c1
        sub text+0, 32        ; 'a' - 'A' = 32
c1:     mov t, text+1
        sub t, 96              ; t > 0  <=>  text[1] >= 'a'
        jle t, c2
        mov t, 'z'
        sub t, text+1         ; t >= 0  <=>  text[1] <= 'z'
        inc t
        jle t, c2
        sub text+1, 32        ; 'a' - 'A' = 32
c2:     mov t, text+2
        sub t, 96              ; t > 0  <=>  text[2] >= 'a'
        jle t, c3
        mov t, 'z'
        sub t, text+2         ; t >= 0  <=>  text[2] <= 'z'
        inc t
        jle t, c3
        sub text+2, 32        ; 'a' - 'A' = 32
c3:     mov t, text+3
        sub t, 96              ; t > 0  <=>  text[3] >= 'a'
        jle t, c4
        mov t, 'z'
        sub t, text+3         ; t >= 0  <=>  text[3] <= 'z'
        inc t
        jle t, c4
        sub text+3, 32        ; 'a' - 'A' = 32
c4:     mov t, text+4
        sub t, 96              ; t > 0  <=>  text[4] >= 'a'
        jle t, c5
        mov t, 'z'
        sub t, text+4         ; t >= 0  <=>  text[4] <= 'z'
        inc t
        jle t, c5
        sub text+4, 32        ; 'a' - 'A' = 32
c5:     mov t, text+5
        sub t, 96              ; t > 0  <=>  text[5] >= 'a'
        jle t, c6
        mov t, 'z'
        sub t, text+5         ; t >= 0  <=>  text[5] <= 'z'
        inc t
        jle t, c6
        sub text+5, 32        ; 'a' - 'A' = 32
c6:     mov t, text+6
        sub t, 96              ; t > 0  <=>  text[6] >= 'a'
        jle t, c7
        mov t, 'z'
        sub t, text+6         ; t >= 0  <=>  text[6] <= 'z'
        inc t
        jle t, c7
        sub text+6, 32        ; 'a' - 'A' = 32
c7:     mov t, text+7
        sub t, 96              ; t > 0  <=>  text[7] >= 'a'
        jle t, done
        mov t, 'z'
        sub t, text+7         ; t >= 0  <=>  text[7] <= 'z'
        inc t
        jle t, done
        sub text+7, 32        ; 'a' - 'A' = 32
done:   halt
