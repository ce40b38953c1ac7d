"""Moving real values and testing them, on the slot tokens: FLEQ's counterparts of `move` and
`flag_le_zero`. Every unit is gated exactly (looped/blocks/gates.py)."""

from __future__ import annotations

from looped.blocks.gates import gated_linear, gated_relu
from looped.blocks.heads import head
from looped.blocks.product import SEPARATION
from looped.layers import MLP, Head, Units
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


def _ramp(units: Units, layout: Layout, value: int, gates: dict, flag: int) -> None:
    """flag += relu(1 - x/r) - relu(-x/r): 1 for x <= 0, 0 for x >= r = FLAG_RESOLUTION."""
    k = 1.0 / FLAG_RESOLUTION
    gated_relu(units, {layout["ind"].start: 1.0, value: -k}, 0.0, gates, {flag: 1.0})
    gated_relu(units, {value: -k}, 0.0, gates, {flag: -1.0})


def flag_le_zero(layout: Layout, value: int, flag: int) -> MLP:
    """On slot tokens: flag = 1 when x = row `value` is <= 0, 0 when x >= FLAG_RESOLUTION."""
    units = Units(layout.d, "flag <= 0 (real)", "scratch")
    _ramp(units, layout, value, {layout["other"].start: 1.0}, flag)
    return units.mlp()


def read_slot_result(layout: Layout, lam: float, which: Rows, result: Rows, buf: Rows) -> Head:
    """Every slot token reads row 0 of `result` off the slot token that the one-hot rows `which`
    name (logit 0 there, -SEPARATION on every other token); with `which` all zero the read-out is
    an average that the caller's gate discards."""
    nslot, ind, anc = layout["nslot"], layout["ind"].start, layout["anc"].start
    dims = [({which.start + j: -SEPARATION}, {nslot.start + j: 1.0}) for j in range(which.size)]
    dims.append(({ind: -SEPARATION}, {anc: 1.0}))
    return head(layout.d, lam, dims, [(result.start, buf.start, 1.0)], name="read the written flag")


def flag_after_write(layout: Layout, old: int, written: int, keep_old: int, writes_flag: Rows, flag: int) -> MLP:
    """On slot tokens: flag = the flag read before the write where `keep_old` is 1 (the
    instruction does not write the flag cell; then every row of `writes_flag` is 0), else
    [written <= 0] of the value written there (one row of `writes_flag` is 1)."""
    units = Units(layout.d, "flag after the write", "scratch")
    other = layout["other"].start
    gated_linear(units, {old: 1.0}, {other: 1.0, **{row: 1.0 for row in writes_flag.indices}}, {flag: 1.0})
    _ramp(units, layout, written, {other: 1.0, keep_old: 1.0}, flag)
    return units.mlp()


def clip(units: Units, layout: Layout, src: int, gates: dict, dst: int, limit: float) -> None:
    """dst += clip(x, -limit, limit) of row src = x - relu(x - limit) + relu(-x - limit), where the
    gates are 0."""
    gated_linear(units, {src: 1.0}, gates, {dst: 1.0})
    gated_relu(units, {src: 1.0}, -limit, gates, {dst: -1.0})
    gated_relu(units, {src: -1.0}, -limit, gates, {dst: 1.0})


def move_clipped(layout: Layout, source: Rows, dest: Rows, limit: float, broadcast: int | None = None,
                 no_broadcast: int | None = None) -> MLP:
    """On slot tokens: dest += source clipped to [-limit, limit] (and spread as move_broadcast
    does when `broadcast` rows are given). The attention blocks read clipped copies: their logits
    grow with the operands, and XLA's fused softmax turns logits beyond ~1e18 into NaN; a clipped
    operand is one the block's check faults on anyway (or, for sigmoid, one whose value is the
    same)."""
    units = Units(layout.d, f"clip {source.name}->{dest.name}", "scratch")
    other = layout["other"].start
    for i, (src, dst) in enumerate(zip(source.indices, dest.indices)):
        if broadcast is None:
            clip(units, layout, src, {other: 1.0}, dst, limit)
        else:
            clip(units, layout, src, {other: 1.0, broadcast: 1.0}, dst, limit)
            clip(units, layout, source.start, {other: 1.0, no_broadcast: 1.0}, dst, limit)
    return units.mlp()
