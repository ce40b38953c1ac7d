"""FLEQ assembly (`.isa fleq` files) -> `looped.machines.fleq.program.FleqProgram`. No JAX here.

The language is described in docs/fleq.md. The stages:

1. `.rep` blocks are unrolled by text substitution (fleq_rep.py); every line keeps its source
   line and columns.
2. The parser reads labels, directives, data (scalars, `[vectors]`, `[[matrix rows]]`,
   `.zeros`, `.eye`) and code statements, checking what it can line by line.
3. The linker resolves names, infers the shapes of number literals, checks shapes, allocates
   the constants and the scratch value, and lays every instruction out down to memory columns.

Every statement is exactly one FLEQ instruction, except `halt`, which costs one (a jump to the halt
instruction) only where the code can fall into it before the end, as in SUBLEQ files. Errors are
collected and the first one in source order is raised as `looped.program.AsmError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from looped import limits
from looped.machines.fleq.program import FUNCTIONS, MAX_MAGNITUDE, FleqInstruction, FleqProgram, Value
from looped.errors import AsmError, SourceLoc, suggest

from looped.machines.fleq.rep import SrcLine, expand_reps
from looped.assembler.lexer import INT_HELP, Token, tokenize

UNARY = ("mov", "transpose", "recip", "rsqrt", "sigmoid")
BINARY = ("add", "sub", "mul", "matmul")
assert sorted(UNARY + BINARY) == sorted(FUNCTIONS)

DIRECTIVES = (".isa", ".data", ".code", ".zeros", ".eye", ".rep", ".endr")
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
HALT = "halt"
BLANK = "_"
SCRATCH_T = "#T"

# Tallest value (rows of the machine's data block) the assembler accepts.
MAX_HEIGHT = 4096

REAL_HELP = "a number such as 2, -0.5, 1e-3 or 0x1f"

# Operand roles:
#   "f": a function name (one of FUNCTIONS)
#   "w": a value that is written (a data label or label+k; a literal is an error)
#   "W": as "w", or '_' (write nothing)
#   "r": a value that is read (a data label, label+k, or a number: a read-only constant)
#   "R": as "r", or '_' (no second input, for the unary functions)
#   "x": a flag: as "r", and it must be a scalar (1x1)
#   "c": a code operand (a code label or `halt`)


@dataclass(frozen=True)
class FleqMnemonic:
    name: str
    roles: tuple[str, ...]
    syntax: str
    meaning: str


MNEMONICS: dict[str, FleqMnemonic] = {
    m.name: m
    for m in [
        FleqMnemonic("fleq", ("f", "W", "r", "R", "x", "c"), "fleq OP, c, a, b, flag, target",
                     "c = OP(a, b); then if flag <= 0 go to target, else to the next statement"),
        FleqMnemonic("add", ("w", "r", "r"), "add c, a, b", "c = a + b"),
        FleqMnemonic("sub", ("w", "r", "r"), "sub c, a, b", "c = a - b"),
        FleqMnemonic("mul", ("w", "r", "r"), "mul c, a, b", "c = a * b (elementwise)"),
        FleqMnemonic("matmul", ("w", "r", "r"), "matmul c, a, b", "c = a @ b (matrix product)"),
        FleqMnemonic("mov", ("w", "r"), "mov c, a", "c = a"),
        FleqMnemonic("transpose", ("w", "r"), "transpose c, a", "c = a transposed"),
        FleqMnemonic("recip", ("w", "r"), "recip c, a", "c = 1 / a (elementwise)"),
        FleqMnemonic("rsqrt", ("w", "r"), "rsqrt c, a", "c = 1 / sqrt(a) (elementwise)"),
        FleqMnemonic("sigmoid", ("w", "r"), "sigmoid c, a", "c = 1 / (1 + exp(-a)) (elementwise)"),
        FleqMnemonic("jle", ("x", "c"), "jle x, L", "if x <= 0 go to L"),
        FleqMnemonic("jgt", ("x", "c"), "jgt x, L", "if x > 0 go to L (for integer-valued x)"),
        FleqMnemonic("jmp", ("c",), "jmp L", "go to L"),
        FleqMnemonic("halt", (), "halt", "stop the machine"),
        FleqMnemonic("inc", ("w",), "inc x", "x = x + 1"),
        FleqMnemonic("dec", ("w",), "dec x", "x = x - 1"),
        FleqMnemonic("clr", ("w",), "clr x", "x = 0 (every entry)"),
    ]
}

RESERVED = frozenset(MNEMONICS) | {BLANK}  # compared case-insensitively


def number_text(value: float) -> str:
    """The shortest text that reads back as `value` (an integer without '.0')."""
    value = float(value)
    if value == int(value) and abs(value) < 1e16:
        return str(int(value)) if not (value == 0 and np.signbit(value)) else "-0"
    return repr(value)


def const_name(value: float, shape: tuple[int, int]) -> str:
    """`#2.5` for a scalar constant, `#0@3x1` for a 3x1 constant of zeros."""
    h, w = shape
    return f"#{number_text(value)}" + ("" if (h, w) == (1, 1) else f"@{h}x{w}")


def describe_shape(shape: tuple[int, int]) -> str:
    h, w = shape
    if (h, w) == (1, 1):
        return "a scalar"
    if w == 1:
        return f"a {h}x1 vector"
    if h == 1:
        return f"a 1x{w} row"
    return f"a {h}x{w} matrix"


def shape_str(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


# ---- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LTok:
    """A token with the line it came from (a data value may span lines)."""

    kind: str
    text: str
    col: int
    value: int | float | None
    src: SrcLine

    describe = Token.describe


@dataclass(frozen=True)
class Operand:
    """A parsed operand: `name`, `name+k`, a number literal, or `_` (blank)."""

    loc: SourceLoc
    text: str
    kind: str  # "name", "lit" or "blank"
    name: str | None = None
    column: int | None = None  # k of name+k (negative for name-k)
    column_loc: SourceLoc | None = None
    value: float | None = None  # for a literal


@dataclass
class DataStmt:
    array: np.ndarray  # [h, w] float64
    loc: SourceLoc
    labels: list[tuple[str, SourceLoc]]


@dataclass
class CodeStmt:
    op: str  # lower-case mnemonic, or "error"
    operands: list[Operand]
    loc: SourceLoc
    source: str
    labels: list[tuple[str, SourceLoc]]
    context: str = ""  # the `.rep` repetition, appended to error messages


@dataclass
class Parsed:
    file: str
    data: list[DataStmt] = field(default_factory=list)
    code: list[CodeStmt] = field(default_factory=list)
    labels: dict[str, tuple[str, SourceLoc]] = field(default_factory=dict)  # name -> (kind, loc)
    trailing_code_labels: list[tuple[str, SourceLoc]] = field(default_factory=list)
    errors: list[AsmError] = field(default_factory=list)
    n_lines: int = 0


class _Cursor:
    """A cursor over the tokens of one statement (one line, or several for a bracketed value)."""

    def __init__(self, tokens: list[LTok], file: str, last: SrcLine):
        self.tokens, self.i, self.file, self.last = tokens, 0, file, last

    def peek(self, k: int = 0) -> LTok | None:
        j = self.i + k
        return self.tokens[j] if j < len(self.tokens) else None

    def next(self) -> LTok | None:
        tok = self.peek()
        if tok is not None:
            self.i += 1
        return tok

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)

    def loc(self, tok: LTok | None) -> SourceLoc:
        if tok is not None:
            return tok.src.loc(self.file, tok.col)
        if self.tokens:  # just after the last token (where a missing operand would go)
            last = self.tokens[-1]
            return last.src.loc(self.file, last.col + len(last.text))
        return self.last.loc(self.file, len(self.last.text.rstrip()) + 1)

    def error(self, tok: LTok | None, message: str) -> AsmError:
        src = tok.src if tok is not None else (self.tokens[-1].src if self.tokens else self.last)
        return AsmError(self.loc(tok), message + src.context)


def _is_punct(tok: LTok | None, text: str) -> bool:
    return tok is not None and tok.kind == "punct" and tok.text == text


def _is_number(tok: LTok | None) -> bool:
    return tok is not None and tok.kind in ("int", "real")


class Parser:
    def __init__(self, source: str, file: str):
        self.file = file
        self.lines, errors, n_lines = expand_reps(source, file)
        self.out = Parsed(file, errors=list(errors), n_lines=n_lines)
        self.section = "code"
        self.pending: dict[str, list[tuple[str, SourceLoc]]] = {"code": [], "data": []}
        self.seen_statement: SourceLoc | None = None
        self.isa_loc: SourceLoc | None = None

    # -- driver -------------------------------------------------------------------------------
    def parse(self) -> Parsed:
        k = 0
        while k < len(self.lines):
            src = self.lines[k]
            k += 1
            tokens = self._tokens(src)
            if tokens is None:
                continue
            # a bracketed data value may continue on the following lines
            depth = sum((t.text == "[") - (t.text == "]") for t in tokens if t.kind == "punct")
            while self.section == "data" and depth > 0 and k < len(self.lines):
                more = self._tokens(self.lines[k])
                if more is None:
                    k += 1
                    break
                if more and not (_is_number(more[0]) or more[0].text in "[]-+,"):
                    break  # not the rest of the value (a label, a directive): '[' is unclosed
                k += 1
                tokens += more
                depth += sum((t.text == "[") - (t.text == "]") for t in more if t.kind == "punct")
            cursor = _Cursor(tokens, self.file, src)
            try:
                self._line(cursor)
            except AsmError as err:
                self.out.errors.append(err)
        for name, loc in self.pending["data"]:
            self.out.errors.append(AsmError(
                loc, f"data label '{name}' is not followed by any data (expected a value such "
                     f"as '{name}: 0', '{name}: [1, 2]' or '{name}: .zeros 3')"))
        self.out.trailing_code_labels = self.pending["code"]
        return self.out

    def _tokens(self, src: SrcLine) -> list[LTok] | None:
        try:
            tokens = tokenize(src.text, self.file, src.lineno, fleq=True)
        except AsmError as err:
            self.out.errors.append(src.error(self.file, err.loc.col, err.message))
            return None
        return [LTok(t.kind, t.text, t.col, t.value, src) for t in tokens]

    # -- one statement ------------------------------------------------------------------------
    def _line(self, cur: _Cursor) -> None:
        labels = self._labels(cur)
        tok = cur.peek()
        if tok is None:
            self.pending[self.section].extend(labels)
            return
        if tok.kind == "directive":
            name = tok.text.lower()
            if name == ".zero":
                raise cur.error(tok, "'.zero' is SUBLEQ's: FLEQ data uses '.zeros H' (an Hx1 "
                                     "vector) or '.zeros H, W' (an HxW matrix)")
            if name in (".zeros", ".eye"):
                if self.section != "data":
                    raise cur.error(tok, f"'{name}' outside the data section (switch with '.data')")
                self._data(cur, labels)
                return
            if labels:
                raise cur.error(tok, f"a label cannot stand before the directive '{tok.text}' "
                                     f"(put the label on its own line or on a statement)")
            self._directive(cur, cur.next())
            return
        if self.section == "data":
            self._data(cur, labels)
        else:
            self._code(cur, labels)

    def _labels(self, cur: _Cursor) -> list[tuple[str, SourceLoc]]:
        labels = []
        while True:
            tok, nxt = cur.peek(), cur.peek(1)
            if tok is None or not _is_punct(nxt, ":"):
                break
            loc = cur.loc(tok)
            if tok.kind != "name":
                raise cur.error(tok, f"bad label name '{tok.text}' (expected a name: a letter "
                                     f"or '_' followed by letters, digits, '_' or '.')")
            if tok.text.lower() in RESERVED:
                raise cur.error(tok, f"'{tok.text}' is a reserved word and cannot be a label "
                                     f"(reserved: {', '.join(sorted(RESERVED))})")
            self._mark_statement(loc)
            previous = self.out.labels.get(tok.text)
            if previous is not None:
                hint = ""
                if tok.src.env:
                    var = tok.src.env[-1][0]
                    hint = (f"; a label inside '.rep' is defined once per repetition: make it "
                            f"unique with the variable, e.g. '{tok.text}{{{var}}}:'")
                raise cur.error(tok, f"duplicate label '{tok.text}' (first defined at line "
                                     f"{previous[1].line}, column {previous[1].col}{hint})")
            self.out.labels[tok.text] = (self.section, loc)
            labels.append((tok.text, loc))
            cur.i += 2
        return labels

    def _mark_statement(self, loc: SourceLoc) -> None:
        if self.seen_statement is None:
            self.seen_statement = loc

    # -- directives ---------------------------------------------------------------------------
    def _directive(self, cur: _Cursor, tok: LTok) -> None:
        name = tok.text.lower()
        if name in (".data", ".code"):
            self._no_more(cur, f"'{name}' takes no operands")
            self.section = name[1:]
            return
        if name == ".isa":
            arg = cur.next()
            if self.isa_loc is not None:
                raise cur.error(tok, f"'.isa' given twice (first at line {self.isa_loc.line}); "
                                     f"a file has one instruction set")
            if self.seen_statement is not None:
                raise cur.error(tok, f"'.isa' must come before any statement (the first "
                                     f"statement is at line {self.seen_statement.line})")
            self.isa_loc = cur.loc(tok)
            if arg is None or arg.kind != "name":
                raise cur.error(arg, "'.isa' expects an instruction set: 'subleq' or 'fleq'")
            if arg.text.lower() != "fleq":
                raise cur.error(arg, f"unknown instruction set '{arg.text}' "
                                     f"(expected 'subleq' or 'fleq')")
            self._no_more(cur, "'.isa' takes one operand")
            return
        if name == ".bits":
            raise cur.error(tok, "'.bits' does not apply to FLEQ programs (their values are real "
                                 "numbers, not N-bit words; remove the line)")
        if name in (".rep", ".endr"):  # only reached with a label before it
            raise cur.error(tok, f"'{name}' must stand at the start of its line")
        raise cur.error(tok, f"unknown directive '{tok.text}'" + suggest(name, DIRECTIVES)
                             + f" (expected one of {', '.join(DIRECTIVES)})")

    def _no_more(self, cur: _Cursor, what: str) -> None:
        extra = cur.peek()
        if extra is not None:
            raise cur.error(extra, f"unexpected {extra.describe()} ({what})")

    # -- data ---------------------------------------------------------------------------------
    def _data(self, cur: _Cursor, labels: list[tuple[str, SourceLoc]]) -> None:
        first = cur.peek()
        loc = cur.loc(first)
        self._mark_statement(loc)
        labels = self.pending["data"] + labels
        self.pending["data"] = []
        if first.kind == "directive":
            array = self._data_directive(cur, cur.next())
        else:
            if first.kind == "name":
                if first.text.lower() in MNEMONICS:
                    raise cur.error(first, f"instruction '{first.text}' in the data section "
                                           f"(switch to code with '.code')")
                nxt = cur.peek(1)
                if nxt is not None and (_is_number(nxt) or nxt.text in ("-", "[")):
                    raise cur.error(nxt, f"expected ':' after the label '{first.text}'")
                raise cur.error(first, f"expected a value in the data section, got "
                                       f"{first.describe()} (a number, '[...]', '.zeros' or "
                                       f"'.eye'; labels are 'name:')")
            array = self._value(cur)
            extra = cur.peek()
            if _is_punct(extra, ",") and array.shape == (1, 1):
                raise cur.error(extra, "a data label holds one value: write a vector in "
                                       "brackets, e.g. '[1, 2, 3]'")
            if extra is not None:
                raise cur.error(extra, f"unexpected {extra.describe()} after the value")
        if not labels:
            raise AsmError(loc, "data without a label (expected 'name: value'; a vector or "
                                "matrix may continue on the next lines inside its brackets)"
                           + first.src.context)
        self.out.data.append(DataStmt(array, loc, labels))

    def _data_directive(self, cur: _Cursor, tok: LTok) -> np.ndarray:
        name = tok.text.lower()
        if name == ".zeros":
            usage = "'.zeros' expects a height and an optional width, e.g. '.zeros 4' or '.zeros 4, 4'"
            h = self._size(cur, usage, "height", MAX_HEIGHT)
            w = 1
            if _is_punct(cur.peek(), ","):
                cur.next()
                w = self._size(cur, usage, "width", limits.MAX_COLUMNS)
            self._no_more(cur, "'.zeros' takes a height and an optional width")
            return np.zeros((h, w))
        if name == ".eye":
            n = self._size(cur, "'.eye' expects a size, e.g. '.eye 4'", "size", MAX_HEIGHT)
            self._no_more(cur, "'.eye' takes one size")
            return np.eye(n)
        raise cur.error(tok, f"'{tok.text}' is not a data value (expected a number, '[...]', "
                             f"'.zeros H[, W]' or '.eye N')")

    def _size(self, cur: _Cursor, usage: str, what: str, limit: int) -> int:
        tok = cur.next()
        if tok is None or tok.kind != "int":
            raise cur.error(tok, usage + (f", got {tok.describe()}" if tok else ""))
        if not 1 <= tok.value <= limit:
            raise cur.error(tok, f"{what} {tok.value} is outside 1 .. {limit}")
        return tok.value

    def _value(self, cur: _Cursor) -> np.ndarray:
        """A number, a vector '[1, 2]' or a matrix '[[1, 2], [3, 4]]' -> [h, w]."""
        if not _is_punct(cur.peek(), "["):
            return np.array([[self._number(cur)]])
        start = cur.next()
        if _is_punct(cur.peek(), "["):  # a matrix: a list of rows
            rows: list[list[float]] = []
            row_toks: list[LTok] = []
            while True:
                row_toks.append(cur.peek())
                row = self._list(cur)
                if rows and len(row) != len(rows[0]):
                    raise cur.error(row_toks[-1], f"row {len(rows) + 1} has {len(row)} "
                                                  f"number{'s' * (len(row) != 1)}, but row 1 has "
                                                  f"{len(rows[0])} (every row of a matrix has the "
                                                  f"same length)")
                rows.append(row)
                if not self._separator(cur, start, "row"):
                    break
            return np.array(rows, dtype=float)
        cur.i -= 1
        return np.array([[x] for x in self._list(cur)], dtype=float)

    def _list(self, cur: _Cursor) -> list[float]:
        """'[' numbers ']' (the cursor is on the '[')."""
        start = cur.next()
        if not _is_punct(start, "["):
            raise cur.error(start, "expected a row '[...]' (a matrix is a list of rows, e.g. "
                                   "'[[1, 2], [3, 4]]')" + (f", got {start.describe()}" if start else ""))
        if _is_punct(cur.peek(), "]"):
            raise cur.error(start, "empty brackets (a vector or a row needs at least one number)")
        values = []
        while True:
            if _is_punct(cur.peek(), "["):
                raise cur.error(cur.peek(), "too many brackets (a vector is '[1, 2]', a matrix is "
                                            "a list of rows '[[1, 2], [3, 4]]')")
            values.append(self._number(cur))
            if not self._separator(cur, start, "number"):
                return values

    def _separator(self, cur: _Cursor, start: LTok, what: str) -> bool:
        """After an element: ',' (True: another follows) or ']' (False: the list ends)."""
        tok = cur.next()
        if _is_punct(tok, ","):
            if _is_punct(cur.peek(), "]") or cur.at_end():
                raise cur.error(cur.peek(), f"expected a {what} after ','")
            return True
        if _is_punct(tok, "]"):
            return False
        if tok is None:
            raise cur.error(start, "'[' without a closing ']'")
        raise cur.error(tok, f"expected ',' or ']' after a {what}, got {tok.describe()}")

    def _number(self, cur: _Cursor) -> float:
        tok = cur.next()
        sign_tok = tok
        negative = _is_punct(tok, "-")
        if negative or _is_punct(tok, "+"):
            tok = cur.next()
        if not _is_number(tok):
            if tok is not None and tok.kind == "name":
                raise cur.error(tok, f"expected a number ({REAL_HELP}), got {tok.describe()} "
                                     f"(data holds numbers, not labels)")
            raise cur.error(tok, f"expected a number ({REAL_HELP})"
                                 + (f", got {tok.describe()}" if tok else ""))
        text = ("-" if negative else "") + tok.text
        return _check_value(cur, sign_tok, tok.value, negative, text)

    # -- code ---------------------------------------------------------------------------------
    def _code(self, cur: _Cursor, labels: list[tuple[str, SourceLoc]]) -> None:
        tok = cur.next()
        loc = cur.loc(tok)
        self._mark_statement(loc)
        labels = self.pending["code"] + labels
        self.pending["code"] = []
        src = tok.src
        last = cur.tokens[-1]
        source = src.text[tok.col - 1 : last.col - 1 + len(last.text)] if last.src is src else tok.text
        stmt = CodeStmt("error", [], loc, source, labels, src.context)
        self.out.code.append(stmt)
        try:
            self._instruction(cur, tok, stmt)
        except AsmError:
            stmt.op, stmt.operands = "error", []  # keeps its labels; produces no code
            raise

    def _instruction(self, cur: _Cursor, tok: LTok, stmt: CodeStmt) -> None:
        if _is_number(tok) or _is_punct(tok, "-") or _is_punct(tok, "["):
            raise cur.error(tok, "data in the code section (switch with '.data', then write "
                                 "'name: value')")
        if tok.kind != "name":
            raise cur.error(tok, f"expected an instruction, got {tok.describe()}")
        op = tok.text.lower()
        if op not in MNEMONICS:
            nxt = cur.peek()
            if nxt is None or nxt.kind != "punct":
                hint = suggest(op, MNEMONICS) or (f" (expected one of {', '.join(MNEMONICS)}; "
                                                  f"a label needs a ':')")
            else:
                hint = f" (expected one of {', '.join(MNEMONICS)})"
            raise cur.error(tok, f"unknown instruction '{tok.text}'{hint}")
        stmt.op = op
        mn = MNEMONICS[op]
        operands = self._operands(cur)
        n = len(mn.roles)
        if len(operands) != n:
            where = operands[n].loc if len(operands) > n else stmt.loc
            if n == 0:
                raise AsmError(where, f"'{op}' takes no operands" + stmt.context)
            hint = ""
            if op in BINARY and len(operands) == 2:
                symbol = {"add": "+", "sub": "-", "mul": "*", "matmul": "@"}[op]
                hint = f"; FLEQ names the destination: '{op} x, x, y' for x = x {symbol} y"
            raise AsmError(where, f"'{op}' takes {n} operand{'s' * (n != 1)} ({mn.syntax}), "
                                  f"got {len(operands)}{hint}" + stmt.context)
        for k, (role, operand) in enumerate(zip(mn.roles, operands)):
            self._check_operand(op, k, role, operand, stmt)
        if op == "fleq":
            fn = operands[0].name.lower()
            b = operands[3]
            if fn in UNARY and b.kind != "blank":
                raise AsmError(b.loc, f"'{fn}' takes one input: write '_' as b "
                                      f"(fleq {fn}, c, a, _, flag, target)" + stmt.context)
            if fn in BINARY and b.kind == "blank":
                raise AsmError(b.loc, f"'{fn}' takes two inputs: b cannot be '_' "
                                      f"(fleq {fn}, c, a, b, flag, target)" + stmt.context)
        stmt.operands = operands

    def _operands(self, cur: _Cursor) -> list[Operand]:
        operands: list[Operand] = []
        if cur.at_end():
            return operands
        while True:
            operands.append(self._operand(cur))
            sep = cur.next()
            if sep is None:
                return operands
            if not _is_punct(sep, ","):
                raise cur.error(sep, f"expected ',' between operands, got {sep.describe()}")
            if cur.at_end():
                raise cur.error(None, "expected an operand after ','")

    def _operand(self, cur: _Cursor) -> Operand:
        tok = cur.peek()
        if tok is None or _is_punct(tok, ","):
            raise cur.error(tok, "expected an operand")
        loc = cur.loc(tok)
        if _is_punct(tok, "-") or _is_punct(tok, "+") or _is_number(tok):
            sign = cur.next() if tok.kind == "punct" else None
            num = cur.next()
            if not _is_number(num):
                raise cur.error(num, f"expected a number after '{sign.text}' ({REAL_HELP})")
            negative = sign is not None and sign.text == "-"
            text = ("-" if negative else "") + num.text
            value = _check_value(cur, tok, num.value, negative, text)
            return Operand(loc, text, "lit", value=value)
        cur.next()
        if tok.kind != "name":
            raise cur.error(tok, f"expected an operand (a label, 'label+k', a number or '_'), "
                                 f"got {tok.describe()}")
        if tok.text == BLANK:
            return Operand(loc, BLANK, "blank")
        nxt = cur.peek()
        if nxt is not None and nxt.kind == "punct" and nxt.text in "+-":
            cur.next()
            num = cur.next()
            if num is None or num.kind != "int":
                raise cur.error(num, f"expected a column number after '{tok.text}{nxt.text}' "
                                     f"(e.g. '{tok.text}+1': column 1 of '{tok.text}')")
            k = num.value if nxt.text == "+" else -num.value
            return Operand(loc, f"{tok.text}{nxt.text}{num.text}", "name", name=tok.text,
                           column=k, column_loc=cur.loc(num))
        return Operand(loc, tok.text, "name", name=tok.text)

    def _check_operand(self, op: str, k: int, role: str, operand: Operand, stmt: CodeStmt) -> None:
        """Checks that need no label table."""
        ordinal = ORDINALS[k]
        ctx = stmt.context

        def fail(message: str, loc: SourceLoc | None = None) -> AsmError:
            return AsmError(loc or operand.loc, message + ctx)

        if role == "f":
            names = ", ".join(FUNCTIONS)
            if operand.kind != "name" or operand.column is not None:
                raise fail(f"'{op}' needs a function as its first operand (one of {names}), "
                           f"got '{operand.text}'")
            if operand.name.lower() not in FUNCTIONS:
                raise fail(f"unknown function '{operand.name}'"
                           + (suggest(operand.name.lower(), FUNCTIONS) or f" (expected one of {names})"))
            return
        if operand.kind == "blank":
            if role in ("W", "R"):
                return
            raise fail(f"'_' (nothing) cannot be the {ordinal} operand of '{op}' (only c and b "
                       f"of 'fleq OP, c, a, b, flag, target' may be '_')")
        if role == "c":
            if operand.kind == "lit":
                raise fail(f"'{op}' needs a code label or 'halt' as its {ordinal} operand, got "
                           f"the number {operand.text} (jumps go to labels)")
            if operand.column_loc is not None:
                raise fail(f"a jump target cannot have an offset ('{operand.text}'; expected a "
                           f"code label or 'halt')", operand.column_loc)
            return
        if operand.kind == "name" and operand.name.lower() == HALT:
            raise fail(f"'halt' is not a data value ('{op}' needs a data label or a number as "
                       f"its {ordinal} operand)")
        if role in ("w", "W") and operand.kind == "lit":
            raise fail(f"cannot write to the constant {operand.text}: '{op}' writes its "
                       f"{ordinal} operand; expected a data label")


def _check_value(cur: _Cursor, tok: LTok, value, negative: bool, text: str) -> float:
    """A literal's value, checked against the machine's range."""
    if abs(value) > MAX_MAGNITUDE or not np.isfinite(float(value)):
        raise cur.error(tok, f"value {text} is outside the machine's range (expected a finite "
                             f"magnitude at most {MAX_MAGNITUDE:g})")
    value = float(value)
    return -value if negative else value


def parse(source: str, file: str) -> Parsed:
    return Parser(source, file).parse()


# ---- linking --------------------------------------------------------------------------------------


@dataclass
class _Ref:
    """A resolved data operand: a value (or a column of one), a literal, or the scratch value."""

    text: str
    loc: SourceLoc | None
    shape: tuple[int, int] | None  # None: a literal whose shape is not inferred yet
    cols: tuple[int, ...] = ()  # memory columns (filled in for literals after allocation)
    value: float | None = None  # for a literal
    scratch: bool = False

    @property
    def is_literal(self) -> bool:
        return self.value is not None

    def named(self) -> str:
        return f"'{self.text}' ({shape_str(self.shape)})"


@dataclass
class _Lowered:
    """A statement as one instruction: fn c, a, b; flag; target (None refs: not used)."""

    stmt: CodeStmt
    fn: str
    c: _Ref | None
    a: _Ref | None
    b: _Ref | None
    flag: _Ref
    target: int
    b_mode: str = "none"  # "same", "scalar", "row", "column" or "none"
    result: tuple[int, int] = (0, 0)


def _always_jumps(st: CodeStmt) -> bool:
    """True when the statement never falls through to the next one."""
    ops = st.operands
    if st.op == "jmp":
        return True
    if st.op == "jle" and ops[0].kind == "lit":
        return ops[0].value <= 0
    if st.op == "jgt" and ops[0].kind == "lit":
        return ops[0].value > 0
    if st.op == "fleq" and ops[4].kind == "lit":
        return ops[4].value <= 0
    return False


def _broadcast_mode(a: tuple[int, int], b: tuple[int, int]) -> str | None:
    """How b combines with a in add/sub/mul (None: it does not)."""
    (h, w), (bh, bw) = a, b
    if a == b:
        return "same"
    if b == (1, 1):
        return "scalar"
    if (bh, bw) == (1, w) and h > 1:
        return "row"
    if (bh, bw) == (h, 1) and w > 1:
        return "column"
    return None


class Linker:
    def __init__(self, parsed: Parsed):
        self.p = parsed
        self.errors: list[AsmError] = list(parsed.errors)

    def _error(self, loc: SourceLoc | None, message: str, stmt: CodeStmt | None = None) -> None:
        self.errors.append(AsmError(loc, message + (stmt.context if stmt else "")))

    def link(self) -> FleqProgram | None:
        p = self.p
        if not p.code and not self.errors:
            raise AsmError(SourceLoc(p.file, 1, 1), "the program has no instructions (expected "
                                                    "code statements after '.code', e.g. 'halt')")
        # -- data layout ------------------------------------------------------------------------
        data: dict[str, tuple[int, tuple[int, int], SourceLoc]] = {}
        n_columns = 0
        for stmt in p.data:
            shape = stmt.array.shape
            for name, loc in stmt.labels:
                data[name] = (n_columns, shape, loc)
            n_columns += shape[1]
        self.data = data

        # -- code layout ------------------------------------------------------------------------
        code = p.code
        last_real = max((i for i, st in enumerate(code) if st.op not in ("halt", "error")),
                        default=-1)
        starts, sizes = [], []
        index, falls = 0, True
        for i, st in enumerate(code):
            if st.op == "halt":
                size = 1 if (i < last_real and falls) else 0
                falls = False
            elif st.op == "error":
                size = 0
            else:
                size = 1
                falls = not _always_jumps(st)
            starts.append(index)
            sizes.append(size)
            index += size
        halt_index = index
        code_labels: dict[str, int] = {}
        for st, start in zip(code, starts):
            for name, _ in st.labels:
                code_labels[name] = halt_index if st.op == "halt" else start
        for name, _ in p.trailing_code_labels:
            code_labels[name] = halt_index
        self.code_labels, self.halt_index = code_labels, halt_index

        # -- resolve and check every statement ------------------------------------------------
        lowered: list[_Lowered] = []
        for st, start, size in zip(code, starts, sizes):
            if size == 0:
                continue
            low = self._lower(st, start)
            if low is not None:
                lowered.append(low)
        if self.errors:
            return None

        # -- constants and scratch --------------------------------------------------------------
        consts: dict[tuple[float, tuple[int, int]], int] = {}
        const_locs: dict[tuple[float, tuple[int, int]], SourceLoc | None] = {}
        for key in ((0.0, (1, 1)), (1.0, (1, 1))):
            consts[key], const_locs[key] = -1, None
        for low in lowered:
            for ref in (low.a, low.b, low.flag):
                if ref is not None and ref.is_literal:
                    key = (ref.value, ref.shape)
                    if key not in consts:
                        consts[key], const_locs[key] = -1, ref.loc
        memory_shapes = [shape for _, shape, _ in data.values()]
        for key in consts:
            consts[key] = n_columns
            n_columns += key[1][1]
        t_col = None
        if any(ref is not None and ref.scratch for low in lowered for ref in (low.c, low.flag)):
            t_col = n_columns
            n_columns += 1
        for low in lowered:
            for ref in (low.a, low.b, low.flag):
                if ref is not None and ref.is_literal:
                    offset = consts[(ref.value, ref.shape)]
                    ref.cols = tuple(range(offset, offset + ref.shape[1]))
            for ref in (low.c, low.flag):
                if ref is not None and ref.scratch:
                    ref.cols = (t_col,)

        # -- instructions -----------------------------------------------------------------------
        instructions = [self._instruction(low) for low in lowered]
        assert len(instructions) == halt_index
        zero_col, one_col = consts[(0.0, (1, 1))], consts[(1.0, (1, 1))]
        halt_loc = code[-1].loc if code and code[-1].op == "halt" else \
            SourceLoc(p.file, max(1, p.n_lines), 1)
        instructions.append(FleqInstruction("mov", (), (), (), 0, zero_col, halt_index,
                                            loc=halt_loc, source=HALT))

        # -- memory -------------------------------------------------------------------------------
        heights = [shape[0] for shape in memory_shapes] + [shape[0] for _, shape in consts]
        height = max([1, *heights])
        memory = np.zeros((height, n_columns))
        values: dict[str, Value] = {}
        by_offset = {}
        for stmt in p.data:
            for name, loc in stmt.labels:
                offset, shape, _ = data[name]
                by_offset[offset] = stmt.array
                values[name] = Value(name, offset, shape, "user", loc)
        for offset, array in by_offset.items():
            h, w = array.shape
            memory[:h, offset : offset + w] = array
        for (value, shape), offset in consts.items():
            h, w = shape
            memory[:h, offset : offset + w] = value
            name = const_name(value, shape)
            values[name] = Value(name, offset, shape, "const", const_locs[(value, shape)])
        if t_col is not None:
            values[SCRATCH_T] = Value(SCRATCH_T, t_col, (1, 1), "scratch", None)

        program = FleqProgram(memory=memory, code=tuple(instructions), values=values,
                              code_labels=code_labels, zero_col=zero_col, one_col=one_col,
                              file=p.file)
        self._check_machine(program, lowered)
        return program

    # -- statements ---------------------------------------------------------------------------
    def _lower(self, st: CodeStmt, here: int) -> _Lowered | None:
        """Resolve a statement's operands, infer literal shapes and check shapes."""
        ops = st.operands
        nxt = here + 1
        lit = lambda v, shape=None: _Ref(f"{v:g}", st.loc, shape, value=float(v))  # noqa: E731
        ZERO, ONE = lit(0, (1, 1)), lit(1, (1, 1))  # flags: always jump, never jump

        def data(k: int) -> _Ref | None:
            return self._resolve_data(st, k, ops[k])

        op = st.op
        if op == "jmp":
            target = self._resolve_target(st, 0, ops[0])
            return None if target is None else _Lowered(st, "mov", None, None, None, ZERO, target)
        if op == "halt":
            return _Lowered(st, "mov", None, None, None, ZERO, self.halt_index)
        if op in ("jle", "jgt"):
            x, target = data(0), self._resolve_target(st, 1, ops[1])
            if x is None or target is None:
                return None
            if not self._check_flag(st, x, f"'{op}' tests a scalar (1x1)"):
                return None
            if op == "jle":
                return _Lowered(st, "mov", None, None, None, x, target)
            # jgt x, L: T = 1 - x, then jump when T <= 0 (x >= 1: x > 0 for integer x)
            t, t_flag = (_Ref(SCRATCH_T, st.loc, (1, 1), scratch=True) for _ in range(2))
            return self._shaped(_Lowered(st, "sub", t, lit(1), x, t_flag, target))
        if op in ("inc", "dec", "clr"):
            x = data(0)
            if x is None:
                return None
            if op == "clr":
                return self._shaped(_Lowered(st, "mov", x, lit(0), None, ONE, nxt))
            fn = "add" if op == "inc" else "sub"
            return self._shaped(_Lowered(st, fn, x, _Ref(x.text, x.loc, x.shape, x.cols), lit(1),
                                         ONE, nxt))
        if op == "fleq":
            fn = ops[0].name.lower()
            refs = [None if ops[k].kind == "blank" else data(k) for k in (1, 2, 3, 4)]
            target = self._resolve_target(st, 5, ops[5])
            if target is None or any(r is None and ops[k].kind != "blank"
                                     for r, k in zip(refs, (1, 2, 3, 4))):
                return None
            c, a, b, flag = refs
            if not self._check_flag(st, flag, "the flag of 'fleq' must be a scalar (1x1)"):
                return None
            return self._shaped(_Lowered(st, fn, c, a, b, flag, target))
        # call-only: OP c, a[, b]
        refs = [data(k) for k in range(len(ops))]
        if any(r is None for r in refs):
            return None
        c, a, *rest = refs
        return self._shaped(_Lowered(st, op, c, a, rest[0] if rest else None, ONE, nxt))

    def _check_flag(self, st: CodeStmt, x: _Ref, what: str) -> bool:
        if x.is_literal:
            x.shape = (1, 1)
            return True
        if x.shape != (1, 1):
            self._error(x.loc, f"{what}: '{x.text}' is {describe_shape(x.shape)}", st)
            return False
        return True

    def _shaped(self, low: _Lowered) -> _Lowered | None:
        """Infer the shapes of literals, check the shapes and compute the result's."""
        st, fn, c, a, b = low.stmt, low.fn, low.c, low.a, low.b
        if fn in ("add", "sub", "mul"):
            if fn != "sub" and a.is_literal and not b.is_literal:
                a, b = low.a, low.b = b, a  # `add c, 2, x` is `add c, x, 2`: a scalar constant
            if a.is_literal and b.is_literal:
                a.shape, b.shape = (c.shape if c else (1, 1)), (1, 1)
            elif a.is_literal:
                a.shape = c.shape if c else b.shape
            elif b.is_literal:
                b.shape = (1, 1)
            mode, swapped = _broadcast_mode(a.shape, b.shape), False
            if mode is None and fn != "sub" and _broadcast_mode(b.shape, a.shape) is not None:
                # add and mul commute: the operand that broadcasts goes second
                mode, swapped = _broadcast_mode(b.shape, a.shape), True
            if mode is None:
                h, w = a.shape
                if _broadcast_mode(b.shape, a.shape) is not None:  # sub: the larger one second
                    self._error(b.loc, f"'sub' cannot combine {a.named()} and {b.named()}: only "
                                       f"its second operand broadcasts (the first must be "
                                       f"{shape_str(b.shape)}, or a number, which takes that "
                                       f"shape)", st)
                    return None
                options = [f"{h}x{w} like the first", "a scalar (1x1)"]
                options += [f"a row (1x{w})"] if h > 1 else []
                options += [f"a column ({h}x1)"] if w > 1 else []
                self._error(b.loc, f"'{fn}' cannot combine {a.named()} and {b.named()}: the "
                                   f"second must be " + ", ".join(options[:-1]) + " or "
                                   + options[-1], st)
                return None
            low.b_mode, low.result = mode, (b if swapped else a).shape
            if swapped:
                low.a, low.b = b, a
        elif fn in ("matmul", "transpose"):
            for ref in (a, b):
                if ref is not None and ref.is_literal:
                    self._error(ref.loc, f"'{fn}' cannot take the number {ref.text} (its shape "
                                         f"would be unknown; expected a data label)", st)
                    return None
            if fn == "matmul":
                (h, k), (k2, w) = a.shape, b.shape
                if k != k2:
                    self._error(b.loc, f"'matmul' needs as many rows in b as columns in a: "
                                       f"{a.named()} has {k} column{'s' * (k != 1)}, "
                                       f"{b.named()} has {k2} row{'s' * (k2 != 1)}", st)
                    return None
                low.result, low.b_mode = (h, w), "same"
            else:
                low.result = (a.shape[1], a.shape[0])
        else:  # mov, recip, rsqrt, sigmoid
            if a.is_literal:
                a.shape = c.shape if c else (1, 1)
            low.result = a.shape
        if c is not None and c.shape != low.result:
            self._error(c.loc, f"cannot write {describe_shape(low.result)} into '{c.text}' "
                               f"({shape_str(c.shape)}): '{fn}' of "
                               + " and ".join(r.named() for r in (a, b) if r is not None)
                               + f" is {shape_str(low.result)}", st)
            return None
        return low

    def _instruction(self, low: _Lowered) -> FleqInstruction:
        st = low.stmt
        a_cols = low.a.cols if low.a is not None else ()
        b_cols: tuple[int, ...] = ()
        broadcast = False
        if low.b is not None:
            w = len(a_cols)
            if low.b_mode == "scalar":
                b_cols, broadcast = low.b.cols * w, True
            elif low.b_mode == "column":
                b_cols = low.b.cols * w
            elif low.b_mode == "row":
                b_cols, broadcast = low.b.cols, True
            else:
                b_cols = low.b.cols
        c_cols = low.c.cols if low.c is not None else ()
        c_height = low.result[0] if low.c is not None else 0
        return FleqInstruction(low.fn, tuple(a_cols), tuple(b_cols), tuple(c_cols), c_height,
                               low.flag.cols[0], low.target, broadcast, st.loc, st.source)

    def _check_machine(self, program: FleqProgram, lowered: list[_Lowered]) -> None:
        """The machine's limits: program size, and the shared index of matmul and transpose."""
        H, W = program.height, program.slots
        n_code = len(program.code)
        total = 1 + W + program.n_columns + n_code
        if total > limits.MAX_COLUMNS:
            raise AsmError(self._overflow_loc(W, program.n_columns),
                           f"program too large: {total} columns (1 + {W} slot{'s' * (W != 1)} + "
                           f"{program.n_columns} memory columns + {n_code} instructions, halt "
                           f"included) exceed the limit of {limits.MAX_COLUMNS} columns")
        for low in lowered:
            if low.fn == "matmul":
                assert low.a.shape[1] <= min(H, W), (low.a.shape, H, W)
            if low.fn == "transpose":
                assert max(low.a.shape) <= min(H, W), (low.a.shape, H, W)

    def _overflow_loc(self, slots: int, n_memory: int) -> SourceLoc:
        count = 1 + slots
        for stmt in self.p.data:
            count += stmt.array.shape[1]
            if count > limits.MAX_COLUMNS:
                return stmt.loc
        count = 1 + slots + n_memory + 1
        for st in self.p.code:
            count += st.op not in ("halt", "error")
            if count > limits.MAX_COLUMNS:
                return st.loc
        return SourceLoc(self.p.file, 1, 1)

    # -- names ----------------------------------------------------------------------------------
    def _resolve_target(self, st: CodeStmt, k: int, operand: Operand) -> int | None:
        name = operand.name
        if name.lower() == HALT:
            return self.halt_index
        entry = self.p.labels.get(name)
        if entry is None:
            code_names = [n for n, (kind, _) in self.p.labels.items() if kind == "code"]
            self._error(operand.loc, f"unknown label '{name}'" + (
                suggest(name, code_names + [HALT])
                or f" (expected a code label or 'halt' as the {ORDINALS[k]} operand of '{st.op}')"), st)
            return None
        if entry[0] == "data":
            self._error(operand.loc, f"'{name}' is a data label, but '{st.op}' needs a code label "
                                     f"or 'halt' as its {ORDINALS[k]} operand", st)
            return None
        return self.code_labels[name]

    def _resolve_data(self, st: CodeStmt, k: int, operand: Operand) -> _Ref | None:
        if operand.kind == "lit":
            return _Ref(operand.text, operand.loc, None, value=operand.value)
        name = operand.name
        ordinal = ORDINALS[k]
        entry = self.p.labels.get(name)
        if entry is None:
            data_names = [n for n, (kind, _) in self.p.labels.items() if kind == "data"]
            what = "reserved word" if name.lower() in RESERVED else "label"
            self._error(operand.loc, f"unknown {what} '{name}'" + (
                suggest(name, data_names)
                or f" (expected a data label or a number as the {ordinal} operand of '{st.op}')"), st)
            return None
        if entry[0] == "code":
            self._error(operand.loc, f"'{name}' is a code label, but '{st.op}' needs a data "
                                     f"label or a number as its {ordinal} operand", st)
            return None
        offset, (h, w), _ = self.data[name]
        if operand.column is None:
            return _Ref(name, operand.loc, (h, w), tuple(range(offset, offset + w)))
        k_col = operand.column
        if not 0 <= k_col < w:
            span = f"which has 1 column (expected '{name}' or '{name}+0')" if w == 1 else \
                f"which has {w} columns (expected '{name}+0' .. '{name}+{w - 1}')"
            self._error(operand.column_loc or operand.loc,
                        f"column {k_col} is outside '{name}' ({h}x{w}), {span}", st)
            return None
        return _Ref(operand.text, operand.loc, (h, 1), (offset + k_col,))


def link(parsed: Parsed) -> FleqProgram:
    """The FleqProgram, or raise the first error in source order."""
    linker = Linker(parsed)
    program = None
    try:
        program = linker.link()
    except AsmError as err:
        linker.errors.append(err)
    if linker.errors:
        raise min(linker.errors, key=lambda e: (e.loc.line, e.loc.col) if e.loc else (0, 0))
    return program


def assemble_fleq(source: str, file: str = "<string>") -> FleqProgram:
    """Assemble the text of a `.isa fleq` file."""
    return link(parse(source, file))
