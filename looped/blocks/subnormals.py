"""FLEQ's subnormal numbers: values float64 has but the machine cannot hold.

XLA's CPU arithmetic (and the native kernels) flush subnormal numbers (nonzero magnitudes below
SMALLEST = 2^-1022) to zero. Two places could then hide a wrong value, and both are faults that
the layers detect, adding to the `faultraw` row that looped/blocks/faults.py gathers:

* an input cell holding a subnormal is held as 0 with a mark (`unheld`); the read heads carry the
  mark with the value, and `read_unheld` faults the instruction that reads it;
* an exact block (add, sub, scale) whose result would be subnormal faults instead of holding 0.

The second is the exact two-stage decision (looped/blocks/exact.py) in a form that survives the
flush: stage 1 (operands layer) holds p = 2^537 |r|, which is normal and exact (r is a multiple
of 2^-1074, so p of 2^-537, and a two-term float sum has the sign and, below 2^-485, the value of
the exact one); stage 2 (function layer) writes

    2^537 (relu(c - p) - relu(c - K p)),   c = 2^537 SMALLEST = 2^-485,   K p_min >= c,

which is 0 at p = 0 (both terms are c), 0 for p >= c, and at least 1 between (c - p >= 2^-537).
Each decision has a row of its own (`tiny`), so that its two terms are the only ones summed (a
sum of several such pairs, in the order a kernel chooses, would round the small value away);
the check layer's gather adds those rows, never negative, to the other checks' raw.
"""

from __future__ import annotations

from looped.blocks.exact import HUGE_GATE, STAGE
from looped.blocks.faults import checked
from looped.blocks.gates import combine, gated_relu
from looped.layers import MLP, Units
from looped.layout import Layout, Rows

UNDERFLOW_K = 2.0**52  # K * 2^-537 (the smallest nonzero p) = 2^-485 = c


def underflow_stage1(layout: Layout, a: Rows, b: Rows, magnitude: Rows, selects: dict[int, float]) -> MLP:
    """Operands layer: magnitude_i = 2^537 |a_i + sign b_i| for the selected block of `selects`
    ({select row: sign}: add +1, sub -1), with b's row 0 spread over the rows where the
    instruction broadcasts it (as real.move_broadcast moves b into opB)."""
    units = Units(layout.d, "underflow of add and sub (stage 1)", "scratch")
    bcast, nbcast = layout["fetched.bcast"].start, layout["fetched.nbcast"].start
    for select, sign in selects.items():
        for i in range(magnitude.size):
            for b_row, b_gate in ((b.start + i, bcast), (b.start, nbcast)):
                gates = combine(checked(layout, select, i), {b_gate: 1.0})
                for s in (1.0, -1.0):
                    gated_relu(units, {a.start + i: s * STAGE, b_row: s * sign * STAGE}, 0.0, gates,
                               {magnitude.start + i: 1.0}, big=HUGE_GATE)
    return units.mlp()


def _below_smallest(units: Units, p: int, c: float, k: float, gates: dict, out: int) -> None:
    """out += 2^537 (relu(c - p) - relu(c - k p)) where the gates are 0 (see above)."""
    gated_relu(units, {p: -1.0}, c, gates, {out: STAGE}, big=HUGE_GATE)
    gated_relu(units, {p: -k}, c, gates, {out: -STAGE}, big=HUGE_GATE)


def check_underflow(layout: Layout, magnitude: Rows, tiny: Rows, smallest: float) -> MLP:
    """Function layer: tiny_i > 0 exactly when 0 < |a_i +- b_i| < smallest (underflow_stage1's
    rows; 0 where add and sub are not selected)."""
    units = Units(layout.d, "underflow of add and sub", "scratch")
    for i in range(magnitude.size):
        _below_smallest(units, magnitude.start + i, STAGE * smallest, UNDERFLOW_K, {layout["other"].start: 1.0},
                        tiny.start + i)
    return units.mlp()


def scale_underflow_stage1(layout: Layout, a: int, magnitude: int, select: int) -> MLP:
    """Operands layer: magnitude = 2^537 |a| for `scale` (a = row 0 of its operand)."""
    units = Units(layout.d, "underflow of scale (stage 1)", "scratch")
    for s in (1.0, -1.0):
        gated_relu(units, {a: s * STAGE}, 0.0, checked(layout, select, 0), {magnitude: 1.0}, big=HUGE_GATE)
    return units.mlp()


def check_scale_underflow(layout: Layout, magnitude: int, indicators: dict[int, int], select: int, tiny: int,
                          smallest: float) -> MLP:
    """Function layer: tiny > 0 exactly when 0 < |a 2^b| < smallest, i.e. |a| < smallest 2^-b, for
    the b = j whose indicator row is 0 (looped/blocks/scaling.py; j < 0 only). |a| is 0 or at least
    `smallest`, so K = 2^-j lifts the smallest nonzero magnitude to c. One j is on at a time."""
    units = Units(layout.d, "underflow of scale", "scratch")
    for j, gate in indicators.items():
        _below_smallest(units, magnitude, STAGE * smallest * 2.0**-j, 2.0**-j,
                        {layout["other"].start: 1.0, select: 1.0, gate: 1.0}, tiny)
    return units.mlp()


def read_unheld(layout: Layout, marks: Rows, raw: int) -> MLP:
    """Operands layer: raw += 2^537 * the marks the slot's reads brought (an input cell holding a
    value the machine cannot hold, 1 on its token: looped/machines/fleq/isa.py). The same layer
    clears the marks (blocks.clear), where the reads' other tokens gathered averages too."""
    units = Units(layout.d, "read an unheld input", "scratch")
    other = layout["other"].start
    for row in marks.indices:
        gated_relu(units, {row: STAGE}, 0.0, {other: 1.0}, {raw: 1.0}, big=HUGE_GATE)
    return units.mlp()
