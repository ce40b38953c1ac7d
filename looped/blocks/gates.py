"""Exact gates for real values: the building piece of every FLEQ block that must act only where
(and when) it is selected.

A gated linear term is the ReLU pair

    out += relu(u - G*g) - relu(-u - G*g),      u = sum_i w_i x_i,  g = sum_j gate_j

where each gate row holds 0 or 1. Where every gate row is 0 the pair equals u *exactly* (the
gate adds G*0 = 0, so no rounding at the scale of G); where some gate row is 1 both units are off,
provided |u| < G. That is why FLEQ's layout carries complement rows (`other` = not a slot token,
`fetched.fnoff` = function not selected, `fetched.rowoff` = result row not kept, `nslot` = not my
slot): a gate `+G*ind - G` (the SUBLEQ form) would round real values at the scale of G.
"""

from __future__ import annotations

from typing import Mapping

from looped.layers import Units

# Larger than any pre-activation a gated unit can see where it must be off: data values are at
# most 1e6 in magnitude (looped/machines/fleq/program.py), and the largest weight on a real input is the
# matrix product's read-out scale (~1e16), so 1e30 leaves a wide margin in float64.
BIG = 1.0e30


def gated_linear(units: Units, terms: Mapping[int, float], gates: Mapping[int, float], out: Mapping[int, float],
                 big: float = BIG) -> None:
    """out += (sum terms) where every gate row is 0, else nothing (two units)."""
    gate = {row: -big * coef for row, coef in gates.items()}
    pos = dict(gate)
    neg = dict(gate)
    for row, coef in terms.items():
        pos[row] = pos.get(row, 0.0) + coef
        neg[row] = neg.get(row, 0.0) - coef
    units.add(pos, 0.0, dict(out))
    units.add(neg, 0.0, {row: -coef for row, coef in out.items()})


def gated_relu(units: Units, terms: Mapping[int, float], bias: float, gates: Mapping[int, float],
               out: Mapping[int, float], big: float = BIG) -> None:
    """out += relu(sum terms + bias) where every gate row is 0, else nothing (one unit)."""
    inputs = {row: -big * coef for row, coef in gates.items()}
    for row, coef in terms.items():
        inputs[row] = inputs.get(row, 0.0) + coef
    units.add(inputs, bias, dict(out))
