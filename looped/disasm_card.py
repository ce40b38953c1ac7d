"""`looped disasm MACHINE.npz`: read the program back off an exported punch card.

Only the card is read (the state X and its layout): memory values from the `mem` rows of the
memory tokens, instructions from the `instr` rows of the command tokens.
"""

from __future__ import annotations


from looped.export import load_card
from looped.layout import decode_signed, decode_unsigned


def format_exported(path: str) -> str:
    X, layout = load_card(path)
    if layout.get("isa") == "fleq":
        from looped.disasm_fleq import format_fleq_program, program_from_card

        listing = format_fleq_program(program_from_card(X, layout, path))
        return f"; {path}: {layout['n']} columns x {layout['d']} rows, FLEQ, float{X.dtype.itemsize * 8}\n" + listing
    rows, zones = layout["rows"], layout["zones"]
    mem_rows = slice(*rows["mem"])
    names = {}
    for name, (token, length, kind) in layout.get("cells", {}).items():
        for k in range(length):
            names[token + k] = name if length == 1 else f"{name}+{k}"
    labels_at = {token: name for name, token in layout.get("code_labels", {}).items()}
    halt = layout["halt_pc"]

    def cell(token: int) -> str:
        return names.get(token, f"@{token}")

    def target(token: int) -> str:
        return "halt" if token == halt else labels_at.get(token, f"@{token}")

    lines = [f"; {path}: {layout['n']} columns x {layout['d']} rows, {layout['bits']}-bit words",
             f".bits {layout['bits']}", ".data"]
    m0, m1 = zones["memory"]
    values = decode_signed(X[m0:m1, mem_rows])
    for token, value in zip(range(m0, m1), values):
        lines.append(f"  {cell(token):<12} {int(value):>8}    ; token {token}")
    lines.append(".code")
    c0, c1 = zones["code"]
    fields = [slice(*rows[f"instr.{f}"]) for f in "abc"]
    for token in range(c0, c1):
        a, b, c = (int(decode_unsigned(X[token, f])) for f in fields)
        label = f"{labels_at[token]}:" if token in labels_at else ""
        if token == halt:
            lines.append(f"{label:<10} halt{'':<24}; token {token}: subleq {cell(a)}, {cell(b)}, itself")
        else:
            lines.append(f"{label:<10} subleq {cell(a)}, {cell(b)}, {target(c)}".ljust(40) + f"; token {token}")
    return "\n".join(lines) + "\n"
