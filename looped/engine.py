"""Running programs on the looped transformer: cards in, decoded results out.

This is what `looped run` calls. Every instruction is executed by the machine's layers through a
kernel (kernels/); the oracle interpreter is never used here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import kernels
from looped.card import Card, card_width, decode_memory, decode_pc, encode_many
from looped.layout import decode_signed, decode_unsigned
from looped.limits import MAX_COLUMNS
from looped.machine import LoopedMachine, build_machine
from looped.program import LoopedError, Program
from looped import sharding
from looped.runner import Loop


@dataclass
class Result:
    status: str  # "halted" or "step_limit"
    steps: int
    memory: list[int]  # every memory cell, the assembler's own included
    pc: int  # code index of the program counter
    health: float  # largest distance from {-1, 0, 1} seen before error correction
    program: Program

    @property
    def outputs(self) -> dict:
        return self.program.outputs(self.memory)

    def to_json(self) -> dict:
        return {"status": self.status, "steps": self.steps, "memory": self.outputs}


def loop_for(n: int, bits: int, backend: str) -> tuple[LoopedMachine, Loop]:
    build_machine(n, bits)  # fixes the dtype (and switches JAX to 64 bits when needed) first
    # Kernels traced before JAX switched to 64 bits must not be reused after it: key on the mode.
    return _loop_for(n, bits, backend, bool(jax.config.jax_enable_x64))


@functools.lru_cache(maxsize=32)
def _loop_for(n: int, bits: int, backend: str, x64: bool) -> tuple[LoopedMachine, Loop]:
    machine = build_machine(n, bits)
    step = kernels.make_step(backend, machine.stack, machine.lam, machine.dtype)
    layout = machine.layout
    return machine, Loop(step, pc_token=0, pc_rows=layout["pc"].slice, width=layout.n)


def batch_cards(programs: Sequence[Program], n: int | None = None) -> list[Card]:
    """Encode programs on cards of one width (the widest program's, or `n`)."""
    return _encode(programs, n)[0]


def _encode(programs: Sequence[Program], n: int | None) -> tuple[list[Card], np.ndarray]:
    """The cards of batch_cards and their states stacked [B, n, d]."""
    bits = {p.bits for p in programs}
    if len(bits) != 1:
        raise LoopedError(f"error: a batch needs one word size, got {sorted(bits)}")
    n = max(card_width(p) for p in programs) if n is None else n
    if n > MAX_COLUMNS:
        raise LoopedError(f"error: card of {n} columns exceeds the limit of {MAX_COLUMNS}")
    return encode_many(list(programs), n)


def run(programs: Sequence[Program], backend: str = kernels.DEFAULT_BACKEND, max_steps: int | None = None,
        progress: Callable | None = None, n: int | None = None, shard: bool | None = None) -> list[Result]:
    """Run programs of one word size as a single batch; each halts on its own. `shard`: split the
    batch over all devices (None: when there are several; see looped/sharding.py)."""
    if not programs:
        return []
    cards, loop, X0, halt = _prepare(programs, backend, n, shard)
    state = loop.run(X0, halt, max_steps=max_steps, progress=progress)
    X = np.asarray(state.X)[: len(cards)]
    steps, done, worst = (np.asarray(a).tolist() for a in (state.steps, state.done, state.worst))
    # Decoded for the whole batch at once: every card's memory zone starts at the same token.
    layout = cards[0].layout
    start = layout.zone("memory").start
    longest = max(len(card.program.memory) for card in cards)
    memories = decode_memory(layout, X, longest).tolist()  # [B, longest] (columns past a card's own are ignored)
    pcs = decode_pc(layout, X).tolist()
    results = []
    for i, card in enumerate(cards):
        assert card.layout.zone("memory").start == start
        pc = int(pcs[i]) - card.layout.zone("code").start
        results.append(Result("halted" if done[i] else "step_limit", int(steps[i]),
                              memories[i][: len(card.program.memory)], pc, float(worst[i]), card.program))
    return results


def trace(programs: Sequence[Program], n_steps: int, backend: str = kernels.DEFAULT_BACKEND,
          n: int | None = None, shard: bool | None = None):
    """Decoded (pc, memory) after each of `n_steps` instructions for a batch of programs.

    Returns (pcs [n_steps, B] code indices, memories: list over programs of [n_steps, m_i] arrays,
    steps [n_steps, B]). Halted programs repeat their final state."""
    cards, loop, X0, halt = _prepare(programs, backend, n, shard)
    observe = _Observer(cards[0].layout["mem"].slice, cards[0].layout["pc"].slice)
    _, (mem_bits, pc_bits), steps = loop.trace(X0, halt, n_steps, observe)
    pcs, memories = _decode_trace(cards, mem_bits, pc_bits)
    return pcs, memories, np.asarray(steps)[:, : len(cards)]


def _decode_trace(cards: Sequence[Card], mem_bits, pc_bits):
    """A trace's recorded sign bits -> code-index pcs [T, B] and each card's memory [T, m_i]
    (cards past len(cards), sharding's padding, are dropped)."""
    mem_bits, pc_bits = np.asarray(mem_bits), np.asarray(pc_bits)
    pcs = decode_unsigned(pc_bits)[:, : len(cards)]
    memories = []
    for i, card in enumerate(cards):
        zone = card.layout.zone("memory")
        pcs[:, i] -= card.layout.zone("code").start
        memories.append(decode_signed(mem_bits[:, i, zone.start : zone.start + len(card.program.memory)]))
    return pcs, memories


def _prepare(programs: Sequence[Program], backend: str, n: int | None, shard: bool | None):
    """The cards, the loop for their machine, and the batch's initial states and halt addresses,
    split over all devices when `shard` says so (padded with idle cards)."""
    cards, X = _encode(programs, n)
    layout = cards[0].layout
    machine, loop = loop_for(layout.n, programs[0].bits, backend)
    X0 = jnp.asarray(X, machine.dtype)
    halt = np.array([c.halt_token for c in cards], np.int32)
    if sharding.should_shard(shard):
        X0, halt = sharding.place(X0, halt, lambda X: int(decode_pc(layout, X)), dtype=machine.dtype)
    return cards, loop, X0, halt


def trace_steps(program: Program, max_steps: int, backend: str = kernels.DEFAULT_BACKEND,
                chunk: int = 256):
    """Yield (step, pc before, pc after, memory after) for each instruction the transformer
    executes, until the halt or `max_steps`. Runs in scanned chunks of `chunk` instructions."""
    cards, loop, X, halt = _prepare([program], backend, None, shard=False)
    observe = _Observer(cards[0].layout["mem"].slice, cards[0].layout["pc"].slice)
    step, pc = 0, 0
    while step < max_steps and pc != program.halt_index:
        length = min(chunk, max_steps - step)
        state, (mem_bits, pc_bits), _ = loop.trace(X, halt, length, observe)
        pcs, (mems,) = _decode_trace(cards, mem_bits, pc_bits)
        for t in range(length):
            step += 1
            yield step, pc, int(pcs[t, 0]), [int(v) for v in mems[t]]
            pc = int(pcs[t, 0])
            if pc == program.halt_index:
                return
        X = state.X


@dataclass(frozen=True)
class _Observer:
    """What a trace records after each step: the sign bits of memory and pc (hashable: static)."""

    mem_rows: slice
    pc_rows: slice

    def __call__(self, X):
        return (X[:, :, self.mem_rows] > 0).astype(jnp.int8), (X[:, 0, self.pc_rows] > 0).astype(jnp.int8)

    def __hash__(self):
        return hash((self.mem_rows.start, self.mem_rows.stop, self.pc_rows.start, self.pc_rows.stop))
