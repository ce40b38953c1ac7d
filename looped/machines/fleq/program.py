"""An assembled FLEQ program: real-valued memory, instructions and labels. No JAX here.

FLEQ(a, b, c, m, flag, p): `mem[c] = f_m(mem[a], mem[b])`; then go to `p` when `mem[flag] <= 0`,
else to the next instruction (../shared/spec/fleq.md).

Memory is a sequence of *columns*: every value (scalar 1x1, vector h x 1, matrix h x w) occupies
w consecutive columns, one column per card token, its entries in that token's data rows. A
`FleqProgram` is laid out by the assembler down to columns: an instruction names, for every
operand, the memory columns it reads or writes, one per *slot* (the machine has one scratch token
per slot, slot j handling column j of the operation). That keeps the machine free of address
arithmetic and lets the assembler express broadcasting (a scalar read by every slot) and views
(`X+k`: column k of X).

Semantics of one instruction, on padded H x W matrices (H = `height`, W = `slots`):

    A[:, j] = column a_cols[j] of memory (zero for j >= len(a_cols)); likewise B from b_cols.
    If b_rows_broadcast, every row of B is replaced by its row 0 (a scalar or row vector
    broadcast over the rows).
    R = f_m(A, B)                       (see FUNCTIONS; R is H x W)
    R[i, :] = 0 for i >= c_height
    memory column c_cols[j] = R[:, j] for j < len(c_cols)   (no write when c_cols is empty)
    pc = p if mem[flag_col][0] <= 0 else pc + 1

The oracle (looped/machines/fleq/oracle.py) evaluates each instruction this way, in float64, with exact
functions; the transformer's function blocks approximate some of them within their stated error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from looped.errors import AsmError, SourceLoc, suggest

# Function blocks, in the order of the machine's function selector. Each maps padded H x W
# operands A, B to an H x W result (NumPy, exact; the machine's blocks approximate where stated
# in docs/fleq.md).
FUNCTIONS = ("add", "sub", "mov", "mul", "matmul", "transpose", "recip", "rsqrt", "sigmoid", "exponent", "scale")

# Largest magnitude a data value may have (inputs, literals and results): the machine's gates
# are sized for it (looped/blocks/gates.py); a result beyond it is a fault.
MAX_MAGNITUDE = 1.0e15
# Smallest nonzero magnitude the machine holds: float64's smallest normal number. XLA's CPU
# arithmetic (and the native kernels) flush subnormal numbers to zero. A subnormal input is held
# as 0 with a mark on its cell, and an instruction that reads the cell faults (the layers see the
# mark: looped/blocks/subnormals.py); an exact block whose result would be one faults too.
MIN_MAGNITUDE = 2.0**-1022


def unholdable(values):
    """Where `values` are nonzero and below MIN_MAGNITUDE: float64 subnormals, which the machine
    cannot hold (an input is held as 0 with a mark; an exact block's result faults)."""
    values = np.asarray(values, np.float64)
    return (values != 0) & (np.abs(values) < MIN_MAGNITUDE)


def apply_function(name: str, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The exact result of function block `name` on padded operands A, B [H, W] -> [H, W]."""
    H, W = A.shape
    if name == "add":
        return A + B
    if name == "sub":
        return A - B
    if name == "mov":
        return A.copy()
    if name == "mul":  # elementwise (B broadcast by the assembler's reads)
        return A * B
    if name == "matmul":  # A[:, :k] @ B[:k, :] over the k < min(H, W) shared index
        k = min(H, W)
        R = np.zeros((H, W))
        R[:, :] = A[:, :k] @ B[:k, :]
        return R
    if name == "transpose":
        R = np.zeros((H, W))
        k = min(H, W)
        R[:k, :k] = A[:k, :k].T
        return R
    if name == "recip":
        with np.errstate(divide="ignore"):
            return np.where(A != 0, 1.0 / np.where(A != 0, A, 1.0), 0.0)
    if name == "rsqrt":
        return np.where(A > 0, 1.0 / np.sqrt(np.where(A > 0, A, 1.0)), 0.0)
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-A))
    if name == "exponent":  # row 0 only: a = m 2^e with 1/2 <= |m| < 1
        R = np.zeros((H, W))
        R[0] = np.frexp(A[0])[1]
        return R
    if name == "scale":  # row 0 only: a 2^b for an integer b (B broadcast by the assembler's reads)
        R = np.zeros((H, W))
        b = np.clip(np.nan_to_num(B[0]), -1100, 1100)
        with np.errstate(over="ignore"):
            R[0] = np.ldexp(A[0], np.rint(b).astype(np.int64))
        return R
    raise ValueError(f"unknown function block '{name}'")


@dataclass(frozen=True)
class Value:
    """A labelled value: `shape` (h, w) starting at memory column `offset`.

    kind: "user" (a data label: settable with --set, shown in the output), "const" (a read-only
    literal the assembler allocated) or "scratch" (the assembler's own)."""

    name: str
    offset: int
    shape: tuple[int, int]
    kind: str = "user"
    loc: SourceLoc | None = None

    @property
    def columns(self) -> range:
        return range(self.offset, self.offset + self.shape[1])


@dataclass(frozen=True)
class FleqInstruction:
    """One FLEQ instruction, laid out down to memory columns (see the module docstring)."""

    fn: str  # one of FUNCTIONS
    a_cols: tuple[int, ...]
    b_cols: tuple[int, ...]
    c_cols: tuple[int, ...]  # empty: nothing is written
    c_height: int  # rows of the result that are kept (the rest are zero)
    flag_col: int  # memory column of the flag cell (a scalar)
    p: int  # code index of the jump target
    b_rows_broadcast: bool = False
    loc: SourceLoc | None = None
    source: str = ""


@dataclass(frozen=True)
class FleqProgram:
    """What the assembler produces for a `.isa fleq` file.

    `memory` [height, n_columns] float64 holds every column's entries (rows past a value's height
    are zero). `code` ends with the halt instruction (a self-loop that writes nothing, testing
    `zero_col`). `zero_col` and `one_col` are constant cells holding 0 and 1."""

    memory: np.ndarray
    code: tuple[FleqInstruction, ...]
    values: Mapping[str, Value]
    code_labels: Mapping[str, int] = field(default_factory=dict)
    zero_col: int = 0
    one_col: int = 1
    file: str = "<program>"
    isa: str = "fleq"

    @property
    def height(self) -> int:
        return int(self.memory.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.memory.shape[1])

    @property
    def slots(self) -> int:
        """W: the widest operand of any instruction (at least 1)."""
        widths = [len(cols) for inst in self.code for cols in (inst.a_cols, inst.b_cols, inst.c_cols)]
        return max([1, *widths])

    @property
    def size_loc(self) -> SourceLoc | None:
        """Where the value that sizes the machine most is declared (the tallest, then the widest):
        the size guard's error points there (looped/memory_guard.py)."""
        located = [v for v in self.values.values() if v.loc is not None]
        if not located:
            return None
        return max(located, key=lambda v: (v.shape[0], v.shape[1])).loc

    @property
    def halt_index(self) -> int:
        return len(self.code) - 1

    @property
    def user_values(self) -> dict[str, Value]:
        return {name: v for name, v in self.values.items() if v.kind == "user"}

    def value_of(self, memory: np.ndarray, name: str) -> np.ndarray:
        v = self.values[name]
        h, w = v.shape
        return np.asarray(memory)[:h, v.offset : v.offset + w]

    def outputs(self, memory: np.ndarray) -> dict[str, object]:
        """Every user value in `memory` [height, n_columns]: a number (1x1), a list (h x 1) or a
        list of rows (h x w), as fleq.md specifies for `--json`."""
        return {name: to_json_value(self.value_of(memory, name), v.shape) for name, v in self.user_values.items()}

    def with_settings(self, settings: Mapping[str, object],
                      locations: Mapping[str, SourceLoc] | None = None) -> "FleqProgram":
        """A copy with user values set from JSON-like values (number, list, list of rows)."""
        memory = self.memory.copy()
        for name, value in settings.items():
            loc = (locations or {}).get(name)
            v = self.values.get(name)
            if v is None or v.kind != "user":
                known = ", ".join(sorted(self.user_values)) or "none"
                raise AsmError(loc, f"unknown data label '{name}'{suggest(name, self.user_values)} "
                                    f"(expected one of: {known})")
            array = from_json_value(value, v.shape, name, loc)
            h, w = v.shape
            memory[:h, v.offset : v.offset + w] = array
        return dataclasses.replace(self, memory=memory)


def shape_text(shape: tuple[int, int]) -> str:
    h, w = shape
    if (h, w) == (1, 1):
        return "a number (a 1x1 scalar)"
    if w == 1:
        return f"a list of {h} numbers (a vector of length {h})"
    return f"a list of {h} rows of {w} numbers (a {h}x{w} matrix)"


def _number(x, name: str, loc: SourceLoc | None) -> float:
    if isinstance(x, (bool, np.bool_)):
        raise AsmError(loc, f"'{name}' takes numbers, got {'true' if x else 'false'} (expected a number such as 1 or 2.5)")
    if not isinstance(x, (int, float, np.integer, np.floating)):
        raise AsmError(loc, f"'{name}' takes numbers, got {x!r}"[:300])
    value = float(x)
    if not np.isfinite(value):
        raise AsmError(loc, f"'{name}' takes finite numbers, got {x!r} (NaN and infinity are not values)")
    if abs(value) > MAX_MAGNITUDE:
        raise AsmError(loc, f"value {x!r} for '{name}' is outside the machine's range "
                            f"(expected magnitude at most {MAX_MAGNITUDE:g})")
    return value


def from_json_value(value, shape: tuple[int, int], name: str, loc: SourceLoc | None) -> np.ndarray:
    """A JSON value (number, list, list of rows) checked against `shape` -> [h, w] float64."""
    h, w = shape
    if isinstance(value, np.ndarray):  # numpy arrays (from Python callers) read as nested lists
        value = value.tolist() if value.ndim else value.item()
    wrong = lambda: AsmError(loc, f"'{name}' is {h}x{w}: expected {shape_text(shape)}, got {value!r}"[:300])  # noqa: E731
    if (h, w) == (1, 1):
        if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], list):
            value = value[0]
        if isinstance(value, list):
            raise wrong()
        return np.array([[_number(value, name, loc)]])
    if not isinstance(value, list):
        raise wrong()
    if w == 1 and all(not isinstance(x, list) for x in value):
        if len(value) != h:
            raise wrong()
        return np.array([[_number(x, name, loc)] for x in value])
    if len(value) != h or any(not isinstance(row, list) or len(row) != w for row in value):
        raise wrong()
    return np.array([[_number(x, name, loc) for x in row] for row in value])


def to_json_value(array: np.ndarray, shape: tuple[int, int]):
    h, w = shape
    array = np.asarray(array, dtype=float)
    if (h, w) == (1, 1):
        return float(array[0, 0])
    if w == 1:
        return [float(x) for x in array[:, 0]]
    return [[float(x) for x in row] for row in array]
