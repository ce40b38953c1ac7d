"""FLEQ's `sigmoid`: the softmax of two keys *is* a logistic, so this block is exact.

For row i, slot token j attends to itself with logit a_i and to the anchor token with logit 0
(every other token pushed down by SEPARATION, as in looped/blocks/product.py). Self's value is 1
and the anchor's 0, so the read-out is sigma(a_i) to float64 rounding (about 1e-16 absolute; the
leak of the silenced tokens is exp(-200)). Its derivative sigma(1 - sigma) is two more
instructions of a program (`sub` from 1, `mul`).
"""

from __future__ import annotations

from looped.blocks.arith import result_gates
from looped.blocks.gates import gated_linear
from looped.blocks.heads import head
from looped.blocks.product import own_slot_dims
from looped.layers import MLP, Head, Units
from looped.layout import Layout, Rows


def heads(layout: Layout, lam: float, a: Rows, buf: Rows) -> list[Head]:
    """One head per row i: buf row i = sigma(a_i)."""
    ind = layout["ind"].start
    out = []
    for i in range(a.size):
        dims = [({a.start + i: 1.0}, {ind: 1.0})] + own_slot_dims(layout)
        out.append(head(layout.d, lam, dims, [(ind, buf.start + i, 1.0)], name=f"sigmoid row {i}", keys="scratch"))
    return out


def mlp(layout: Layout, buf: Rows, out: Rows, select: int) -> MLP:
    units = Units(layout.d, "sigmoid", "scratch")
    for i in range(out.size):
        gated_linear(units, {buf.start + i: 1.0}, result_gates(layout, select, i), {out.start + i: 1.0})
    return units.mlp()
