"""The machine: the instruction's layers with hand-set weights, for a machine key.

`machine_for(isa, key)` gives a `Machine`: its layout and dtype at once, its weights (`stack`) and
inverse temperature (`lam`) when first asked for, so that a run whose compiled loop is cached
(looped/executables.py) builds no weights at all. `build_machine(n, bits)` gives the SUBLEQ
machine as a Flax NNX module (looped/nnx_module.py; `LoopedMachine(X)` applies one instruction
with the dense layer formula, the faithful reference); Flax is imported only then, never on the
run path.

The instruction set (looped/machines/) supplies the layout, the stack, the inverse temperature lam and
the dtype for a machine key; lam is derived from the machine's shape, never tuned per program.
"""

from __future__ import annotations

import functools

import numpy as np

from looped import machines as instruction_sets
from looped import precision
from looped.precision import LEAK_MARGIN, dtype_for, inverse_temperature  # noqa: F401 (the exact machines' λ rule)
from looped.layers import Stack
from looped.layout import Layout


class Machine:
    """One machine: layout and dtype, and the weights built on first use."""

    def __init__(self, isa_name: str, key: tuple):
        self.isa_name, self.key = isa_name, key
        self.instruction_set = instruction_sets.get(isa_name)
        self.layout: Layout = self.instruction_set.layout(key)
        self.dtype = self.instruction_set.dtype(self.layout)
        precision.use(self.dtype)  # first: float64 needs JAX's 64-bit mode before any array is made

    @functools.cached_property
    def stack(self) -> Stack:
        return self.instruction_set.stack(self.layout)

    @functools.cached_property
    def lam(self) -> float:
        return self.instruction_set.inverse_temperature(self.layout)

    def size_table(self) -> list[dict]:
        return self.stack.table()


def build_machine(n: int, bits: int):
    """The SUBLEQ machine for cards of `n` tokens and `bits`-bit words, as a Flax NNX module
    (LoopedMachine). The weights depend on nothing else: the same machine runs every program of
    that size."""
    machine = machine_for("subleq", (n, bits))
    return _nnx_machine(machine)


@functools.lru_cache(maxsize=16)
def _nnx_machine(machine: Machine):
    from looped.nnx_module import LoopedMachine

    return LoopedMachine(machine.layout, machine.stack, machine.lam, machine.dtype)


@functools.lru_cache(maxsize=64)
def machine_for(isa_name: str, key: tuple) -> Machine:
    """The machine of instruction set `isa_name` for the machine key `key` (see looped/machines/base.py)."""
    return Machine(isa_name, key)


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


def __getattr__(name: str):
    """`LoopedMachine` and `LoopedLayer` (the NNX module) are imported on first use: Flax stays off
    the run path."""
    if name in ("LoopedMachine", "LoopedLayer"):
        from looped import nnx_module

        return getattr(nnx_module, name)
    raise AttributeError(f"module 'looped.machine' has no attribute '{name}'")
