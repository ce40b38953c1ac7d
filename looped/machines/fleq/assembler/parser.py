"""FLEQ assembly, stage 2: the parser reads labels, directives, data (scalars, `[vectors]`,
`[[matrix rows]]`, `.zeros`, `.eye`) and code statements, checking what it can line by line."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from looped import limits
from looped.assembler.statements import ONE_ISA, header_directive_problem, label_name_problem
from looped.errors import AsmError, SourceLoc, suggest
from looped.machines.fleq.program import FUNCTIONS, MAX_MAGNITUDE
from looped.assembler.lexer import Token, tokenize
from looped.machines.fleq.assembler.rep import SrcLine, expand_reps
from looped.machines.fleq.assembler.language import (MNEMONICS, BINARY, BLANK, DIRECTIVES, HALT,
                                                     MAX_HEIGHT, ORDINALS, REAL_HELP, RESERVED,
                                                     UNARY)


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
            problem = label_name_problem(tok.kind, tok.text, RESERVED)
            if problem:
                raise cur.error(tok, problem)
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
            problem = header_directive_problem(".isa", self.isa_loc, self.seen_statement, ONE_ISA)
            if problem:
                raise cur.error(tok, problem)
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
    value = float(value)  # (a subnormal is held as 0 with a mark: reading it faults; program.py)
    return -value if negative else value


def parse(source: str, file: str) -> Parsed:
    return Parser(source, file).parse()


# ---- linking --------------------------------------------------------------------------------------
