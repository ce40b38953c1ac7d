"""`looped disasm MACHINE.npz`: read the program back off an exported punch card.

Only the card is read (the state X and its layout): memory values from the `mem` rows of the
memory tokens, instructions from the `instr` rows of the command tokens, names from the layout's
`cells` and `code_labels`, source lines from its `source`. The program is then listed like an
assembled one (looped/disasm.py), so the listing assembles and runs to the same memory, labels
included. FLEQ cards go through looped/disasm_fleq.py.
"""

from __future__ import annotations

import numpy as np

from looped.export import load_card
from looped.layout import decode_signed, decode_unsigned
from looped.program import Cell, Instruction, Program, SourceLoc


def format_exported(path: str) -> str:
    X, layout = load_card(path)
    if layout.get("isa") == "fleq":
        from looped.disasm_fleq import format_fleq_program, program_from_card as fleq_program

        listing = format_fleq_program(fleq_program(X, layout, path))
        return f"; {path}: {layout['n']} columns x {layout['d']} rows, FLEQ, float{X.dtype.itemsize * 8}\n" + listing
    from looped.disasm import format_program

    return format_program(program_from_card(X, layout, path))


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
