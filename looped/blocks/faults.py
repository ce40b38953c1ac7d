"""FLEQ faults: the blocks' domain checks, the machine's fault row, and what a fault does.

A function block whose operands leave its domain, or whose result would leave the machine's
range, must not return a value as if it were accurate. Each check is the first stage of an exact
decision (looped/blocks/exact.py): a unit that adds a positive amount to the slot's `raw` row
exactly when the check fails, gated like the block's result (selected block, kept row, a slot
whose result is used). The `check` layer then gathers `raw` over the slot tokens (one head: the
mean of non-negative numbers is positive when any is) and turns it into the `fault` row, exactly
0 or 1 and the same on every slot. The instruction's write and branch read that row:

* the write carries the fault to the addressed memory token, whose overwrite it gates off (the
  memory stays as it was before the instruction);
* the branch is forced to the halt column (each instruction carries the halt address), so the
  runner sees a halted card and reads the fault row (the runner is unchanged);
* the program counter of the faulting instruction is kept in `faultpc`, for the report.
"""

from __future__ import annotations

import math

from looped.blocks.arith import result_gates
from looped.blocks.exact import is_zero, raw_above
from looped.blocks.gates import combine, gated_linear
from looped.blocks.heads import head
from looped.blocks.product import PRODUCT_SCALE, SEPARATION
from looped.layers import MLP, Head, Units, copy_map, projection
from looped.layout import Layout, Rows

# mul's domain, |a b| <= MUL_LIMIT, checked on its own read-out sigma(c a b) - 1/2, which grows
# with |a b|: the read-out at the limit is MUL_READOUT_LIMIT.
MUL_LIMIT = 1.0e4
MUL_READOUT_LIMIT = 1.0 / (1.0 + math.exp(-PRODUCT_SCALE * MUL_LIMIT)) - 0.5
# ... and |a|, |b| <= MUL_OPERAND_LIMIT: the heads read operands clipped there (looped/blocks/
# real.py's move_clipped), keeping their logits c a b below 1e16.
MUL_OPERAND_LIMIT = 1.0e10


def active(layout: Layout) -> dict[int, float]:
    """Gate of a slot whose result is used: `fetched.off` is 1 on a slot past the destination's
    width, 0 on a used one."""
    return {layout["fetched.off"].start: 1.0}


def checked(layout: Layout, select: int, i: int) -> dict[int, float]:
    """The gates of a check on result row i of a block."""
    return combine(result_gates(layout, select, i), active(layout))


def _both_signs(units: Units, terms: dict, limit: float, gates: dict, raw: int) -> None:
    """raw > 0 when |sum terms| > limit."""
    raw_above(units, terms, limit, gates, raw)
    raw_above(units, {row: -coef for row, coef in terms.items()}, limit, gates, raw)


def check_sum(layout: Layout, a: Rows, b: Rows, sign: float, select: int, raw: int, limit: float) -> MLP:
    """add (sign +1) and sub (-1): fault when |a + sign b| > limit (the machine's range)."""
    units = Units(layout.d, "check add" if sign > 0 else "check sub", "scratch")
    for i in range(a.size):
        _both_signs(units, {a.start + i: 1.0, b.start + i: sign}, limit, checked(layout, select, i), raw)
    return units.mlp()


def check_product(layout: Layout, buf: Rows, a: Rows, b: Rows, select: int, raw: int) -> MLP:
    """mul: fault when |a b| > MUL_LIMIT, read off the first head's read-out (monotone in a b),
    or when |a| or |b| > MUL_OPERAND_LIMIT (the heads saw them clipped)."""
    units = Units(layout.d, "check mul", "scratch")
    for i in range(buf.size // 2):
        gates = checked(layout, select, i)
        _both_signs(units, {buf.start + 2 * i: 1.0}, MUL_READOUT_LIMIT, gates, raw)
        _both_signs(units, {a.start + i: 1.0}, MUL_OPERAND_LIMIT, gates, raw)
        _both_signs(units, {b.start + i: 1.0}, MUL_OPERAND_LIMIT, gates, raw)
    return units.mlp()


def check_recip(layout: Layout, a: Rows, pos: Rows, neg: Rows, select: int, raw: int, low: float,
                high: float) -> MLP:
    """recip: fault unless low <= |a| <= high (0 included)."""
    units = Units(layout.d, "check recip", "scratch")
    for i in range(a.size):
        gates = checked(layout, select, i)
        _both_signs(units, {a.start + i: 1.0}, high, gates, raw)
        raw_above(units, {pos.start + i: -1.0, neg.start + i: -1.0}, -low, gates, raw)
    return units.mlp()


def check_rsqrt(layout: Layout, a: Rows, select: int, raw: int, low: float, high: float) -> MLP:
    """rsqrt: fault unless low <= a <= high (every a <= 0 included)."""
    units = Units(layout.d, "check rsqrt", "scratch")
    for i in range(a.size):
        gates = checked(layout, select, i)
        raw_above(units, {a.start + i: 1.0}, high, gates, raw)
        raw_above(units, {a.start + i: -1.0}, -low, gates, raw)
    return units.mlp()


def check_matmul(layout: Layout, b: Rows, buf: Rows, scale: float, shared: int, select: int, raw: int,
                 b_limit: float, limit: float) -> MLP:
    """matmul: fault when an entry of B (rows k < shared) exceeds b_limit, or a result row (its
    read-out, scale * (buf+ - buf-)) exceeds the machine's range."""
    units = Units(layout.d, "check matmul", "scratch")
    H = buf.size // 2
    for k in range(shared):
        _both_signs(units, {b.start + k: 1.0}, b_limit, combine({select: 1.0, layout["other"].start: 1.0},
                                                                 active(layout)), raw)
    for i in range(H):
        _both_signs(units, {buf.start + i: scale, buf.start + H + i: -scale}, limit, checked(layout, select, i), raw)
    return units.mlp()


# ---- the check layer ----------------------------------------------------------------------------


def gather(layout: Layout, lam: float, raw: Rows, gathered: Rows, *more: Rows) -> Head:
    """Every scratch token reads the mean of `raw` (plus the rows of `more`, all non-negative) over
    the slot tokens (every other key is pushed down by SEPARATION: its weight underflows to
    exactly 0)."""
    ind, anc, other = layout["ind"].start, layout["anc"].start, layout["other"].start
    dims = [({ind: -SEPARATION}, {other: 1.0}), ({anc: -SEPARATION}, {other: 1.0})]
    values = [(row, gathered.start, 1.0) for rows in (raw, *more) for row in rows.indices]
    return head(layout.d, lam, dims, values, name="gather faults")


def raise_fault(layout: Layout, gathered: Rows, fault: Rows) -> MLP:
    """On slot tokens: fault += [gathered > 0], exactly 0 or 1."""
    units = Units(layout.d, "fault", "scratch")
    ind = layout["ind"].start
    units.add({ind: 1.0}, 0.0, {fault.start: 1.0})
    is_zero(units, gathered.start, ind, {layout["other"].start: 1.0}, {fault.start: -1.0})
    return units.mlp()


def sign_raw(layout: Layout, value: int, raw: Rows) -> MLP:
    """On slot tokens: raw = 2^537 relu(value), the first stage of [value <= 0]."""
    units = Units(layout.d, f"stage 1 of [{raw.name} <= 0]", "scratch")
    raw_above(units, {value: 1.0}, 0.0, {layout["other"].start: 1.0}, raw.start)
    return units.mlp()


def le_zero(layout: Layout, raw: Rows, flag: Rows) -> MLP:
    """On slot tokens: flag += [raw == 0], i.e. [value <= 0] of sign_raw's value, exactly."""
    units = Units(layout.d, f"[{flag.name}]", "scratch")
    is_zero(units, raw.start, layout["ind"].start, {layout["other"].start: 1.0}, {flag.start: 1.0})
    return units.mlp()


# ---- the write and the branch under a fault -----------------------------------------------------


def write(layout: Layout, pointer: Rows, source: Rows, target: Rows, buffer: Rows, fault: Rows,
          carried: Rows, kept: Rows) -> Head:
    """looped/blocks/control.py's write, which also carries the slot's fault row to the addressed
    token (`carried`; every other token carries its own fault row, 0 off the slots) and marks the
    tokens that keep their value (`kept`: each token's own `other` row, 1 off the scratch tokens;
    the addressed token gathers the slot's, 0)."""
    L = layout.addr_bits
    wv = copy_map(layout.d, [(target, buffer), (source, buffer), (fault, carried), (layout["other"], kept)])
    return Head(wq=projection(layout.d, {layout["pos"]: 1.0}),
                wk=projection(layout.d, {layout["pos"]: 1.0, pointer: 1.0 + 1.0 / L}),
                wv=wv, queries="others", keys="scratch+self", name="write")


def _written(layout: Layout, carried: Rows, kept: Rows) -> dict:
    """Gate of the addressed memory token of an instruction that did not fault (0 there only)."""
    return {layout["ind"].start: 1.0, layout["anc"].start: 1.0, carried.start: 1.0, kept.start: 1.0}


def erase(layout: Layout, dest: Rows, carried: Rows, kept: Rows) -> MLP:
    """Write layer: dest = 0 on the addressed token (dest + (-dest) is exactly 0; dest + (new - dest)
    would round a real)."""
    units = Units(layout.d, f"erase {dest.name}", "all")
    for row in dest.indices:
        gated_linear(units, {row: -1.0}, _written(layout, carried, kept), {row: 1.0})
    return units.mlp()


def clear_on_scratch(layout: Layout, *blocks: Rows) -> MLP:
    """x -> 0 on the scratch tokens only (the slots and the anchor: `other` - `anc` is 0 there and 1
    on every other token, which gates the rest off): what the write head (which queries the other
    tokens) leaves on the scratch tokens is cleared in its own layer, as the fast kernels' hint
    promises, while the addressed token keeps it for the branch layer."""
    units = Units(layout.d, "clear on scratch " + " ".join(b.name for b in blocks), "scratch")
    gate = {layout["other"].start: 1.0, layout["anc"].start: -1.0}
    for block in blocks:
        for row in block.indices:
            gated_linear(units, {row: -1.0}, gate, {row: 1.0})
    return units.mlp()


def put(layout: Layout, source: Rows, dest: Rows, carried: Rows, kept: Rows) -> MLP:
    """Branch layer: dest += source on the addressed token (0 + new is exactly new)."""
    units = Units(layout.d, f"put {dest.name}", "all")
    for src, dst in zip(source.indices, dest.indices):
        gated_linear(units, {src: 1.0}, _written(layout, carried, kept), {dst: 1.0})
    return units.mlp()


def branch_flag(layout: Layout, old: int, written_raw: int, keep_old: int, writes_flag: Rows, fault: int,
                flag: int) -> MLP:
    """On slot tokens: flag = 1 under a fault; else the flag read before the write where
    `keep_old` is 1, else [written <= 0] from the written value's first stage (exact)."""
    units = Units(layout.d, "flag after the write", "scratch")
    other, ind = layout["other"].start, layout["ind"].start
    gated_linear(units, {old: 1.0}, {other: 1.0, fault: 1.0, **{row: 1.0 for row in writes_flag.indices}},
                 {flag: 1.0})
    is_zero(units, written_raw, ind, {other: 1.0, keep_old: 1.0, fault: 1.0}, {flag: 1.0})
    units.add({fault: 1.0}, 0.0, {flag: 1.0})
    return units.mlp()


def to_halt(layout: Layout, target: Rows, halt: Rows, pc: Rows, saved: Rows, fault: int) -> MLP:
    """On slot tokens under a fault: the branch target becomes the halt address, and the program
    counter is saved (±1 codes: fault * v = relu(v + G f - G) - relu(-v + G f - G))."""
    units = Units(layout.d, "fault: to halt", "scratch")
    for p, h in zip(target.indices, halt.indices):
        units.add({h: 1.0, p: -1.0, fault: 4.0}, -4.0, {p: 1.0})
        units.add({h: -1.0, p: 1.0, fault: 4.0}, -4.0, {p: -1.0})
    for src, dst in zip(pc.indices, saved.indices):
        units.add({src: 1.0, fault: 2.0}, -2.0, {dst: 1.0})
        units.add({src: -1.0, fault: 2.0}, -2.0, {dst: -1.0})
    return units.mlp()
