"""FLEQ function blocks that are linear: add, sub, mov. One MLP part each, no attention.

Each output row i is one gated ReLU pair (looped/blocks/gates.py), so on a selected slot token
the result is the exact float sum (integers stay integers: counters and loops are exact).
"""

from __future__ import annotations

from looped.blocks.gates import gated_linear
from looped.layers import MLP, Units
from looped.layout import Layout, Rows


def result_gates(layout: Layout, select: int, i: int) -> dict[int, float]:
    """The gate rows of result row i of a function block: the block is not selected, row i is not
    kept, or the token is not a slot token."""
    return {select: 1.0, layout["fetched.rowoff"].start + i: 1.0, layout["other"].start: 1.0}


def _linear(layout: Layout, name: str, select: int, out: Rows, terms_of_row) -> MLP:
    units = Units(layout.d, name, "scratch")
    for i in range(out.size):
        gated_linear(units, terms_of_row(i), result_gates(layout, select, i), {out.start + i: 1.0})
    return units.mlp()


def add(layout: Layout, a: Rows, b: Rows, out: Rows, select: int) -> MLP:
    """out = a + b."""
    return _linear(layout, "add", select, out, lambda i: {a.start + i: 1.0, b.start + i: 1.0})


def sub(layout: Layout, a: Rows, b: Rows, out: Rows, select: int) -> MLP:
    """out = a - b."""
    return _linear(layout, "sub", select, out, lambda i: {a.start + i: 1.0, b.start + i: -1.0})


def mov(layout: Layout, a: Rows, out: Rows, select: int) -> MLP:
    """out = a."""
    return _linear(layout, "mov", select, out, lambda i: {a.start + i: 1.0})
