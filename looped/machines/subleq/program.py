"""An assembled program: memory image, instructions and labels. No JAX here.

A `Program` is what the assembler produces and what the punch card encodes. Addresses are
zone-relative: an instruction's `a` and `b` index the memory zone (cell 0 is the first memory
column), `c` indexes the code zone (instruction 0 is the first command column). The last
instruction is always the halt column: the EOF self-loop `subleq ZERO, MINUS_ONE, itself`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from looped.errors import AsmError, SourceLoc, suggest


@dataclass(frozen=True)
class Cell:
    """A labelled run of memory cells.

    kind: "user" (a data label of the program: settable with --set, shown in the output),
    "const" (a read-only literal from the constant pool) or "scratch" (the assembler's own).
    """

    name: str
    offset: int
    length: int
    kind: str = "user"
    loc: SourceLoc | None = None


@dataclass(frozen=True)
class Instruction:
    """`mem[b] -= mem[a]; if mem[b] <= 0 goto c else next` (zone-relative indices)."""

    a: int
    b: int
    c: int
    loc: SourceLoc | None = None
    source: str = ""


@dataclass(frozen=True)
class Program:
    bits: int
    memory: tuple[int, ...]
    code: tuple[Instruction, ...]
    cells: Mapping[str, Cell] = field(default_factory=dict)
    code_labels: Mapping[str, int] = field(default_factory=dict)
    file: str = "<program>"
    isa: str = "subleq"

    @property
    def halt_index(self) -> int:
        """Code index of the halt column (the EOF self-loop), always the last instruction."""
        return len(self.code) - 1

    @property
    def user_cells(self) -> dict[str, Cell]:
        return {name: cell for name, cell in self.cells.items() if cell.kind == "user"}

    def cell_names(self) -> list[str]:
        """A name for every memory cell: `label`, `label+k` inside an array, `#i` for the rest."""
        names = [f"#{i}" for i in range(len(self.memory))]
        for name, cell in self.cells.items():
            for k in range(cell.length):
                names[cell.offset + k] = name if cell.length == 1 else f"{name}+{k}"
        return names

    def value_range(self) -> tuple[int, int]:
        return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1

    def outputs(self, memory: Sequence[int]) -> dict[str, int | list[int]]:
        """The value of every user data label in `memory` (an int for one cell, else a list)."""
        result: dict[str, int | list[int]] = {}
        for name, cell in self.user_cells.items():
            values = [int(v) for v in memory[cell.offset : cell.offset + cell.length]]
            result[name] = values[0] if cell.length == 1 else values
        return result

    def with_settings(self, settings: Mapping[str, object],
                      locations: Mapping[str, SourceLoc] | None = None) -> "Program":
        """A copy with data labels set from outside (`--set`, `--sets`). `locations` names where
        each setting was written, for the error message."""
        memory = list(self.memory)
        for name, value in settings.items():
            loc = (locations or {}).get(name)
            cell = self.cells.get(name)
            if cell is None or cell.kind != "user":
                known = ", ".join(sorted(self.user_cells)) or "none"
                raise AsmError(loc, f"unknown data label '{name}'{suggest(name, self.user_cells)} "
                                    f"(expected one of: {known})")
            if hasattr(value, "tolist"):  # numpy arrays and scalars (from Python callers)
                value = value.tolist()
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            self._check_setting(cell, values, loc)
            memory[cell.offset : cell.offset + cell.length] = values
        return dataclasses.replace(self, memory=tuple(memory))

    def _check_setting(self, cell: Cell, values: list, loc: SourceLoc | None) -> None:
        low, high = self.value_range()
        if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise AsmError(loc, f"'{cell.name}' takes integers, got {values if cell.length > 1 else values[0]!r}")
        if len(values) != cell.length:
            shape = "one value" if cell.length == 1 else f"a list of {cell.length} values"
            raise AsmError(loc, f"'{cell.name}' has {cell.length} cell{'s' * (cell.length != 1)}: "
                                f"expected {shape}, got {len(values)}")
        for v in values:
            if not low <= v <= high:
                raise AsmError(loc, f"value {v} for '{cell.name}' does not fit in {self.bits} bits "
                                    f"(expected {low} .. {high})")
