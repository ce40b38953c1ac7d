"""FLEQ assembly, stage 3: the linker resolves names, infers the shapes of number literals,
checks shapes, allocates the constants and the scratch value, and lays every instruction out
down to memory columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from looped import limits
from looped.assembler.statements import place_code
from looped.errors import AsmError, SourceLoc, suggest
from looped.machines.fleq.program import FleqInstruction, FleqProgram, Value
from looped.machines.fleq.assembler.language import (HALT, ORDINALS, RESERVED, ROW_ONLY, SCRATCH_T,
                                                     const_name, describe_shape, shape_str)
from looped.machines.fleq.assembler.parser import (CodeStmt, Operand, Parsed)


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
        places = place_code(code, lambda st: 1, _always_jumps, p.trailing_code_labels)
        starts, sizes, halt_index = places.starts, places.sizes, places.halt_index
        self.code_labels, self.halt_index = places.labels, halt_index

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
                              code_labels=self.code_labels, zero_col=zero_col, one_col=one_col,
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
        elif fn == "scale":
            if a.is_literal:
                a.shape = c.shape if c else (1, 1)
            if b.is_literal:
                b.shape = (1, 1)
            if b.shape != (1, 1):
                self._error(b.loc, f"'scale' takes a scalar power of two b (1x1): {b.named()}", st)
                return None
            low.b_mode, low.result = "scalar", a.shape
        else:  # mov, recip, rsqrt, sigmoid, exponent
            if a.is_literal:
                a.shape = c.shape if c else (1, 1)
            low.result = a.shape
        if fn in ROW_ONLY and a.shape[0] != 1:
            self._error(a.loc, f"'{fn}' acts on scalars and rows (1xw): {a.named()} has "
                               f"{a.shape[0]} rows", st)
            return None
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
        if name not in self.data:  # its declaration had an error, reported there
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
