"""FLEQ's exact power-of-two blocks, for range reduction: `exponent` and `scale`.

    exponent c, a     c = e with a = m 2^e, 1/2 <= |m| < 1 (numpy.frexp's exponent), for
                      2^-EXPONENT_RANGE <= |a|; smaller |a| (0 included) is a fault
    scale c, a, b     c = a * 2^b for an integer b, |b| <= SCALE_RANGE; a non-integer b, a b out
                      of range or a result beyond the machine's range is a fault

Both act on row 0 (scalars and 1 x w rows; the assembler refuses taller operands) and are exact:
scaling by a power of two is exact in float64, and the decisions below are exact (looped/blocks/
exact.py). They let programs bring operands into the narrow domains of `mul`, `recip` and `rsqrt`
and scale the results back (programs/fleq/calculator.asm).

`exponent` counts thresholds: stage 1 (operands layer) puts q_j = 2^537 relu(|a| - pred(2^j))
into row `steps` + j + E, positive exactly when |a| >= 2^j; stage 2 (function layer) adds
E + 1 - sum_j [q_j == 0]. `scale` writes the exact gate rows g_j = 1 - [b == j] of the integer b (rows of
its own), then sums the gated terms a 2^j over j: only the term j = b is on.
"""

from __future__ import annotations

import numpy as np

from looped.blocks.arith import result_gates
from looped.blocks.exact import STAGE, is_zero, raw_above
from looped.blocks.gates import combine, gated_linear, gated_relu
from looped.layers import MLP, Units
from looped.layout import Layout, Rows

EXPONENT_RANGE = 64  # exponents of |a| in [2^-64, 2^64)
SCALE_RANGE = 64  # b in [-64, 64]


def exponent_rows() -> int:
    """Rows of exponent's first stage: q_j for j in [-E, E]."""
    return 2 * EXPONENT_RANGE + 1


def scale_rows() -> int:
    """Rows of scale's gates: g_j = 1 - [b == j] for j in [-B, B]. Gate rows hold 0 exactly where
    a unit acts: a gate made of rows that cancel (1 - t_j + t_(j+1)) would round the unit's own
    input away in a float sum whose order the kernels choose."""
    return 2 * SCALE_RANGE + 1


def _q(steps: Rows, j: int) -> int:
    return steps.start + j + EXPONENT_RANGE


def _g(steps: Rows, j: int) -> int:
    return steps.start + j + SCALE_RANGE


def indicator_rows(steps: Rows, js) -> dict[int, int]:
    """The rows of scale's indicators g_j (0 exactly when b == j) for the exponents `js`."""
    return {j: _g(steps, j) for j in js}


def exponent_stage1(layout: Layout, a: int, steps: Rows, select: int) -> MLP:
    """Operands layer: q_j > 0 exactly when |a| >= 2^j (a = row `a`, row 0 of the operand)."""
    units = Units(layout.d, "exponent thresholds", "scratch")
    gates = {select: 1.0, layout["other"].start: 1.0}
    for j in range(-EXPONENT_RANGE, EXPONENT_RANGE + 1):
        below = float(np.nextafter(2.0**j, 0.0))  # |a| > below  <=>  |a| >= 2^j
        raw_above(units, {a: 1.0}, below, gates, _q(steps, j))
        raw_above(units, {a: -1.0}, below, gates, _q(steps, j))
    return units.mlp()


def exponent(layout: Layout, steps: Rows, out: Rows, select: int, fault: int, active: dict) -> MLP:
    """Function layer: out_0 = frexp exponent of a; fault raw when |a| < 2^-E (`active`: the
    gates of a slot whose result is used)."""
    units = Units(layout.d, "exponent", "scratch")
    ind = layout["ind"].start
    gates = result_gates(layout, select, 0)
    gated_relu(units, {ind: EXPONENT_RANGE + 1.0}, 0.0, gates, {out.start: 1.0})
    for j in range(-EXPONENT_RANGE, EXPONENT_RANGE + 1):
        is_zero(units, _q(steps, j), ind, gates, {out.start: -1.0})
    is_zero(units, _q(steps, -EXPONENT_RANGE), ind, combine(gates, active), {fault: STAGE})
    return units.mlp()


def scale_stage1(layout: Layout, b: int, steps: Rows, select: int, fault: int, active: dict) -> MLP:
    """Operands layer: g_j = 1 - [b == j] (exact for an integer b: 1 - relu(b-j+1) + 2 relu(b-j)
    - relu(b-j-1)); fault raw when b is not an integer (a tent of height 1/2 between each pair of
    integers) or |b| > SCALE_RANGE."""
    units = Units(layout.d, "scale indicators", "scratch")
    gates = {select: 1.0, layout["other"].start: 1.0}
    gated_relu(units, {layout["ind"].start: 1.0}, 0.0, gates, {_g(steps, j): 1.0 for j in range(-SCALE_RANGE, SCALE_RANGE + 1)})
    for j in range(-SCALE_RANGE, SCALE_RANGE + 1):
        for shift, coef in ((1.0, -1.0), (0.0, 2.0), (-1.0, -1.0)):
            gated_relu(units, {b: 1.0}, shift - j, gates, {_g(steps, j): coef})
    checked = combine(gates, active)
    for j in range(-SCALE_RANGE + 1, SCALE_RANGE + 1):  # tent on [j - 1, j]
        for shift, coef in ((1.0, 1.0), (0.5, -2.0), (0.0, 1.0)):
            gated_relu(units, {b: 1.0}, shift - j, checked, {fault: STAGE * coef})
    raw_above(units, {b: 1.0}, float(SCALE_RANGE), checked, fault)
    raw_above(units, {b: -1.0}, float(SCALE_RANGE), checked, fault)
    return units.mlp()


def scale(layout: Layout, a: Rows, steps: Rows, out: Rows, select: int, fault: int, active: dict,
          limit: float) -> MLP:
    """Function layer: out_0 = a_0 * 2^b; fault raw when |a_0 2^b| > limit."""
    units = Units(layout.d, "scale", "scratch")
    for j in range(-SCALE_RANGE, SCALE_RANGE + 1):
        gates = {**result_gates(layout, select, 0), _g(steps, j): 1.0}
        gated_linear(units, {a.start: 2.0**j}, gates, {out.start: 1.0})
        for sign in (1.0, -1.0):
            raw_above(units, {a.start: sign * 2.0**j}, limit, combine(gates, active), fault)
    return units.mlp()
