"""Parse assembly source into directives, data statements and code statements. No JAX here.

The parser checks everything that can be checked line by line (syntax, operand counts and kinds
that are visible without the labels, literal ranges, writes to constants, directive placement).
Name resolution is the linker's job. Errors are collected, not raised, so that the caller can
report the first one in source order. A valid `.isa fleq` stops the parse with `isa == "fleq"`:
such files are parsed by looped/machines/fleq/assembler/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from looped import limits
from looped.assembler.statements import ONE_ISA, header_directive_problem, label_name_problem
from looped.errors import AsmError, SourceLoc, suggest

from looped.assembler.lexer import INT_HELP, Token, tokenize
from looped.machines.subleq.assembler.macros import MNEMONICS, RESERVED

DIRECTIVES = (".isa", ".bits", ".data", ".code", ".zero")


@dataclass(frozen=True)
class Operand:
    """A parsed operand: a reference `name`, `name+k`, `name-k`, or an integer literal."""

    loc: SourceLoc
    text: str
    name: str | None = None  # for a reference
    offset: int = 0  # for a reference: k of name+k (negative for name-k)
    offset_loc: SourceLoc | None = None
    value: int | None = None  # for a literal

    @property
    def is_literal(self) -> bool:
        return self.name is None


@dataclass
class DataStmt:
    values: list[int]
    loc: SourceLoc
    labels: list[tuple[str, SourceLoc]]


@dataclass
class CodeStmt:
    op: str  # lower-case mnemonic
    operands: list[Operand]
    loc: SourceLoc
    source: str
    labels: list[tuple[str, SourceLoc]]


@dataclass
class Parsed:
    file: str
    bits: int = limits.DEFAULT_BITS
    isa: str = "subleq"
    data: list[DataStmt] = field(default_factory=list)
    code: list[CodeStmt] = field(default_factory=list)
    # every label, in definition order: name -> ("data" | "code", loc)
    labels: dict[str, tuple[str, SourceLoc]] = field(default_factory=dict)
    trailing_code_labels: list[tuple[str, SourceLoc]] = field(default_factory=list)
    errors: list[AsmError] = field(default_factory=list)
    n_lines: int = 0


class _SwitchToFleq(Exception):
    """Raised by a valid `.isa fleq`: the rest of the file is not SUBLEQ."""


class _Line:
    """A cursor over the tokens of one line."""

    def __init__(self, tokens: list[Token], file: str, lineno: int, text: str):
        self.tokens, self.i, self.file, self.lineno, self.text = tokens, 0, file, lineno, text

    def loc(self, col: int) -> SourceLoc:
        return SourceLoc(self.file, self.lineno, col)

    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.tokens[j] if j < len(self.tokens) else None

    def next(self) -> Token | None:
        tok = self.peek()
        if tok is not None:
            self.i += 1
        return tok

    def end_col(self) -> int:
        """Column just after the last token (where a missing operand would go)."""
        if self.tokens:
            last = self.tokens[-1]
            return last.col + len(last.text)
        return len(self.text.rstrip()) + 1

    def error(self, tok: Token | None, message: str) -> AsmError:
        return AsmError(self.loc(tok.col if tok else self.end_col()), message)

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)


class Parser:
    def __init__(self, source: str, file: str):
        self.source, self.file = source, file
        self.out = Parsed(file)
        self.section = "code"
        self.pending: dict[str, list[tuple[str, SourceLoc]]] = {"code": [], "data": []}
        self.seen_statement: SourceLoc | None = None  # first label/data/code statement
        self.isa_loc: SourceLoc | None = None
        self.bits_loc: SourceLoc | None = None

    # -- driver -------------------------------------------------------------------------------
    def parse(self) -> Parsed:
        try:
            return self._parse()
        except _SwitchToFleq:  # `.isa fleq`: the caller assembles the file as FLEQ
            return self.out

    def _parse(self) -> Parsed:
        lines = self.source.splitlines()
        self.out.n_lines = len(lines)
        for lineno, text in enumerate(lines, start=1):
            try:
                tokens = tokenize(text, self.file, lineno)
            except AsmError as err:
                self.out.errors.append(err)
                continue
            line = _Line(tokens, self.file, lineno, text)
            try:
                self._line(line)
            except AsmError as err:
                self.out.errors.append(err)
        for name, loc in self.pending["data"]:
            self.out.errors.append(AsmError(
                loc, f"data label '{name}' is not followed by any data "
                     f"(expected values such as '{name}: 0' or '{name}: .zero 4')"))
        self.out.trailing_code_labels = self.pending["code"]
        return self.out

    # -- one line -----------------------------------------------------------------------------
    def _line(self, line: _Line) -> None:
        labels = self._labels(line)
        tok = line.peek()
        if tok is None:
            self.pending[self.section].extend(labels)
            return
        if tok.kind == "directive":
            name = tok.text.lower()
            if name == ".zero":
                if self.section != "data":
                    raise line.error(tok, "'.zero' outside the data section (switch with '.data')")
                self._data(line, labels)
                return
            if labels:
                raise line.error(tok, f"a label cannot stand before the directive '{tok.text}' "
                                      f"(put the label on its own line or on a statement)")
            self._directive(line, line.next())
            return
        if self.section == "data":
            self._data(line, labels)
        else:
            self._code(line, labels)

    def _labels(self, line: _Line) -> list[tuple[str, SourceLoc]]:
        labels = []
        while True:
            tok, nxt = line.peek(), line.peek(1)
            if tok is None or nxt is None or nxt.kind != "punct" or nxt.text != ":":
                break
            loc = line.loc(tok.col)
            problem = label_name_problem(tok.kind, tok.text, RESERVED)
            if problem:
                raise line.error(tok, problem)
            self._mark_statement(loc)
            kind = self.section
            previous = self.out.labels.get(tok.text)
            if previous is not None:
                raise line.error(tok, f"duplicate label '{tok.text}' (first defined at "
                                      f"line {previous[1].line}, column {previous[1].col})")
            self.out.labels[tok.text] = (kind, loc)
            labels.append((tok.text, loc))
            line.i += 2
        return labels

    def _mark_statement(self, loc: SourceLoc) -> None:
        if self.seen_statement is None:
            self.seen_statement = loc

    # -- directives ---------------------------------------------------------------------------
    def _directive(self, line: _Line, tok: Token) -> None:
        name = tok.text.lower()
        if name in (".data", ".code"):
            self._no_more(line, f"'{name}' takes no operands")
            self.section = name[1:]
            return
        if name == ".isa":
            arg = line.next()
            problem = header_directive_problem(".isa", self.isa_loc, self.seen_statement, ONE_ISA)
            if problem:
                raise line.error(tok, problem)
            self.isa_loc = line.loc(tok.col)
            if arg is None or arg.kind != "name":
                raise line.error(arg, "'.isa' expects an instruction set: 'subleq' or 'fleq'")
            isa = arg.text.lower()
            if isa == "fleq":  # the whole file is FLEQ: looped/machines/fleq/assembler/ parses it
                self.out.isa = "fleq"
                raise _SwitchToFleq()
            if isa != "subleq":
                raise line.error(arg, f"unknown instruction set '{arg.text}' "
                                      f"(expected 'subleq' or 'fleq')")
            self._no_more(line, "'.isa' takes one operand")
            return
        if name == ".bits":
            arg = line.next()
            problem = header_directive_problem(".bits", self.bits_loc, self.seen_statement)
            if problem:
                raise line.error(tok, problem)
            self.bits_loc = line.loc(tok.col)
            negative = arg is not None and arg.kind == "punct" and arg.text == "-"
            if negative:
                arg = line.next()
            if arg is None or arg.kind != "int":
                raise line.error(arg, f"'.bits' expects a word size in bits, an integer from "
                                      f"{limits.MIN_BITS} to {limits.MAX_BITS}")
            bits = -arg.value if negative else arg.value
            if not limits.MIN_BITS <= bits <= limits.MAX_BITS:
                raise line.error(arg, f"'.bits {bits}' is outside what the machine runs exactly "
                                      f"(expected {limits.MIN_BITS} to {limits.MAX_BITS})")
            self._no_more(line, "'.bits' takes one operand")
            self.out.bits = bits
            return
        raise line.error(tok, f"unknown directive '{tok.text}'"
                              + suggest(name, DIRECTIVES)
                              + f" (expected one of {', '.join(DIRECTIVES)})")

    def _no_more(self, line: _Line, what: str) -> None:
        extra = line.peek()
        if extra is not None:
            raise line.error(extra, f"unexpected {extra.describe()} ({what})")

    # -- data ---------------------------------------------------------------------------------
    def _data(self, line: _Line, labels: list[tuple[str, SourceLoc]]) -> None:
        first = line.peek()
        loc = line.loc(first.col)
        self._mark_statement(loc)
        labels = self.pending["data"] + labels
        self.pending["data"] = []
        if first.kind == "directive" and first.text.lower() == ".zero":
            line.next()
            count = line.next()
            if count is None or count.kind != "int":
                raise line.error(count, "'.zero' expects a count of cells, e.g. '.zero 8'")
            if count.value < 1:
                raise line.error(count, "'.zero' needs at least 1 cell")
            if count.value > limits.MAX_COLUMNS:
                raise line.error(count, f"program too large: '.zero {count.value}' alone "
                                        f"exceeds the limit of {limits.MAX_COLUMNS} columns")
            self._no_more(line, "'.zero' takes one count")
            values = [0] * count.value
        else:
            if first.kind == "name":
                if first.text.lower() in MNEMONICS:
                    raise line.error(first, f"instruction '{first.text}' in the data section "
                                            f"(switch to code with '.code')")
                nxt = line.peek(1)
                if nxt is not None and (nxt.kind == "int" or nxt.text == "-"):
                    raise line.error(nxt, f"expected ':' after the label '{first.text}'")
                raise line.error(first, f"expected a number in the data section, got "
                                        f"{first.describe()} (data cells hold integers; "
                                        f"labels are 'name:')")
            values = []
            while True:
                values.append(self._value(line))
                sep = line.next()
                if sep is None:
                    break
                if sep.kind != "punct" or sep.text != ",":
                    raise line.error(sep, f"expected ',' between data values, got {sep.describe()}")
                if line.at_end():
                    raise line.error(None, "expected a value after ','")
        if not labels and not self.out.data:
            raise AsmError(loc, "data without a label (expected 'name: value, ...'; a data line "
                                "without a label continues the array above it)")
        self.out.data.append(DataStmt(values, loc, labels))

    def _value(self, line: _Line) -> int:
        tok = line.next()
        negative = tok is not None and tok.kind == "punct" and tok.text == "-"
        sign_tok = tok
        if negative:
            tok = line.next()
        if tok is None or tok.kind != "int":
            raise line.error(tok, f"expected an integer value ({INT_HELP})"
                             + (f", got {tok.describe()}" if tok else ""))
        value = -tok.value if negative else tok.value
        self._check_fits(line, sign_tok, value, "value")
        return value

    def _check_fits(self, line: _Line, tok: Token, value: int, what: str) -> None:
        low, high = -(1 << (self.out.bits - 1)), (1 << (self.out.bits - 1)) - 1
        if not low <= value <= high:
            raise line.error(tok, f"{what} {value} does not fit in {self.out.bits} bits "
                                  f"(expected {low} .. {high})")

    # -- code ---------------------------------------------------------------------------------
    def _code(self, line: _Line, labels: list[tuple[str, SourceLoc]]) -> None:
        tok = line.next()
        loc = line.loc(tok.col)
        self._mark_statement(loc)
        labels = self.pending["code"] + labels
        self.pending["code"] = []
        # Labels are defined even if the rest of the line is wrong (fewer follow-on errors).
        stmt = CodeStmt("error", [], loc, self._source_text(line, tok), labels)
        self.out.code.append(stmt)
        try:
            self._instruction(line, tok, stmt)
        except AsmError:
            stmt.op, stmt.operands = "error", []  # keeps its labels; produces no code
            raise

    def _instruction(self, line: _Line, tok: Token, stmt: CodeStmt) -> None:
        loc = stmt.loc
        if tok.kind == "int" or (tok.kind == "punct" and tok.text == "-"):
            raise line.error(tok, "data in the code section (switch with '.data', "
                                  "then write 'name: value')")
        if tok.kind != "name":
            raise line.error(tok, f"expected an instruction, got {tok.describe()}")
        op = tok.text.lower()
        if op not in MNEMONICS:
            nxt = line.peek()
            hint = ""
            if nxt is None or nxt.kind != "punct":
                close = suggest(op, MNEMONICS)
                hint = close if close else (
                    f" (expected one of {', '.join(MNEMONICS)}; a label needs a ':')")
            else:
                hint = f" (expected one of {', '.join(MNEMONICS)})"
            raise line.error(tok, f"unknown instruction '{tok.text}'{hint}")
        stmt.op = op
        mn = MNEMONICS[op]
        operands = self._operands(line)
        n_min, n_max = len(mn.roles), len(mn.roles) + len(mn.optional)
        if not n_min <= len(operands) <= n_max:
            want = f"{n_min}" if n_min == n_max else f"{n_min} or {n_max}"
            plural = "" if n_max == 1 else "s"
            where = operands[n_max].loc if len(operands) > n_max else loc
            if n_max == 0:
                raise AsmError(where, f"'{op}' takes no operands")
            raise AsmError(where, f"'{op}' takes {want} operand{plural} ({mn.syntax}), "
                                  f"got {len(operands)}")
        roles = (mn.roles + mn.optional)[: len(operands)]
        for k, (role, operand) in enumerate(zip(roles, operands)):
            self._check_operand(line, op, mn, k, role, operand, operands)
        stmt.operands = operands

    def _source_text(self, line: _Line, first: Token) -> str:
        last = line.tokens[-1]
        return line.text[first.col - 1 : last.col - 1 + len(last.text)]

    def _operands(self, line: _Line) -> list[Operand]:
        operands: list[Operand] = []
        if line.at_end():
            return operands
        while True:
            operands.append(self._operand(line))
            sep = line.next()
            if sep is None:
                return operands
            if sep.kind != "punct" or sep.text != ",":
                raise line.error(sep, f"expected ',' between operands, got {sep.describe()}")
            if line.at_end():
                raise line.error(None, "expected an operand after ','")

    def _operand(self, line: _Line) -> Operand:
        tok = line.next()
        if tok is None:
            raise line.error(None, "expected an operand")
        loc = line.loc(tok.col)
        if tok.kind == "punct" and tok.text == "-":
            num = line.next()
            if num is None or num.kind != "int":
                raise line.error(num, f"expected a number after '-' ({INT_HELP})")
            value = -num.value
            self._check_fits(line, tok, value, "literal")
            return Operand(loc, f"-{num.text}", value=value)
        if tok.kind == "int":
            self._check_fits(line, tok, tok.value, "literal")
            return Operand(loc, tok.text, value=tok.value)
        if tok.kind != "name":
            raise line.error(tok, f"expected an operand (a label, 'label+k' or a number), "
                                  f"got {tok.describe()}")
        nxt = line.peek()
        if nxt is not None and nxt.kind == "punct" and nxt.text in "+-":
            line.next()
            num = line.next()
            if num is None or num.kind != "int":
                raise line.error(num, f"expected a number after '{tok.text}{nxt.text}' "
                                      f"(an offset such as '{tok.text}{nxt.text}1')")
            k = num.value if nxt.text == "+" else -num.value
            return Operand(loc, f"{tok.text}{nxt.text}{num.text}", name=tok.text, offset=k,
                           offset_loc=line.loc(num.col))
        return Operand(loc, tok.text, name=tok.text)

    def _check_operand(self, line, op, mn, k, role, operand: Operand, operands) -> None:
        """Checks that need no label table: literals where a label must be, and vice versa."""
        ordinal = ["first", "second", "third"][k]
        if role == "c":
            if operand.is_literal:
                raise AsmError(operand.loc, f"'{op}' needs a code label or 'halt' as its "
                                            f"{ordinal} operand, got the number {operand.text} "
                                            f"(jumps go to labels)")
            if operand.offset_loc is not None:
                raise AsmError(operand.offset_loc, f"a jump target cannot have an offset "
                                                   f"('{operand.text}'; expected a code label or 'halt')")
            return
        if operand.name is not None and operand.name.lower() == "halt":
            raise AsmError(operand.loc, f"'halt' is not a data cell ('{op}' needs a data label "
                                        f"or a number as its {ordinal} operand)")
        if role == "w" and operand.is_literal:
            written = "B is written (mem[B] -= mem[A])" if op == "subleq" else \
                f"'{op}' writes its {ordinal} operand"
            raise AsmError(operand.loc, f"cannot write to the constant {operand.text}: "
                                        f"{written}; expected a data label")


def parse(source: str, file: str) -> Parsed:
    return Parser(source, file).parse()
