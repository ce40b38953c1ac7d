"""The machine as a Flax NNX module: the instruction's layers with hand-set weights.

`looped.machine.build_machine(n, bits)` returns one; calling it on a card X [n, d] applies one
instruction with the dense layer formula (the faithful reference). It is not on the run path:
`looped run` evaluates the same weights (looped/machine.py: Machine.stack) through a kernel
(kernels/), so that running a program does not import Flax.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from kernels import dense
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
