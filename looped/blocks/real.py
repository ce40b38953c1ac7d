"""Moving real values and testing them, on the slot tokens: FLEQ's counterparts of `move` and
`flag_le_zero`. Every unit is gated exactly (looped/blocks/gates.py)."""

from __future__ import annotations

from looped.blocks.gates import gated_linear, gated_relu
from looped.layers import MLP, Units
from looped.layout import Layout, Rows

# The flag ramps from 1 at x <= 0 to 0 at x >= FLAG_RESOLUTION. Integer-valued cells (counters)
# give exact flags; a real flag cell strictly between 0 and this resolution gives a fraction, which
# the program counter's health check reports instead of branching on it.
FLAG_RESOLUTION = 2.0**-20


def move(layout: Layout, source: Rows, dest: Rows) -> MLP:
    """On slot tokens: dest += source (exactly)."""
    units = Units(layout.d, f"move {source.name}->{dest.name}", "scratch")
    other = layout["other"].start
    for src, dst in zip(source.indices, dest.indices):
        gated_linear(units, {src: 1.0}, {other: 1.0}, {dst: 1.0})
    return units.mlp()


def split_sign(layout: Layout, source: Rows, pos: Rows, neg: Rows) -> MLP:
    """On slot tokens: pos += relu(source), neg += relu(-source)."""
    units = Units(layout.d, f"split {source.name}", "scratch")
    other = layout["other"].start
    for src, p, n in zip(source.indices, pos.indices, neg.indices):
        gated_relu(units, {src: 1.0}, 0.0, {other: 1.0}, {p: 1.0})
        gated_relu(units, {src: -1.0}, 0.0, {other: 1.0}, {n: 1.0})
    return units.mlp()


def move_broadcast(layout: Layout, source: Rows, dest: Rows, broadcast: int, no_broadcast: int) -> MLP:
    """On slot tokens: dest += source, or, where the `broadcast` row is 1, every row of dest +=
    source's first row (a scalar or row vector spread over the rows). `no_broadcast` is the
    complement row."""
    units = Units(layout.d, f"move {source.name}->{dest.name} (broadcast)", "scratch")
    other = layout["other"].start
    for i, (src, dst) in enumerate(zip(source.indices, dest.indices)):
        gated_linear(units, {src: 1.0}, {other: 1.0, broadcast: 1.0}, {dst: 1.0})
        gated_linear(units, {source.start: 1.0}, {other: 1.0, no_broadcast: 1.0}, {dst: 1.0})
    return units.mlp()


def flag_le_zero(layout: Layout, value: int, flag: int) -> MLP:
    """On slot tokens: flag = 1 when x = row `value` is <= 0, 0 when x >= FLAG_RESOLUTION:
    relu(1 - x/r) - relu(-x/r)."""
    units = Units(layout.d, "flag <= 0 (real)", "scratch")
    ind, other = layout["ind"].start, layout["other"].start
    k = 1.0 / FLAG_RESOLUTION
    gated_relu(units, {ind: 1.0, value: -k}, 0.0, {other: 1.0}, {flag: 1.0})
    gated_relu(units, {value: -k}, 0.0, {other: 1.0}, {flag: -1.0})
    return units.mlp()
