"""The machine: the instruction's layers with hand-set weights, as a Flax NNX module.

`machine_for(isa, key)` sets every weight from the instruction set's layout; `LoopedMachine(X)` applies one
instruction with the dense layer formula (the faithful reference; the runner may evaluate the
same weights with a faster kernel, see kernels/).

The instruction set (looped/isa/) supplies the layout, the stack, the inverse temperature lam and
the dtype for a machine key; lam is derived from the machine's shape, never tuned per program.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
from flax import nnx

from kernels import dense
from looped import isa as instruction_sets
from looped.isa.subleq import LEAK_MARGIN, dtype_for, inverse_temperature  # noqa: F401 (the SUBLEQ λ rule)
from looped.layers import Layer, Stack
from looped.layout import Layout

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


def build_machine(n: int, bits: int) -> LoopedMachine:
    """The SUBLEQ machine for cards of `n` tokens and `bits`-bit words. The weights depend on
    nothing else: the same machine runs every program of that size."""
    return machine_for("subleq", (n, bits))


@functools.lru_cache(maxsize=64)
def machine_for(isa_name: str, key: tuple) -> LoopedMachine:
    """The machine of instruction set `isa_name` for the machine key `key` (see looped/isa/base.py)."""
    instruction_set = instruction_sets.get(isa_name)
    layout = instruction_set.layout(key)
    dtype = instruction_set.dtype(layout)  # first: it may switch JAX to 64 bits
    stack = instruction_set.stack(layout)
    return LoopedMachine(layout, stack, instruction_set.inverse_temperature(layout), dtype)


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
