"""FLEQ's `recip` and `rsqrt`: fitted piecewise-linear ReLU MLPs, elementwise.

g passes through the origin and the fitted points (t_k, v_k) (looped/blocks/pwl_constants.py,
regenerated with optax by benchmarks/fit_blocks.py). The block evaluates g in its *left* form
(looped/blocks/pwl_fit.py): units relu(t_k - x), active only to the left of their knot, so that for a convex
decreasing g nothing cancels for x >= t_0. It reads x split by sign (the operands layer writes
relu(a) and relu(-a) into `pos` and `neg`): recip = g(pos) - g(neg) (odd), rsqrt = g(pos) (0 for
a <= 0). At the unused side's input 0 the units sum to g(0) = 0 up to about 1e-11.

Every unit carries the block's gates (looped/blocks/gates.py): K units per row and sign, nothing
where the block is not selected. These are *initial approximations* with a stated relative error
over their domain (docs/fleq.md); programs refine them by Newton's iteration with `mul` and `sub`
(programs/fleq/calculator.asm).
"""

from __future__ import annotations

import math

from looped.blocks import pwl_constants as fitted
from looped.blocks.arith import result_gates
from looped.blocks.gates import gated_linear, gated_relu
from looped.layers import MLP, Units
from looped.layout import Layout, Rows
from looped.blocks.pwl_fit import pwl_slopes


def _left_form(units: Units, layout: Layout, x: int, out: int, sign: float, gates: dict, knots, values,
               tail_slope: float, slopes) -> None:
    """out += sign * g(x) for x >= 0 (row x), in the left form
    g(x) = tail*x + const + sum_k a_k relu(t_k - x), with `slopes` the a_k of pwl_slopes."""
    for t, a in zip(knots, slopes):
        gated_relu(units, {x: -1.0}, t, gates, {out: sign * a})
    const = float(values[-1]) - tail_slope * float(knots[-1])
    if const:
        gated_relu(units, {layout["ind"].start: abs(const)}, 0.0, gates, {out: sign * math.copysign(1.0, const)})
    if tail_slope:
        gated_linear(units, {x: tail_slope}, gates, {out: sign})


def recip(layout: Layout, pos: Rows, neg: Rows, out: Rows, select: int) -> MLP:
    """out ~ 1/a (odd); relative error at most RECIP_MAX_REL_ERROR for |a| in RECIP_DOMAIN."""
    units = Units(layout.d, "recip", "scratch")
    _, slopes = pwl_slopes(fitted.RECIP_KNOTS, fitted.RECIP_VALUES, fitted.RECIP_TAIL_SLOPE)
    for i in range(out.size):
        gates = result_gates(layout, select, i)
        for rows, sign in ((pos, 1.0), (neg, -1.0)):
            _left_form(units, layout, rows.start + i, out.start + i, sign, gates, fitted.RECIP_KNOTS,
                       fitted.RECIP_VALUES, fitted.RECIP_TAIL_SLOPE, slopes)
    return units.mlp()


def rsqrt(layout: Layout, pos: Rows, out: Rows, select: int) -> MLP:
    """out ~ 1/sqrt(a) for a > 0, ~0 for a <= 0; relative error at most RSQRT_MAX_REL_ERROR on
    RSQRT_DOMAIN."""
    units = Units(layout.d, "rsqrt", "scratch")
    _, slopes = pwl_slopes(fitted.RSQRT_KNOTS, fitted.RSQRT_VALUES, fitted.RSQRT_TAIL_SLOPE)
    for i in range(out.size):
        _left_form(units, layout, pos.start + i, out.start + i, 1.0, result_gates(layout, select, i),
                   fitted.RSQRT_KNOTS, fitted.RSQRT_VALUES, fitted.RSQRT_TAIL_SLOPE, slopes)
    return units.mlp()
