"""The machine: the instruction's layers with hand-set weights, as a Flax NNX module.

`build_machine(layout)` sets every weight from the layout; `LoopedMachine(X)` applies one
instruction with the dense layer formula (the faithful reference; the runner may evaluate the
same weights with a faster kernel, see kernels/).

The inverse temperature lam is derived from the card width n and the word size N (see
`inverse_temperature`), never tuned per program.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from kernels import dense
from looped.isa.subleq import subleq_stack
from looped.layers import Layer, Stack
from looped.layout import Layout, subleq_layout
from looped.limits import FLOAT32_MAX_BITS

# Target error of one read or write before rounding: far below float32's resolution of 1, so the
# softmax is a hard selection to working precision.
LEAK_MARGIN = 2.0**-30


def inverse_temperature(n: int, bits: int, margin: float = LEAK_MARGIN) -> float:
    """lam such that the softmax's leak stays below `margin` where it matters.

    * Reads (fetch, operands) have a score gap of 2 over at most n-1 other tokens: each read bit is
      off by at most 2n exp(-2 lam), and the subtractor sums N bits with weights up to 2^(N-1), so
      the error reaching its thresholds is at most 2^N * 2n exp(-2 lam).
    * The write has a score gap of 1: the written bits are off by at most 2n exp(-lam).
    lam is the smallest value that keeps both below `margin`."""
    read = 0.5 * (math.log(2 * n) + bits * math.log(2) - math.log(margin))
    write = math.log(2 * n) - math.log(margin)
    return max(read, write)


def dtype_for(bits: int):
    """float32 up to FLOAT32_MAX_BITS (measured exact), float64 above."""
    if bits <= FLOAT32_MAX_BITS:
        return jnp.float32
    jax.config.update("jax_enable_x64", True)
    return jnp.float64


class LoopedLayer(nnx.Module):
    """One plain encoder layer: heads summed into the residual, then a residual ReLU MLP."""

    def __init__(self, layer: Layer, dtype):
        self.name = layer.name
        self.heads = nnx.List(
            [
                nnx.Dict(
                    wq=nnx.Variable(jnp.asarray(h.wq, dtype)),
                    wk=nnx.Variable(jnp.asarray(h.wk, dtype)),
                    wv=nnx.Variable(jnp.asarray(h.wv, dtype)),
                )
                for h in layer.heads
            ]
        )
        self.w1 = nnx.Variable(jnp.asarray(layer.mlp.w1, dtype))
        self.b1 = nnx.Variable(jnp.asarray(layer.mlp.b1, dtype))
        self.w2 = nnx.Variable(jnp.asarray(layer.mlp.w2, dtype))
        self.b2 = nnx.Variable(jnp.asarray(layer.mlp.b2, dtype))

    def __call__(self, X, lam):
        heads = [(h["wq"][...], h["wk"][...], h["wv"][...]) for h in self.heads]
        params = {"heads": heads, "w1": self.w1[...], "b1": self.b1[...], "w2": self.w2[...], "b2": self.b2[...]}
        return dense.apply_layer(params, X, lam)


class LoopedMachine(nnx.Module):
    """The stack of layers for one instruction; calling it on a card executes one instruction."""

    def __init__(self, layout: Layout, stack: Stack, lam: float, dtype):
        self.layout = layout
        self.stack = stack  # the numpy weights and structure hints, for the kernels
        self.lam = lam
        self.dtype = dtype
        self.layers = nnx.List([LoopedLayer(layer, dtype) for layer in stack.layers])

    def __call__(self, X):
        for lay in self.layers:
            X = lay(X, self.lam)
        return X

    def size_table(self) -> list[dict]:
        return self.stack.table()


@functools.lru_cache(maxsize=64)
def build_machine(n: int, bits: int) -> LoopedMachine:
    """The SUBLEQ machine for cards of `n` tokens and `bits`-bit words. The weights depend on
    nothing else: the same machine runs every program of that size."""
    layout = subleq_layout(0, 0, bits, n)
    stack = subleq_stack(layout)
    return LoopedMachine(layout, stack, inverse_temperature(layout.n, layout.bits), dtype_for(layout.bits))


def stack_arrays(stack: Stack) -> list[dict[str, np.ndarray]]:
    """The weights as plain arrays, one dict per layer (the exported form)."""
    out = []
    for lay in stack.layers:
        out.append(
            {
                "heads": [{"wq": h.wq, "wk": h.wk, "wv": h.wv} for h in lay.heads],
                "w1": lay.mlp.w1,
                "b1": lay.mlp.b1,
                "w2": lay.mlp.w2,
                "b2": lay.mlp.b2,
            }
        )
    return out
