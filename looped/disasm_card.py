"""`looped disasm MACHINE.npz`: read the program back off an exported punch card and list it.

The card's layout names its instruction set; that set reads the card (`read_card`) and prints the
program (`format_program`), so the listing assembles and runs to the same memory, labels included.
"""

from __future__ import annotations

from looped import machines
from looped.export import load_card


def format_exported(path: str) -> str:
    X, layout = load_card(path)
    instruction_set = machines.get(layout.get("isa", "subleq"))
    return instruction_set.card_header(X, layout, path) + instruction_set.format_program(
        instruction_set.read_card(X, layout, path))
