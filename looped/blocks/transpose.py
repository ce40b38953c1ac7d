"""FLEQ's `transpose`: exact, one head per column of the result's rows.

Result row k of slot token j is A[j, k], which lives on slot token k, row j. Head k makes every
slot token attend to slot token k alone (logit 0 there, -SEPARATION on every other token: the
`nslot` row k is 0 only on slot token k, and the anchor's is raised by `anc`), so it copies A[:, k]
whole into buffer rows k: its weight there is exactly 1.0 in float64. The MLP then keeps, on slot
token j, buffer row (k, j) as result row k (gated by `nslot` row j, which is 0 only on token j).
"""

from __future__ import annotations

from looped.blocks.arith import result_gates
from looped.blocks.gates import gated_linear
from looped.blocks.heads import head
from looped.blocks.product import SEPARATION
from looped.layers import MLP, Head, Units
from looped.layout import Layout, Rows


def size(layout: Layout, a: Rows) -> int:
    """K = min(H, W): a transposable operand is at most K x K."""
    return min(a.size, layout["slot"].size)


def heads(layout: Layout, lam: float, a: Rows, buf: Rows) -> list[Head]:
    H, K = a.size, size(layout, a)
    nslot, ind, anc = layout["nslot"], layout["ind"].start, layout["anc"].start
    out = []
    for k in range(K):
        dims = [({ind: -SEPARATION}, {nslot.start + k: 1.0, anc: 1.0})]
        values = [(a.start + i, buf.start + k * H + i, 1.0) for i in range(H)]
        out.append(head(layout.d, lam, dims, values, name=f"transpose column {k}", keys="scratch"))
    return out


def mlp(layout: Layout, a: Rows, buf: Rows, out: Rows, select: int) -> MLP:
    H, K = a.size, size(layout, a)
    nslot = layout["nslot"]
    units = Units(layout.d, "transpose", "scratch")
    for k in range(K):
        for j in range(K):
            gates = result_gates(layout, select, k)
            gates[nslot.start + j] = 1.0
            gated_linear(units, {buf.start + k * H + j: 1.0}, gates, {out.start + k: 1.0})
    return units.mlp()
