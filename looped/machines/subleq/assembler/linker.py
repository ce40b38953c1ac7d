"""Lay out memory, resolve names and expand statements into the final `Program`. No JAX here.

Memory: the user's data cells in declaration order, then the constant pool (`#0`, `#-1`, then
every other literal in order of first use), then the assembler's scratch cells (`#T`, only if a
macro needs it). Code: the statements' instructions in source order, then the halt column.
"""

from __future__ import annotations

from looped import limits
from looped.assembler.statements import place_code
from looped.errors import AsmError, SourceLoc, suggest
from looped.machines.subleq.program import Cell, Instruction, Program

from looped.machines.subleq.assembler.macros import SIZES, USES_T, Hidden, expand, MNEMONICS
from looped.machines.subleq.assembler.parser import CodeStmt, Operand, Parsed

HALT = "halt"


def const_name(value: int) -> str:
    return f"#{value}"


SCRATCH_T = "#T"


def _always_jumps(st: CodeStmt) -> bool:
    """True when the statement never falls through to the next one (so a `halt` after it is
    unreachable by falling through and needs no instruction)."""
    ops = st.operands
    if st.op == "jmp":
        return True
    if st.op == "jle" and ops[0].is_literal:
        return ops[0].value <= 0
    if st.op == "jgt" and ops[0].is_literal:
        return ops[0].value > 0
    if st.op == "subleq" and len(ops) == 3 and ops[0].is_literal and ops[1].is_literal:
        return ops[0].value == 0 and ops[1].value <= 0
    return False


class Linker:
    def __init__(self, parsed: Parsed):
        self.p = parsed
        self.errors: list[AsmError] = list(parsed.errors)

    def link(self) -> Program | None:
        p = self.p
        # -- data layout ------------------------------------------------------------------------
        memory: list[int] = []
        data: dict[str, list] = {}  # name -> [offset, length, loc]
        current: list[str] = []
        for stmt in p.data:
            offset = len(memory)
            memory.extend(stmt.values)
            if stmt.labels:
                current = [name for name, _ in stmt.labels]
                for name, loc in stmt.labels:
                    data[name] = [offset, len(stmt.values), loc]
            else:  # a data line without a label continues the array above it
                for name in current:
                    data[name][1] += len(stmt.values)
        self.data = data

        # -- code layout ------------------------------------------------------------------------
        code = p.code
        places = place_code(code, lambda st: SIZES[st.op], _always_jumps, p.trailing_code_labels)
        starts, sizes, halt_index = places.starts, places.sizes, places.halt_index
        self.code_labels = places.labels
        self._halt_index = halt_index

        # -- resolve operands (collecting errors) ---------------------------------------------
        resolved: list[list] = []
        for st in code:
            resolved.append([self._resolve(st, k, op) for k, op in enumerate(st.operands)]
                            if st.op not in ("halt", "error") else [])
        if self.errors:
            return None

        # -- constant pool and scratch ----------------------------------------------------------
        consts: dict[int, int] = {}

        def const(value: int) -> int:
            if value not in consts:
                consts[value] = -1  # offset assigned below
            return value

        const(0)
        const(-1)
        for st, ops in zip(code, resolved):
            if st.op == "dec":
                const(1)
            for operand in st.operands:
                if operand.is_literal:
                    const(operand.value)
        n_user = len(memory)
        for value in consts:
            consts[value] = len(memory)
            memory.append(value)
        t_offset = None
        if any(st.op in USES_T for st in code):
            t_offset = len(memory)
            memory.append(0)
        hidden = Hidden(Z=consts[0], T=t_offset, ONE=consts.get(1), MINUS_ONE=consts[-1])

        # -- size limit -------------------------------------------------------------------------
        n_code = halt_index + 1
        total = 1 + len(memory) + n_code
        if total > limits.MAX_COLUMNS:
            raise AsmError(self._overflow_loc(len(memory), sizes),
                           f"program too large: {total} columns (1 + {len(memory)} memory cells "
                           f"+ {n_code} instructions, halt column included) exceed the limit of "
                           f"{limits.MAX_COLUMNS} columns")

        # -- instructions -----------------------------------------------------------------------
        instructions: list[Instruction] = []
        for st, ops, start, size in zip(code, resolved, starts, sizes):
            if size == 0:
                continue
            if st.op == "halt":
                triples = [(hidden.Z, hidden.Z, halt_index)]
            else:
                operands = [self._value_of(r, consts) for r in ops]
                triples = expand(st.op, operands, hidden, start, start + size)
            for a, b, c in triples:
                instructions.append(Instruction(a, b, c, st.loc, st.source))
        assert len(instructions) == halt_index
        halt_loc = code[-1].loc if code and code[-1].op == "halt" else \
            SourceLoc(p.file, max(1, p.n_lines), 1)
        instructions.append(Instruction(hidden.Z, hidden.MINUS_ONE, halt_index, halt_loc, HALT))

        # -- cells ------------------------------------------------------------------------------
        cells: dict[str, Cell] = {}
        for name, (offset, length, loc) in data.items():
            cells[name] = Cell(name, offset, length, "user", loc)
        for value, offset in consts.items():
            cells[const_name(value)] = Cell(const_name(value), offset, 1, "const", None)
        if t_offset is not None:
            cells[SCRATCH_T] = Cell(SCRATCH_T, t_offset, 1, "scratch", None)
        assert n_user + len(consts) + (t_offset is not None) == len(memory)

        return Program(bits=p.bits, memory=tuple(memory), code=tuple(instructions), cells=cells,
                       code_labels=self.code_labels, file=p.file, isa=p.isa)

    @staticmethod
    def _value_of(r, consts: dict[int, int]) -> int:
        kind, v = r
        return consts[v] if kind == "lit" else v

    def _resolve(self, st: CodeStmt, k: int, operand: Operand):
        """("lit", value) or ("at", offset/index); records an error and returns None if wrong."""
        mn = MNEMONICS[st.op]
        role = (mn.roles + mn.optional)[k]
        ordinal = ["first", "second", "third"][k]
        if operand.is_literal:
            return ("lit", operand.value)
        name = operand.name
        if role == "c":
            if name.lower() == HALT:
                return ("at", self._halt_index)
            entry = self.p.labels.get(name)
            if entry is None:
                code_names = [n for n, (kind, _) in self.p.labels.items() if kind == "code"]
                self._error(operand.loc, f"unknown label '{name}'" + (
                    suggest(name, code_names + [HALT])
                    or f" (expected a code label or 'halt' as the {ordinal} operand of '{st.op}')"))
                return None
            if entry[0] == "data":
                self._error(operand.loc, f"'{name}' is a data label, but '{st.op}' needs a code "
                                         f"label or 'halt' as its {ordinal} operand")
                return None
            return ("at", self.code_labels[name])
        entry = self.p.labels.get(name)
        if entry is None:
            data_names = [n for n, (kind, _) in self.p.labels.items() if kind == "data"]
            what = "reserved word" if name.lower() in MNEMONICS else "label"
            self._error(operand.loc, f"unknown {what} '{name}'" + (
                suggest(name, data_names)
                or f" (expected a data label or a number as the {ordinal} operand of '{st.op}')"))
            return None
        if entry[0] == "code":
            self._error(operand.loc, f"'{name}' is a code label, but '{st.op}' needs a data "
                                     f"label or a number as its {ordinal} operand")
            return None
        offset, length, _ = self.data[name]
        if not 0 <= operand.offset < length:
            span = f"which is 1 cell (expected '{name}' or '{name}+0')" if length == 1 else \
                f"which has {length} cells (expected '{name}+0' .. '{name}+{length - 1}')"
            self._error(operand.offset_loc or operand.loc,
                        f"offset {operand.offset:+d} is outside '{name}', {span}")
            return None
        return ("at", offset + operand.offset)

    def _error(self, loc: SourceLoc, message: str) -> None:
        self.errors.append(AsmError(loc, message))

    def _overflow_loc(self, n_memory: int, sizes: list[int]) -> SourceLoc:
        count = 1
        for stmt in self.p.data:
            count += len(stmt.values)
            if count > limits.MAX_COLUMNS:
                return stmt.loc
        count = 1 + n_memory + 1  # the halt column
        for st, size in zip(self.p.code, sizes):
            count += size
            if count > limits.MAX_COLUMNS:
                return st.loc
        return SourceLoc(self.p.file, 1, 1)


def link(parsed: Parsed) -> Program:
    """The Program, or raise the first error in source order."""
    linker = Linker(parsed)
    program = None
    try:
        program = linker.link()
    except AsmError as err:
        linker.errors.append(err)
    if linker.errors:
        raise min(linker.errors, key=lambda e: (e.loc.line, e.loc.col) if e.loc else (0, 0))
    return program
