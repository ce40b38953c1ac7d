"""The size guard: refuse a machine too large for this computer before building anything.

A machine's weights are dense arrays: every attention head holds a d x d value map, every MLP a
d x h and an h x d matrix (looped/layers.py), all in the machine's dtype; the compiled loop keeps
them again as constants, and the batch's states are B x n x d. A program with one tall value (a
`.zeros 3000, 3000`) makes d, and so d^2 per head, grow past any memory. `check` estimates these
sizes from the machine key alone (the layout's row count and the instruction set's count of
heads and hidden units, `InstructionSet.machine_size`) and raises a located error (exit 2) when
they exceed the budget, in well under a second.

The budget defaults to BUDGET_FRACTION of this computer's memory (or of the process's address-space
limit, `ulimit -v`, when that is lower); `looped run --max-memory SIZE` (or LOOPED_MAX_MEMORY)
changes it. What the guard lets through and still does not fit ends with "out of memory" (exit 1,
looped/cli/shell.py), never a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from looped.errors import AsmError, LoopedError, SourceLoc

BUDGET_FRACTION = 0.5
# Copies of the weights alive while a machine is built and compiled: the arrays built in NumPy,
# the compiled loop's constants, and the kernel's own prepared copy.
WEIGHT_COPIES = 3
# Copies of the batch's states in flight in a compiled loop (input, output, a layer's temporaries).
STATE_COPIES = 4

_budget: int | None = None


def physical_memory() -> int:
    """Bytes of memory of this computer (0 when unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def default_budget() -> int:
    env = os.environ.get("LOOPED_MAX_MEMORY")
    if env:
        try:
            return parse_size(env)
        except ValueError:
            pass
    total = physical_memory() or 16 << 30
    limit = address_space_limit()
    if limit:  # a process limit (ulimit -v, a container's): a fraction of what this process may map
        total = min(total, limit)
    return int(total * BUDGET_FRACTION)


def address_space_limit() -> int:
    """This process's RLIMIT_AS in bytes, or 0 when unlimited or unknown."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, ValueError, OSError):
        return 0
    return 0 if soft == resource.RLIM_INFINITY or soft <= 0 else int(soft)


def budget() -> int:
    return _budget if _budget is not None else default_budget()


def set_budget(size: int | None) -> None:
    """The budget in bytes for the machines built from now on (None: the default)."""
    global _budget
    _budget = size


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
          "t": 1 << 40, "tb": 1 << 40, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_size(text: str) -> int:
    """'512M', '2G', '1.5GB', '100000000' -> bytes (powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"expected a size such as 512M, 4G or 2.5GB, got '{text}'")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not value > 0:
        raise ValueError(f"expected a positive size, got '{text}'")
    return int(value)


def human(size: float) -> str:
    for unit, scale in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{int(size)} bytes"


@dataclass(frozen=True)
class Estimate:
    d: int  # rows of the state
    n: int  # tokens of a card
    heads: int
    hidden: int
    weights: int  # bytes of one copy of the weights
    states: int  # bytes of the batch's states

    @property
    def total(self) -> int:
        return WEIGHT_COPIES * self.weights + STATE_COPIES * self.states

    def describe(self) -> str:
        return (f"{self.heads:,} heads and {self.hidden:,} hidden units on a state of {self.n:,} tokens x "
                f"{self.d:,} rows: {human(self.weights)} of weights, kept {WEIGHT_COPIES} times while it is "
                f"built and compiled")


def estimate(instruction_set, key: tuple, batch: int) -> Estimate:
    layout = instruction_set.layout(key)
    heads, hidden, width = instruction_set.machine_size(layout)
    itemsize = instruction_set.dtype(layout).itemsize
    d, n = layout.d, layout.n
    weights = instruction_set.weight_bytes(layout)
    if weights is None:
        weights = itemsize * (heads * (d * d + 2 * d * width) + hidden * (2 * d + 1))
    return Estimate(d, n, heads, hidden, weights, itemsize * batch * n * d)


def check(instruction_set, key: tuple, programs) -> Estimate:
    """Raise a located LoopedError when the machine for `programs` exceeds the budget."""
    found = estimate(instruction_set, key, len(programs))
    limit = budget()
    if found.total > limit:
        loc = _where(programs[0])
        text = (f"the machine for this program needs about {human(found.total)}, more than the memory "
                f"budget of {human(limit)} ({found.describe()}); use smaller values, or raise the budget "
                f"with --max-memory SIZE")
        raise AsmError(loc, text) if loc is not None else LoopedError(f"error: {text}")
    reserve(found.total)
    return found


def reserve(size: int) -> None:
    """Raise MemoryError ("out of memory", exit 1) now when this process cannot map `size` more bytes.
    Where the address space is limited (`ulimit -v`) and the budget was raised past it, this is where
    the machine would not fit: later, the allocation that failed would be XLA's own, inside its
    compiler, which aborts the process rather than raising. (The bytes are mapped, never touched.)"""
    import numpy as np

    np.empty(max(int(size), 0), np.uint8)


def _where(program) -> SourceLoc | None:
    """The declaration that sizes the machine most (the instruction set's program says), else
    the file."""
    loc = getattr(program, "size_loc", None)
    if loc is not None:
        return loc
    file = getattr(program, "file", None)
    return SourceLoc(file, 1, 1) if file else None


def check_programs(programs) -> Estimate | None:
    """`check` for a batch of programs of one instruction set (the command line calls it before
    importing JAX, so a refusal takes a fraction of a second)."""
    from looped import machines

    if not programs:
        return None
    instruction_set = machines.of(programs)
    return check(instruction_set, instruction_set.machine_key(programs), programs)
