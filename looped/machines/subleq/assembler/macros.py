"""The statements of the code section and their expansion to `subleq`. No JAX here.

Every statement becomes zero or more `subleq a, b, c` instructions. The hidden cells they use:

- `Z`: a cell that always holds 0. The assembler uses the constant `#0` for it: every
  instruction that touches it computes `Z - Z = 0` or reads it, so it never changes.
- `T`: the scratch temporary `#T`, 0 between statements (allocated only if `mov` or `add` is used).
- the constants `#-1` (for `inc`) and `#1` (for `dec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# Operand roles:
#   "r": a data cell that is only read (a literal is fine: it becomes a read-only constant)
#   "w": a data cell that is written (a literal is an error: constants are read-only)
#   "c": a code operand (a code label or `halt`)


@dataclass(frozen=True)
class Mnemonic:
    name: str
    roles: tuple[str, ...]  # required operands
    optional: tuple[str, ...] = ()  # optional trailing operands
    syntax: str = ""
    meaning: str = ""


MNEMONICS: dict[str, Mnemonic] = {
    m.name: m
    for m in [
        Mnemonic("subleq", ("r", "w"), ("c",), "subleq A, B[, C]",
                 "mem[B] -= mem[A]; if mem[B] <= 0 go to C (default: the next instruction)"),
        Mnemonic("halt", (), (), "halt", "stop the machine"),
        Mnemonic("jmp", ("c",), (), "jmp L", "go to L"),
        Mnemonic("clr", ("w",), (), "clr X", "X = 0"),
        Mnemonic("mov", ("w", "r"), (), "mov X, Y", "X = Y"),
        Mnemonic("add", ("w", "r"), (), "add X, Y", "X = X + Y"),
        Mnemonic("sub", ("w", "r"), (), "sub X, Y", "X = X - Y"),
        Mnemonic("inc", ("w",), (), "inc X", "X = X + 1"),
        Mnemonic("dec", ("w",), (), "dec X", "X = X - 1"),
        Mnemonic("jle", ("r", "c"), (), "jle X, L", "if X <= 0 go to L"),
        Mnemonic("jgt", ("r", "c"), (), "jgt X, L", "if X > 0 go to L"),
    ]
}

RESERVED = frozenset(MNEMONICS)  # compared case-insensitively; includes `halt`

# Number of instructions of each statement (`halt`: see the linker, 0 or 1).
SIZES = {"subleq": 1, "jmp": 1, "clr": 1, "mov": 4, "add": 3, "sub": 1, "inc": 1, "dec": 1,
         "jle": 1, "jgt": 2}

USES_T = frozenset({"mov", "add"})


@dataclass(frozen=True)
class Hidden:
    """Offsets of the hidden cells an expansion may use."""

    Z: int  # always 0 (the constant #0)
    T: int | None  # scratch temporary, 0 between statements
    ONE: int | None  # the constant 1
    MINUS_ONE: int  # the constant -1


def _subleq(o, h, here, nxt):
    a, b, *c = o
    return [(a, b, c[0] if c else nxt)]


def _jmp(o, h, here, nxt):
    return [(h.Z, h.Z, o[0])]


def _clr(o, h, here, nxt):
    return [(o[0], o[0], nxt)]


def _mov(o, h, here, nxt):
    x, y = o
    return [(y, h.T, here + 1), (x, x, here + 2), (h.T, x, here + 3), (h.T, h.T, nxt)]


def _add(o, h, here, nxt):
    x, y = o
    return [(y, h.T, here + 1), (h.T, x, here + 2), (h.T, h.T, nxt)]


def _sub(o, h, here, nxt):
    x, y = o
    return [(y, x, nxt)]


def _inc(o, h, here, nxt):
    return [(h.MINUS_ONE, o[0], nxt)]


def _dec(o, h, here, nxt):
    return [(h.ONE, o[0], nxt)]


def _jle(o, h, here, nxt):
    x, target = o
    return [(h.Z, x, target)]


def _jgt(o, h, here, nxt):
    x, target = o
    # X <= 0: skip over the jump (to `nxt`); X > 0: fall into the unconditional jump.
    return [(h.Z, x, nxt), (h.Z, h.Z, target)]


EXPAND: dict[str, Callable] = {
    "subleq": _subleq, "jmp": _jmp, "clr": _clr, "mov": _mov, "add": _add, "sub": _sub,
    "inc": _inc, "dec": _dec, "jle": _jle, "jgt": _jgt,
}


def expand(op: str, operands: list[int], hidden: Hidden, here: int, nxt: int) -> list[tuple[int, int, int]]:
    """The `(a, b, c)` triples of statement `op` placed at code index `here`.

    `operands` are resolved (data operands: memory offsets; code operands: code indices), `nxt`
    is the index of the next statement's first instruction.
    """
    triples = EXPAND[op](operands, hidden, here, nxt)
    assert len(triples) == SIZES[op]
    return triples
