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
# most 1e15 in magnitude (looped/machines/fleq/program.py), the largest weight on a real input is
# the matrix product's read-out scale (~4e15), and the exact decisions' first stage scales by
# 2^537 (looped/blocks/exact.py, below 2^700 in all). 2^800 leaves a wide margin and is exact.
BIG = 2.0**800


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


def combine(*gates: Mapping[int, float]) -> dict[int, float]:
    """One gate from several: coefficients of a row summed (a unit is on only where all are 0)."""
    out: dict[int, float] = {}
    for gate in gates:
        for row, coef in gate.items():
            out[row] = out.get(row, 0.0) + coef
    return out
