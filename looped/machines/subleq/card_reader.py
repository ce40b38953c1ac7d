"""A SUBLEQ program read back off an exported punch card (`looped disasm MACHINE.npz`).

Only the card is read (the state X and its layout): memory values from the `mem` rows of the
memory tokens, instructions from the `instr` rows of the command tokens, names from the layout's
`cells` and `code_labels`, source lines from its `source`. The program is then listed like an
assembled one (looped/machines/subleq/disasm.py), so the listing assembles and runs to the same
memory, labels included.
"""

from __future__ import annotations

import numpy as np

from looped.errors import SourceLoc
from looped.layout import decode_signed, decode_unsigned
from looped.machines.subleq.program import Cell, Instruction, Program


def _loc(text: str | None) -> SourceLoc | None:
    """`file:line:col` back to a SourceLoc (None when absent or unreadable)."""
    if not text:
        return None
    file, _, rest = text.rpartition(":")
    file, _, line = file.rpartition(":")
    try:
        return SourceLoc(file, int(line), int(rest))
    except ValueError:
        return None


def program_from_card(X: np.ndarray, layout: dict, file: str = "<card>") -> Program:
    """The SUBLEQ Program on an exported card: the memory zone's values, the code zone's
    instructions (the halt column last), the cells' and code labels' names."""
    rows, zones = layout["rows"], layout["zones"]
    m0, m1 = zones["memory"]
    c0, c1 = zones["code"]
    memory = tuple(int(v) for v in decode_signed(np.asarray(X)[m0:m1, slice(*rows["mem"])]))
    sources = {entry["token"]: entry for entry in layout.get("source", [])}
    fields = [slice(*rows[f"instr.{f}"]) for f in "abc"]
    code = []
    for token in range(c0, c1):
        a, b, c = (int(decode_unsigned(np.asarray(X)[token, f])) for f in fields)
        entry = sources.get(token, {})
        code.append(Instruction(a - m0, b - m0, c - c0, _loc(entry.get("loc")), entry.get("text") or ""))
    if layout.get("halt_pc") != c1 - 1:
        raise ValueError("the halt column is not the card's last command token")
    cells = {name: Cell(name, token - m0, length, kind)
             for name, (token, length, kind) in layout.get("cells", {}).items()}
    labels = {name: token - c0 for name, token in layout.get("code_labels", {}).items()}
    return Program(bits=int(layout["bits"]), memory=memory, code=tuple(code), cells=cells, code_labels=labels,
                   file=file)
