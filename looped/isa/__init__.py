"""Instruction sets: each bundles its layout, its stack of blocks, card encoding and decoding, its
λ rule, its oracle step and its printer behind one interface (looped/isa/base.py).

    from looped import isa
    instruction_set = isa.get(program.isa)

`subleq` (looped/isa/subleq.py), `fleq` (looped/isa/fleq.py) and `tape` (looped/isa/tape.py,
classic von Neumann SUBLEQ tapes) are the sets. Modules are imported on first use, so that
importing the interface costs nothing.
"""

from __future__ import annotations

import importlib

NAMES = ("subleq", "fleq", "tape")


def get(name: str):
    """The instruction set object called `name`."""
    if name not in NAMES:
        raise ValueError(f"unknown instruction set '{name}' (expected one of {', '.join(NAMES)})")
    return getattr(importlib.import_module(f"looped.isa.{name}"), name.upper())


def of(programs) -> "object":
    """The instruction set of a batch of programs (all of one set)."""
    names = {getattr(p, "isa", "subleq") for p in programs}
    if len(names) != 1:
        from looped.program import LoopedError

        raise LoopedError(f"error: a batch needs one instruction set, got {sorted(names)}")
    return get(names.pop())
