"""SUBLEQ as a list of blocks: five layers, at most two heads per layer.

    fetch      1 head   fetched <- instr at pc
    operands   2 heads  diff <- mem[b] - mem[a]      (read both, subtract in the same MLP)
    write      1 head   mem[b] <- diff; flag <- [diff <= 0]
    branch     0 heads  pc <- flag ? c : pc + 1; clear flag and fetched
    correct    0 heads  snap mem and pc to {-1, 0, +1}

The health figure is taken on the input of the last layer (see looped/runner.py).
"""

from __future__ import annotations

from looped import blocks
from looped.layers import Stack, layer
from looped.layout import Layout


def subleq_stack(layout: Layout) -> Stack:
    r, d = layout.rows, layout.d
    buf = r["buf"]
    layers = (
        layer(
            "fetch",
            blocks.read(layout, r["pc"], r["instr"], r["buf.instr"], name="fetch"),
            blocks.move(layout, r["buf.instr"], r["fetched"]),
            blocks.clear(layout, r["buf.instr"]),
            d=d,
        ),
        layer(
            "operands",
            blocks.read(layout, r["fetched.a"], r["mem"], r["buf.a"], name="read a"),
            blocks.read(layout, r["fetched.b"], r["mem"], r["buf.b"], name="read b"),
            blocks.subtract(layout, r["buf.b"], r["buf.a"], r["diff"]),
            blocks.clear(layout, r["buf.a"], r["buf.b"]),
            d=d,
        ),
        layer(
            "write",
            blocks.write(layout, r["fetched.b"], r["diff"], r["mem"], r["buf.write"]),
            blocks.overwrite(layout, r["buf.write"], r["mem"]),
            blocks.clear(layout, r["buf.write"], tokens="all"),
            blocks.flag_le_zero(layout, r["diff"], r["flag"]),
            blocks.clear(layout, r["diff"]),
            d=d,
        ),
        layer(
            "branch",
            blocks.branch(layout, r["pc"], r["fetched.c"], r["flag"]),
            blocks.clear(layout, r["flag"], r["fetched"]),
            d=d,
        ),
        layer(
            "correct",
            blocks.error_correction(layout, r["mem"]),
            # The program counter lives on the scratch token; its rows are zero everywhere else.
            blocks.error_correction(layout, r["pc"], tokens="scratch"),
            d=d,
        ),
    )
    assert buf.size >= max(r["buf.instr"].size, r["buf.a"].size + r["buf.b"].size)
    corrected = tuple(list(r["mem"].indices) + list(r["pc"].indices))
    return Stack(layers=layers, corrected_rows=corrected)
