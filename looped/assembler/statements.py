"""What every machine's assembler checks and lays out the same way: label names, the `.isa` and
other header directives, and the placing of code statements (with the implicit `halt` at the end).

The parsers differ in their cursors and tokens, so these helpers take the facts and return
messages or positions; each parser raises its own located error with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from looped.errors import SourceLoc

# The end of the "given twice" message of `.isa`.
ONE_ISA = "; a file has one instruction set"

LABEL_NAME_HELP = "expected a name: a letter or '_' followed by letters, digits, '_' or '.'"


def label_name_problem(kind: str, text: str, reserved: Iterable[str]) -> str | None:
    """Why `text` (a token of kind `kind`) cannot name a label, or None when it can."""
    reserved = set(reserved)
    if kind != "name":
        return f"bad label name '{text}' ({LABEL_NAME_HELP})"
    if text.lower() in reserved:
        return f"'{text}' is a reserved word and cannot be a label (reserved: {', '.join(sorted(reserved))})"
    return None


def header_directive_problem(name: str, first_loc: SourceLoc | None, seen_statement: SourceLoc | None,
                             once_per_file: str = "") -> str | None:
    """Why the header directive `name` (`.isa`, `.bits`) cannot stand here: given before (at
    `first_loc`) or after the first statement. `once_per_file` ends the "given twice" message."""
    if first_loc is not None:
        return f"'{name}' given twice (first at line {first_loc.line}){once_per_file}"
    if seen_statement is not None:
        return f"'{name}' must come before any statement (the first statement is at line {seen_statement.line})"
    return None


@dataclass(frozen=True)
class CodePlaces:
    """Where each code statement lands: its first instruction and how many it takes; the index of
    the machine's halt (one past the last instruction) and every code label's instruction."""

    starts: list[int]
    sizes: list[int]
    halt_index: int
    labels: dict[str, int]


def place_code(code: Sequence, size_of: Callable[[object], int], always_jumps: Callable[[object], bool],
               trailing_labels: Iterable[tuple[str, SourceLoc]] = ()) -> CodePlaces:
    """Place the statements `code` (each with `.op` and `.labels`): a `halt` takes an instruction
    only where execution can fall into it before the last real instruction (elsewhere it is the
    machine's halt, one past the end); `error` statements take none; labels on a `halt`, and
    labels after the last statement, name the halt."""
    last_real = max((i for i, st in enumerate(code) if st.op not in ("halt", "error")), default=-1)
    starts, sizes = [], []
    index, falls = 0, True
    for i, st in enumerate(code):
        if st.op == "halt":
            size = 1 if (i < last_real and falls) else 0
            falls = False
        elif st.op == "error":
            size = 0
        else:
            size = size_of(st)
            falls = not always_jumps(st)
        starts.append(index)
        sizes.append(size)
        index += size
    labels: dict[str, int] = {}
    for st, start in zip(code, starts):
        for name, _ in st.labels:
            labels[name] = index if st.op == "halt" else start
    for name, _ in trailing_labels:
        labels[name] = index
    return CodePlaces(starts, sizes, index, labels)
