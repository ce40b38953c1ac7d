"""FLEQ's operand pointers by an adder: one base pointer and a count per operand, not one pointer
per slot.

An operand of an instruction is `count` consecutive memory columns from `base` (a value, or a view
of one column), or one column read by every slot (a broadcast scalar or column). Slot token j
needs column base + j for j < count and nothing past it. The instruction holds the base as a ±1
code and the count as an integer; on slot j

* an adder makes the code of base + j (`add_slot_index`: the SUBLEQ subtractor, base - (-j), with
  the code of -j mod 2^L a constant row block of slot token j), and
* `past_count` makes off = [j >= count] from the constant row `slotnum` (j on slot token j).

A read whose slot is off reads the anchor instead (`read_or_anchor`: the off row raises the
anchor's score above any address), whose value rows are zero: the slot gets zeros, exactly as the
plain interpreter pads. A write whose slot is off has its pointer cleared first (`drop_pointer`):
a zero pointer addresses no token.
"""

from __future__ import annotations

from looped.blocks.control import subtract
from looped.blocks.heads import head
from looped.layers import MLP, Head, Units
from looped.layout import Layout, Rows


def add_slot_index(layout: Layout, base: Rows, minus_slot: Rows, out: Rows) -> MLP:
    """On slot tokens: out = the code of base + j (mod 2^L), from the constant code of -j."""
    return subtract(layout, base, minus_slot, out)


def past_count(layout: Layout, count: int, off: int) -> MLP:
    """On slot tokens: off = [j >= count] for the integers j (row `slotnum`) and count:
    relu(j - count + 1) - relu(j - count), gated off the other tokens by `ind`."""
    units = Units(layout.d, f"slot past count {count}", "scratch")
    slotnum, ind = layout["slotnum"].start, layout["ind"].start
    gate = 4.0 * (layout["slot"].size + 1)  # above |j - count| wherever the count may be read
    units.add({slotnum: 1.0, count: -1.0, ind: gate}, 1.0 - gate, {off: 1.0})
    units.add({slotnum: 1.0, count: -1.0, ind: gate}, -gate, {off: -1.0})
    return units.mlp()


def read_or_anchor(layout: Layout, lam: float, pointer: Rows, off: int, source: Rows, buffer: Rows,
                   name: str, also: tuple[tuple[int, int], ...] = ()) -> Head:
    """blocks.read with a way out: the scratch token reads `source` of the token its pointer
    addresses, or, where its `off` row is 1, of the anchor (score 2L + 1 against at most L for
    any address), whose `source` rows are zero. `also`: more (source row, buffer row) pairs read
    the same way."""
    L = layout.addr_bits  # (head() takes logits: lam times the read's score, as blocks.read)
    dims = [({pointer.start + r: lam}, {layout["pos"].start + r: 1.0}) for r in range(L)]
    dims.append(({off: lam * (2.0 * L + 1.0)}, {layout["anc"].start: 1.0}))
    values = [(src, dst, 1.0) for src, dst in zip(source.indices, buffer.indices)] + [(s, t, 1.0) for s, t in also]
    return head(layout.d, lam, dims, values, name=name)


def drop_pointer(layout: Layout, pointer: Rows, off: int) -> MLP:
    """On slot tokens: pointer -= off * pointer for ±1 codes (a slot past the count writes nothing):
    relu(p + 2 off - 2) - relu(-p + 2 off - 2) = off * p."""
    units = Units(layout.d, f"drop {pointer.name} past the count", "scratch")
    for row in pointer.indices:
        units.add({row: 1.0, off: 2.0}, -2.0, {row: -1.0})
        units.add({row: -1.0, off: 2.0}, -2.0, {row: 1.0})
    return units.mlp()
