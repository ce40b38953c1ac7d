"""Split one line of assembly into tokens. No JAX here.

Tokens carry their 1-based column so that every error can point at the offending text.
`;` and `#` start a comment (outside a character literal).

`tokenize(..., fleq=True)` (for `.isa fleq` files) also reads real-number literals (`2.5`,
`-1e-3`, `.5`: kind "real") and the brackets `[` `]` of vector and matrix data. In a SUBLEQ file a
real-number literal is an error that says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from looped.errors import AsmError, SourceLoc

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
DIRECTIVE_RE = re.compile(r"\.[A-Za-z_][A-Za-z0-9_]*")
WORD_RE = re.compile(r"[A-Za-z0-9_.]*")  # the run of characters a number token swallows
# A decimal real-number literal (no sign: '-' is a separate token): 2.5, 1e-3, .5, 3., 6.02E23
REAL_RE = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34}

INT_HELP = "expected a decimal, 0x hexadecimal, 0b binary or 'c' character literal"


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "directive", "int", "real" (FLEQ only), "punct"
    text: str  # the source text (for "punct": the character itself)
    col: int  # 1-based column of the first character
    value: int | float | None = None  # for "int"/"real": its value (never negative; '-' is separate)

    def describe(self) -> str:
        if self.kind == "name":
            return f"name '{self.text}'"
        if self.kind == "directive":
            return f"directive '{self.text}'"
        if self.kind in ("int", "real"):
            return f"number {self.text}"
        return f"'{self.text}'"


def parse_int_text(text: str) -> int | None:
    """The value of an unsigned integer literal (decimal, 0x.., 0b..), or None if malformed."""
    low = text.lower()
    if re.fullmatch(r"[0-9]+", text):
        return int(text, 10)
    if re.fullmatch(r"0x[0-9a-f]+", low):
        return int(low[2:], 16)
    if re.fullmatch(r"0b[01]+", low):
        return int(low[2:], 2)
    return None


def real_at(line: str, i: int) -> str | None:
    """The real-number literal (with a '.' or an exponent) starting at line[i], or None when the
    text there is not one (an integer, a hexadecimal literal, a malformed word)."""
    m = REAL_RE.match(line, i)
    if m is None or not re.search(r"[.eE]", m.group()):
        return None
    end = m.end()
    if end < len(line) and (line[end].isalnum() or line[end] in "_."):
        return None  # e.g. 1.2.3 or 1.5x: not a number
    return m.group()


def tokenize(line: str, file: str, lineno: int, fleq: bool = False) -> list[Token]:
    """Tokens of `line` up to its comment. Raises AsmError on a character that cannot start one.

    With `fleq`, real-number literals (kind "real") and the brackets '[' ']' are tokens too."""
    tokens: list[Token] = []
    i, n = 0, len(line)
    puncts = ":,+-[]" if fleq else ":,+-"
    while i < n:
        ch = line[i]
        col = i + 1
        if ch in " \t\r\f\v":
            i += 1
        elif ch in ";#":
            break
        elif ch.isalpha() or ch == "_":
            m = NAME_RE.match(line, i)
            tokens.append(Token("name", m.group(), col))
            i = m.end()
        elif ch == "." and i + 1 < n and (line[i + 1].isalpha() or line[i + 1] == "_"):
            m = DIRECTIVE_RE.match(line, i)
            tokens.append(Token("directive", m.group(), col))
            i = m.end()
        elif (ch.isdigit() or (ch == "." and i + 1 < n and line[i + 1].isdigit())) \
                and (real := real_at(line, i)) is not None:
            if not fleq:
                raise AsmError(
                    SourceLoc(file, lineno, col),
                    f"real number {real} in a SUBLEQ program (SUBLEQ cells hold integers: "
                    f"{INT_HELP}; real numbers need '.isa fleq')",
                )
            tokens.append(Token("real", real, col, float(real)))
            i += len(real)
        elif ch.isdigit():
            m = WORD_RE.match(line, i)
            text = m.group()
            value = parse_int_text(text)
            if value is None and line[m.end() :].lstrip().startswith(":"):
                raise AsmError(
                    SourceLoc(file, lineno, col),
                    f"bad label name '{text}' (expected a name: a letter or '_' followed by "
                    f"letters, digits, '_' or '.')",
                )
            if value is None:
                raise AsmError(
                    SourceLoc(file, lineno, col), f"bad integer literal '{text}' ({INT_HELP})"
                )
            tokens.append(Token("int", text, col, value))
            i = m.end()
        elif ch == "'":
            value, end = _char_literal(line, i, file, lineno)
            tokens.append(Token("int", line[i:end], col, value))
            i = end
        elif ch in puncts:
            tokens.append(Token("punct", ch, col))
            i += 1
        else:
            expected = "':', ',', '+', '-', '[', ']'" if fleq else "':', ',', '+', '-'"
            raise AsmError(
                SourceLoc(file, lineno, col),
                f"unexpected character '{ch}' (expected a name, a number, a directive, "
                f"{expected} or a comment starting with ';' or '#')",
            )
    return tokens


def _char_literal(line: str, i: int, file: str, lineno: int) -> tuple[int, int]:
    """Parse `'c'` or `'\\n'` starting at line[i] == "'"; return (value, end index)."""
    loc = SourceLoc(file, lineno, i + 1)
    help_ = "expected one character between single quotes, e.g. 'A', or an escape '\\n' '\\t' '\\0' '\\\\' '\\''"
    j = i + 1
    if j >= len(line):
        raise AsmError(loc, f"unterminated character literal ({help_})")
    if line[j] == "\\":
        if j + 1 >= len(line) or line[j + 1] not in ESCAPES:
            esc = line[j : j + 2]
            raise AsmError(loc, f"unknown escape '{esc}' in character literal ({help_})")
        value, j = ESCAPES[line[j + 1]], j + 2
    elif line[j] == "'":
        raise AsmError(loc, f"empty character literal ({help_})")
    else:
        value, j = ord(line[j]), j + 1
    if j >= len(line) or line[j] != "'":
        end = line.find("'", j)
        shown = line[i : end + 1] if end != -1 else line[i:]
        raise AsmError(loc, f"bad character literal {shown} ({help_})")
    return value, j + 1
