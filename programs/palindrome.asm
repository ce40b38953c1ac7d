; palindrome.asm: does a zero-terminated string read the same backwards?
; inputs:  text (9 character codes; the string ends at the first cell <= 0, at most 9 characters,
;          codes <= 16383)
; outputs: palindrome (1 or 0), len (the string's length), mismatch (the first position i from the
;          left where text[i] != text[len-1-i], or -1) ("racecar" -> 1, 7, -1; "looped" -> 0, 6, 0)
;          t is a work cell
; Without indirect addressing, text[len-1-i] cannot be read for an unknown len: the program finds
; the length first, then jumps to the comparison code unrolled for that length (one block per
; length, comparing the pairs (i, len-1-i) for i < len / 2).

.data
text:       'r', 'a', 'c', 'e', 'c', 'a', 'r', 0, 0
palindrome: 0
len:        0
mismatch:   0
t:          0

.code
        clr len
        clr mismatch
        clr palindrome
        jle text+0, len0
        inc len
        jle text+1, len1
        inc len
        jle text+2, len2
        inc len
        jle text+3, len3
        inc len
        jle text+4, len4
        inc len
        jle text+5, len5
        inc len
        jle text+6, len6
        inc len
        jle text+7, len7
        inc len
        jle text+8, len8
        inc len
        jmp len9
len0:
        jmp same
len1:
        jmp same
len2:
        mov t, text+0
        sub t, text+1          ; t = text[0] - text[1]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[0] == text[1]
        jle t, differ
        inc mismatch
        jmp same
len3:
        mov t, text+0
        sub t, text+2          ; t = text[0] - text[2]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[0] == text[2]
        jle t, differ
        inc mismatch
        jmp same
len4:
        mov t, text+0
        sub t, text+3          ; t = text[0] - text[3]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[0] == text[3]
        jle t, differ
        inc mismatch
        mov t, text+1
        sub t, text+2          ; t = text[1] - text[2]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[1] == text[2]
        jle t, differ
        inc mismatch
        jmp same
len5:
        mov t, text+0
        sub t, text+4          ; t = text[0] - text[4]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[0] == text[4]
        jle t, differ
        inc mismatch
        mov t, text+1
        sub t, text+3          ; t = text[1] - text[3]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[1] == text[3]
        jle t, differ
        inc mismatch
        jmp same
len6:
        mov t, text+0
        sub t, text+5          ; t = text[0] - text[5]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[0] == text[5]
        jle t, differ
        inc mismatch
        mov t, text+1
        sub t, text+4          ; t = text[1] - text[4]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[1] == text[4]
        jle t, differ
        inc mismatch
        mov t, text+2
        sub t, text+3          ; t = text[2] - text[3]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[2] == text[3]
        jle t, differ
        inc mismatch
        jmp same
len7:
        mov t, text+0
        sub t, text+6          ; t = text[0] - text[6]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[0] == text[6]
        jle t, differ
        inc mismatch
        mov t, text+1
        sub t, text+5          ; t = text[1] - text[5]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[1] == text[5]
        jle t, differ
        inc mismatch
        mov t, text+2
        sub t, text+4          ; t = text[2] - text[4]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[2] == text[4]
        jle t, differ
        inc mismatch
        jmp same
len8:
        mov t, text+0
        sub t, text+7          ; t = text[0] - text[7]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[0] == text[7]
        jle t, differ
        inc mismatch
        mov t, text+1
        sub t, text+6          ; t = text[1] - text[6]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[1] == text[6]
        jle t, differ
        inc mismatch
        mov t, text+2
        sub t, text+5          ; t = text[2] - text[5]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[2] == text[5]
        jle t, differ
        inc mismatch
        mov t, text+3
        sub t, text+4          ; t = text[3] - text[4]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[3] == text[4]
        jle t, differ
        inc mismatch
        jmp same
len9:
        mov t, text+0
        sub t, text+8          ; t = text[0] - text[8]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[0] == text[8]
        jle t, differ
        inc mismatch
        mov t, text+1
        sub t, text+7          ; t = text[1] - text[7]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[1] == text[7]
        jle t, differ
        inc mismatch
        mov t, text+2
        sub t, text+6          ; t = text[2] - text[6]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[2] == text[6]
        jle t, differ
        inc mismatch
        mov t, text+3
        sub t, text+5          ; t = text[3] - text[5]
        jgt t, differ
        inc t                  ; t > 0 now  <=>  text[3] == text[5]
        jle t, differ
        inc mismatch
        jmp same
differ: halt                   ; mismatch is the position of the first difference
same:   inc palindrome
        mov mismatch, -1
