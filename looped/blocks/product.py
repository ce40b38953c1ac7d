"""FLEQ's elementwise product `mul`: one two-key softmax per row, read in its linear regime.

Slot token j holds a = A[:, j] and b = B[:, j]. For row i, a head lets token j attend to itself
with logit z = c * a_i * b_i and to the anchor token with logit 0; every other token is pushed
down by SEPARATION (the `nslot` rows: 1 on every token but the query's own slot and the anchor).
Self's value is +1/2 and the anchor's -1/2, so the read-out is sigma(z) - 1/2 = z/4 - z^3/48 + ...
Two heads, at c and 2c, combined as (16 r(c) - 2 r(2c)) / (3c) (Richardson), cancel the cubic
term:

    mul = a_i b_i (1 - (c a_i b_i)^4 / 30 + ...)

The logit is computed as a product, never added to a large constant, so tiny products keep their
relative precision; the floor is float64's resolution of sigma near 1/2, about 2e-16 / (c |a b|).
With c = PRODUCT_SCALE = 1e-5 the relative error is (c a b)^4 / 30: 3.4e-6 at the domain's edge
|a b| = 1e4, below 1e-13 for |a b| <= 100; the softmax's own rounding (a few ulps of sigma near 1/2,
times 16 / (3c)) adds at most 5e-10 absolute (looped/blocks/bounds.py states the bound; held by
tests/machines/fleq/test_fleq_blocks.py, measured by benchmarks/fleq_faults.py). float64 only: in float32 the same read-out resolves sigma - 1/2 to 6e-8.
"""

from __future__ import annotations

from looped.blocks.arith import result_gates
from looped.blocks.gates import gated_linear
from looped.blocks.heads import head
from looped.layers import MLP, Head, Units
from looped.layout import Layout, Rows

PRODUCT_SCALE = 1.0e-5
# Logit gap that silences every token but the query itself and the anchor: exp(-800) underflows
# to exactly 0 in float64, so the silenced tokens add nothing at all.
SEPARATION = 800.0


def own_slot_dims(layout: Layout) -> list:
    """Score terms giving -SEPARATION to every key but the query's own slot token and the anchor."""
    slot, nslot = layout["slot"], layout["nslot"]
    return [({slot.start + r: -SEPARATION}, {nslot.start + r: 1.0}) for r in range(slot.size)]


def heads(layout: Layout, lam: float, a: Rows, b: Rows, buf: Rows) -> list[Head]:
    """2 heads per row i (scales c and 2c); head (i, s) writes sigma(z) - 1/2 into buf row 2i+s."""
    ind, anc = layout["ind"].start, layout["anc"].start
    out = []
    for i in range(a.size):
        for s, scale in enumerate((PRODUCT_SCALE, 2 * PRODUCT_SCALE)):
            dims = [({a.start + i: scale}, {b.start + i: 1.0})] + own_slot_dims(layout)
            values = [(ind, buf.start + 2 * i + s, 0.5), (anc, buf.start + 2 * i + s, -0.5)]
            out.append(head(layout.d, lam, dims, values, name=f"mul row {i} x{s + 1}", keys="scratch"))
    return out


def mlp(layout: Layout, buf: Rows, out: Rows, select: int) -> MLP:
    """out_i = (16 r_i(c) - 2 r_i(2c)) / (3c), gated by the selection."""
    units = Units(layout.d, "mul", "scratch")
    c = PRODUCT_SCALE
    for i in range(out.size):
        terms = {buf.start + 2 * i: 16.0 / (3 * c), buf.start + 2 * i + 1: -2.0 / (3 * c)}
        gated_linear(units, terms, result_gates(layout, select, i), {out.start + i: 1.0})
    return units.mlp()
