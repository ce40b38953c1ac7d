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

import copy
from typing import Iterable, Mapping

import numpy as np

from looped.layers import MLP, Head, Units

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


def only_where_selected(off_row: int, *parts: "Head | MLP | Iterable[Head]") -> list:
    """Copies of a function block's parts marked as acting only where it is selected
    (Head.skip_where, MLP.skip_where: looped/layers.py), `off_row` its "not selected" row (0 or 1;
    FLEQ's fetched.fnoff rows). Every unit of an MLP part must be gated by that row (raises
    ValueError otherwise): where the row is 1 the unit is off. A head's promise (it writes only
    rows that units gated by the row read, and the layer clears) is held by the tests that compare
    skipping with evaluating (tests/kernels/test_invariant.py)."""
    out = []
    for part in parts:
        for one in ([part] if isinstance(part, (Head, MLP)) else list(part)):
            if isinstance(one, MLP):
                _check_gated(one, off_row)
            marked = copy.copy(one)
            object.__setattr__(marked, "skip_where", int(off_row))
            out.append(marked)
    return out


def _check_gated(part: MLP, off_row: int) -> None:
    sparse = getattr(part, "sparse", None)
    if sparse is not None:
        (rows, units, coefs), _ = sparse
        gate = np.zeros(part.hidden)
        mine = rows == off_row
        gate[units[mine]] = coefs[mine]
    else:
        gate = np.asarray(part.w1[off_row], float)
    if part.hidden and not np.all(gate <= -BIG):
        raise ValueError(f"{part.name!r}: {int(np.count_nonzero(gate > -BIG))} of {part.hidden} units are not gated "
                         f"by row {off_row}")
