"""The report of a FLEQ fault: which instruction, which block, which value, and why.

The transformer decides that an instruction faults (looped/blocks/faults.py: a row of its state)
and keeps the faulting program counter; this module only *describes* the fault it reports, from
the memory before that instruction (which the fault left unchanged): the operand or result that
left the block's domain or the machine's range. No JAX here.
"""

from __future__ import annotations

import numpy as np

from looped.blocks import pwl_constants
from looped.blocks.faults import MUL_LIMIT, MUL_OPERAND_LIMIT
from looped.blocks.scaling import EXPONENT_RANGE, SCALE_RANGE
from looped.machines.fleq.program import MAX_MAGNITUDE, FleqProgram, apply_function, unholdable

MATMUL_B_LIMIT = 100.0  # as looped/machines/fleq/isa.py

# Each block's domain, in words (docs/fleq.md has the table).
# A nonzero result below float64's smallest normal number (2^-1022) cannot be held (it would be
# flushed to 0): the exact blocks fault on it.
RESULT_RANGE = f"a result of 0 or of magnitude between 2^-1022 and {MAX_MAGNITUDE:g}"
DOMAINS = {
    "add": RESULT_RANGE,
    "sub": RESULT_RANGE,
    "mul": f"|a*b| <= {MUL_LIMIT:g} and |a|, |b| <= {MUL_OPERAND_LIMIT:g}; bring larger operands into range "
           f"with 'exponent' and 'scale'",
    "matmul": f"entries of b of magnitude at most {MATMUL_B_LIMIT:g}, results at most {MAX_MAGNITUDE:g}",
    "recip": "2^-12 <= |a| <= 2^12, 1/0 included; bring a into range with 'exponent' and 'scale'",
    "rsqrt": "2^-12 <= a <= 2^12, every a <= 0 included",
    "exponent": f"|a| >= 2^-{EXPONENT_RANGE}; 0 has no exponent",
    "scale": f"an integer b with |b| <= {SCALE_RANGE}, {RESULT_RANGE}",
}


def operands(program: FleqProgram, memory: np.ndarray, inst) -> tuple[np.ndarray, np.ndarray]:
    """A and B [H, W] as the instruction reads them (the oracle's gather and broadcast)."""
    W = program.slots
    A, B = np.zeros((program.height, W)), np.zeros((program.height, W))
    for j, col in enumerate(inst.a_cols):
        A[:, j] = memory[:, col]
    for j, col in enumerate(inst.b_cols):
        B[:, j] = memory[:, col]
    if inst.b_rows_broadcast:
        B[:, :] = B[0, :]
    return A, B


def offending(fn: str, A: np.ndarray, B: np.ndarray, rows: int, width: int) -> float | None:
    """The value that left the block's domain (the largest violation), or None when none did
    by the exact function (the block's check fired at its boundary)."""
    A, B = A[:rows, :width], B[:rows, :width]
    if A.size == 0:
        return None
    R = apply_function(fn, np.pad(A, ((0, 0), (0, max(0, rows - width)))), np.pad(B, ((0, 0), (0, max(0, rows - width)))))
    R = R[:rows, :width]
    low, high = pwl_constants.RECIP_DOMAIN
    out_of_range = lambda v: (np.abs(v) > MAX_MAGNITUDE) | unholdable(v)  # noqa: E731
    candidates = {
        "add": (R, out_of_range(R)),
        "sub": (R, out_of_range(R)),
        "mul": (A * B, (np.abs(A * B) > MUL_LIMIT) | (np.abs(A) > MUL_OPERAND_LIMIT) | (np.abs(B) > MUL_OPERAND_LIMIT)),
        "recip": (A, (np.abs(A) < low) | (np.abs(A) > high)),
        "rsqrt": (A, (A < low) | (A > high)),
        "exponent": (A[:1], np.abs(A[:1]) < 2.0**-EXPONENT_RANGE),
    }
    if fn == "matmul":
        if np.any(np.abs(B) > MATMUL_B_LIMIT):
            return float(B.flat[np.argmax(np.abs(B))])
        candidates["matmul"] = (R, np.abs(R) > MAX_MAGNITUDE)
    if fn == "scale":
        b = B[:1]
        bad_b = (b != np.rint(b)) | (np.abs(b) > SCALE_RANGE)
        if np.any(bad_b):
            return float(b[bad_b][0])
        candidates["scale"] = (R[:1], out_of_range(R[:1]))
    if fn not in candidates:
        return None
    values, bad = candidates[fn]
    if not np.any(bad):
        return None
    flagged = np.where(bad, np.abs(values), -np.inf)
    return float(values.flat[int(np.argmax(flagged))])


def describe(program: FleqProgram, memory: np.ndarray, pc: int, step: int) -> dict:
    """The fault record of interfaces.md: {"step", "loc", "block", "value", "message"}."""
    if not 0 <= pc < len(program.code):
        return {"step": step, "loc": None, "block": None, "value": None,
                "message": f"fault at step {step} (instruction {pc} is outside the program)"}
    inst = program.code[pc]
    where = str(inst.loc) if inst.loc else program.file
    read = memory[:, sorted({*inst.a_cols, *inst.b_cols, inst.flag_col})]
    unheld = read[unholdable(read)]
    if unheld.size:  # an input the machine could not hold (its cell's mark: looped/blocks/subnormals.py)
        value = float(unheld[0])
        message = (f"{where}: fault at step {step}: '{inst.source.strip()}' reads the input {value:.6g}, below "
                   f"float64's smallest normal number 2^-1022, which the machine cannot hold (it flushes such "
                   f"numbers to 0); the instruction wrote nothing")
    else:
        A, B = operands(program, memory, inst)
        value = offending(inst.fn, A, B, max(inst.c_height, 1), max(len(inst.c_cols), 1))
        domain = DOMAINS.get(inst.fn, "its stated domain")
        shown = "an operand" if value is None else f"{value:.6g}"
        if value is not None and unholdable(value):
            shown = f"the result {value:.6g} (below float64's smallest normal number, it would be flushed to 0)"
        message = (f"{where}: fault at step {step}: '{inst.source.strip()}': {shown} is outside the domain of "
                   f"'{inst.fn}' ({domain}); the instruction wrote nothing")
    return {"step": step, "loc": str(inst.loc) if inst.loc else None, "block": inst.fn, "value": value,
            "message": message}
