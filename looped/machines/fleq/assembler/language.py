"""The FLEQ assembly language's vocabulary: mnemonics and their operand roles, directives,
reserved words, and how numbers and shapes are written. No JAX here (docs/fleq.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from looped.machines.fleq.program import FUNCTIONS


UNARY = ("mov", "transpose", "recip", "rsqrt", "sigmoid", "exponent")
BINARY = ("add", "sub", "mul", "matmul", "scale")
# Blocks that act on row 0 only (scalars and 1 x w rows): looped/blocks/scaling.py.
ROW_ONLY = ("exponent", "scale")
assert sorted(UNARY + BINARY) == sorted(FUNCTIONS)

DIRECTIVES = (".isa", ".data", ".code", ".zeros", ".eye", ".rep", ".endr")
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
HALT = "halt"
BLANK = "_"
SCRATCH_T = "#T"

# Tallest value (rows of the machine's data block) the assembler accepts.
MAX_HEIGHT = 4096

REAL_HELP = "a number such as 2, -0.5, 1e-3 or 0x1f"

# Operand roles:
#   "f": a function name (one of FUNCTIONS)
#   "w": a value that is written (a data label or label+k; a literal is an error)
#   "W": as "w", or '_' (write nothing)
#   "r": a value that is read (a data label, label+k, or a number: a read-only constant)
#   "R": as "r", or '_' (no second input, for the unary functions)
#   "x": a flag: as "r", and it must be a scalar (1x1)
#   "c": a code operand (a code label or `halt`)


@dataclass(frozen=True)
class FleqMnemonic:
    name: str
    roles: tuple[str, ...]
    syntax: str
    meaning: str


MNEMONICS: dict[str, FleqMnemonic] = {
    m.name: m
    for m in [
        FleqMnemonic("fleq", ("f", "W", "r", "R", "x", "c"), "fleq OP, c, a, b, flag, target",
                     "c = OP(a, b); then if flag <= 0 go to target, else to the next statement"),
        FleqMnemonic("add", ("w", "r", "r"), "add c, a, b", "c = a + b"),
        FleqMnemonic("sub", ("w", "r", "r"), "sub c, a, b", "c = a - b"),
        FleqMnemonic("mul", ("w", "r", "r"), "mul c, a, b", "c = a * b (elementwise)"),
        FleqMnemonic("matmul", ("w", "r", "r"), "matmul c, a, b", "c = a @ b (matrix product)"),
        FleqMnemonic("mov", ("w", "r"), "mov c, a", "c = a"),
        FleqMnemonic("transpose", ("w", "r"), "transpose c, a", "c = a transposed"),
        FleqMnemonic("recip", ("w", "r"), "recip c, a", "c = 1 / a (elementwise)"),
        FleqMnemonic("rsqrt", ("w", "r"), "rsqrt c, a", "c = 1 / sqrt(a) (elementwise)"),
        FleqMnemonic("sigmoid", ("w", "r"), "sigmoid c, a", "c = 1 / (1 + exp(-a)) (elementwise)"),
        FleqMnemonic("exponent", ("w", "r"), "exponent c, a",
                     "c = e with a = m 2^e, 1/2 <= |m| < 1 (elementwise, exact; a 1xw row)"),
        FleqMnemonic("scale", ("w", "r", "r"), "scale c, a, b",
                     "c = a * 2^b for an integer scalar b (elementwise, exact; a 1xw row)"),
        FleqMnemonic("jle", ("x", "c"), "jle x, L", "if x <= 0 go to L"),
        FleqMnemonic("jgt", ("x", "c"), "jgt x, L", "if x > 0 go to L (for integer-valued x)"),
        FleqMnemonic("jmp", ("c",), "jmp L", "go to L"),
        FleqMnemonic("halt", (), "halt", "stop the machine"),
        FleqMnemonic("inc", ("w",), "inc x", "x = x + 1"),
        FleqMnemonic("dec", ("w",), "dec x", "x = x - 1"),
        FleqMnemonic("clr", ("w",), "clr x", "x = 0 (every entry)"),
    ]
}

RESERVED = frozenset(MNEMONICS) | {BLANK}  # compared case-insensitively


def number_text(value: float) -> str:
    """The shortest text that reads back as `value` (an integer without '.0')."""
    value = float(value)
    if value == int(value) and abs(value) < 1e16:
        return str(int(value)) if not (value == 0 and np.signbit(value)) else "-0"
    return repr(value)


def const_name(value: float, shape: tuple[int, int]) -> str:
    """`#2.5` for a scalar constant, `#0@3x1` for a 3x1 constant of zeros."""
    h, w = shape
    return f"#{number_text(value)}" + ("" if (h, w) == (1, 1) else f"@{h}x{w}")


def describe_shape(shape: tuple[int, int]) -> str:
    h, w = shape
    if (h, w) == (1, 1):
        return "a scalar"
    if w == 1:
        return f"a {h}x1 vector"
    if h == 1:
        return f"a 1x{w} row"
    return f"a {h}x{w} matrix"


def shape_str(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


# ---- parsing ------------------------------------------------------------------------------------
