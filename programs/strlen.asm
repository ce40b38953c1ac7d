; strlen.asm: the length of a zero-terminated string.
; inputs:  text (16 character codes; the string ends at the first cell <= 0, the cells after it are
;          ignored; every character of the string must have a positive code)
; outputs: len ("Hello, looped!" -> 14; 16 when no cell ends the string)
; The scan is unrolled (no indirect addressing): 2 steps per character, then 1 for the
; terminator, so 2 * len + 2 steps in all (len < 16).

.data
text:   'H', 'e', 'l', 'l', 'o', ',', ' ', 'l'
        'o', 'o', 'p', 'e', 'd', '!', 0, 0
len:    0

.code
        clr len
        jle text+0, done      ; the terminator: len is the length
        inc len
        jle text+1, done
        inc len
        jle text+2, done
        inc len
        jle text+3, done
        inc len
        jle text+4, done
        inc len
        jle text+5, done
        inc len
        jle text+6, done
        inc len
        jle text+7, done
        inc len
        jle text+8, done
        inc len
        jle text+9, done
        inc len
        jle text+10, done
        inc len
        jle text+11, done
        inc len
        jle text+12, done
        inc len
        jle text+13, done
        inc len
        jle text+14, done
        inc len
        jle text+15, done
        inc len
done:   halt
