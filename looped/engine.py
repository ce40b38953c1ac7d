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
from looped import machines as instruction_sets
from looped.machines.base import Card, InstructionSet
from looped.layout import decode_unsigned
from looped.limits import MAX_COLUMNS
from looped.machine import Machine, machine_for
from looped.errors import LoopedError
from looped import memory_guard, sharding
from looped.runner import Loop


@dataclass
class Result:
    status: str  # "halted", "step_limit" or "fault" (the machine reported one: see `fault`)
    steps: int
    memory: object  # every memory cell, the assembler's own included (SUBLEQ: list of ints; FLEQ: [H, columns])
    pc: int  # code index of the program counter
    health: float  # largest distance from {-1, 0, 1} seen before error correction
    program: object  # the program that ran (any machine's program type)
    fault: dict | None = None  # {"step", "loc", "block", "value", "message"} when status is "fault"

    @property
    def outputs(self) -> dict:
        return self.program.outputs(self.memory)

    def to_json(self) -> dict:
        out = {"status": self.status, "steps": self.steps, "memory": self.outputs}
        if self.fault is not None:
            out["fault"] = self.fault
        return out


def loop_for(n: int, bits: int, backend: str) -> tuple[Machine, Loop]:
    """The SUBLEQ machine for cards of `n` tokens and `bits`-bit words, and its loop."""
    return machine_loop("subleq", (n, bits), backend)


def machine_loop(isa_name: str, key: tuple, backend: str) -> tuple[Machine, Loop]:
    machine_for(isa_name, key)  # fixes the dtype (and switches JAX to 64 bits when needed) first
    # Kernels traced before JAX switched to 64 bits must not be reused after it: key on the mode.
    return _loop_for(isa_name, key, backend, bool(jax.config.jax_enable_x64))


@functools.lru_cache(maxsize=32)
def _loop_for(isa_name: str, key: tuple, backend: str, x64: bool) -> tuple[Machine, Loop]:
    """The machine and its loop. Nothing is built here: the weights and the kernel's step are made
    when the loop first needs to trace (not at all when its compiled form is on disk)."""
    if backend not in kernels.BACKENDS:
        raise ValueError(f"unknown backend '{backend}' (expected one of {', '.join(kernels.BACKENDS)})")
    machine = machine_for(isa_name, key)
    layout = machine.layout
    pc_token = instruction_sets.get(isa_name).pc_token
    make_step = lambda: kernels.make_step(backend, machine.stack, machine.lam, machine.dtype)  # noqa: E731
    return machine, Loop(make_step, pc_token=pc_token, pc_rows=layout["pc"].slice, width=layout.n,
                         cache_key=(isa_name, key, backend, x64), chunked=kernels.runs_chunks(backend))


def batch_cards(programs: Sequence, n: int | None = None) -> list[Card]:
    """Encode programs on cards of one width (the widest program's, or `n`)."""
    return _encode(programs, n)[2]


def _encode(programs: Sequence, n: int | None) -> tuple[InstructionSet, tuple, list[Card], np.ndarray]:
    """The batch's instruction set, machine key, cards and states stacked [B, n, d]."""
    instruction_set = instruction_sets.of(programs)
    key = instruction_set.machine_key(programs, n)
    width = key[0]
    if width > MAX_COLUMNS:
        raise LoopedError(f"error: card of {width} columns exceeds the limit of {MAX_COLUMNS}")
    memory_guard.check(instruction_set, key, programs)  # before anything is built
    cards, X = instruction_set.encode(programs, key)
    return instruction_set, key, cards, X


def run(programs: Sequence, backend: str = kernels.DEFAULT_BACKEND, max_steps: int | None = None,
        progress: Callable | None = None, n: int | None = None, shard: bool | None = None,
        slots: int | None = None) -> list[Result]:
    """Run programs of one instruction set and machine shape as one batch; each halts on its own,
    results in input order. At most `slots` cards run on the device at once (default: the
    runner's): between chunks, stopped cards leave and waiting ones take their slots (see
    looped/runner.py). `shard`: split the batch over all devices (None: when there are several;
    see looped/sharding.py)."""
    if not programs:
        return []
    instruction_set, cards, loop, X0, halt = _prepare(programs, backend, n, shard)
    state = loop.run(X0, halt, max_steps=max_steps, progress=progress, slots=slots)
    X = np.asarray(state.X)[: len(cards)]
    steps, done, worst = (np.asarray(a).tolist() for a in (state.steps, state.done, state.worst))
    memories = instruction_set.decode_memory(cards, X)
    pcs = instruction_set.decode_pc(cards[0].layout, X).tolist()
    faults = instruction_set.decode_faults(cards, X, memories, steps)
    results = []
    for i, card in enumerate(cards):
        pc = int(pcs[i]) - card.layout.zone("code").start
        status = "fault" if faults[i] is not None else "halted" if done[i] else "step_limit"
        results.append(Result(status, int(steps[i]), memories[i], pc, float(worst[i]), card.program, faults[i]))
    return results


def trace(programs: Sequence, n_steps: int, backend: str = kernels.DEFAULT_BACKEND,
          n: int | None = None, shard: bool | None = None):
    """Decoded (pc, memory) after each of `n_steps` instructions for a batch of programs.

    Returns (pcs [n_steps, B] code indices, memories: list over programs of [n_steps, ...] arrays,
    steps [n_steps, B]). Halted programs repeat their final state."""
    instruction_set, cards, loop, X0, halt = _prepare(programs, backend, n, shard)
    _, observed, steps = loop.trace(X0, halt, n_steps, _observer(instruction_set, cards[0].layout))
    pcs, memories = _decode_trace(instruction_set, cards, observed)
    return pcs, memories, np.asarray(steps)[:, : len(cards)]


def _observer(instruction_set: InstructionSet, layout) -> "_Observer":
    return _Observer(instruction_set.trace_observer(layout), instruction_set.pc_token, layout["pc"].slice)


def _decode_trace(instruction_set: InstructionSet, cards: Sequence[Card], observed):
    """A trace's records -> code-index pcs [T, B] and each card's memory [T, ...] (cards past
    len(cards), sharding's padding, are dropped)."""
    memory, pc_bits = observed
    pcs = decode_unsigned(np.asarray(pc_bits))[:, : len(cards)]
    for i, card in enumerate(cards):
        pcs[:, i] -= card.layout.zone("code").start
    return pcs, instruction_set.decode_observed(cards, memory)


def _prepare(programs: Sequence, backend: str, n: int | None, shard: bool | None):
    """The instruction set, the cards, the loop for their machine, and the batch's initial states
    and halt addresses, split over all devices when `shard` says so (padded with idle cards)."""
    instruction_set, key, cards, X = _encode(programs, n)
    layout = cards[0].layout
    machine, loop = machine_loop(instruction_set.name, key, backend)
    # On the host, in the machine's dtype (a jnp cast would compile a program): the runner's compiled
    # loop takes numpy arrays as they are, and a device_put of its own would only cost time.
    X0 = np.asarray(X, np.dtype(machine.dtype))
    halt = np.array([c.halt_token for c in cards], np.int32)
    if sharding.should_shard(shard):
        X0, halt = sharding.place(X0, halt, lambda X: int(instruction_set.decode_pc(layout, X)), dtype=machine.dtype)
    return instruction_set, cards, loop, X0, halt


def trace_steps(program, max_steps: int, backend: str = kernels.DEFAULT_BACKEND,
                chunk: int = 256, faults: list | None = None):
    """Yield (step, pc before, pc after, memory after) for each instruction the transformer
    executes, until the halt or `max_steps`. Runs in scanned chunks of `chunk` instructions.
    When the machine reports a fault, the faulting step is not yielded (it changed nothing) and
    its record (Result.fault) is appended to `faults`."""
    instruction_set, cards, loop, X, halt = _prepare([program], backend, None, shard=False)
    observe = _observer(instruction_set, cards[0].layout)
    step, pc, memory = 0, 0, program.memory
    while step < max_steps and pc != program.halt_index:
        length = min(chunk, max_steps - step)
        state, observed, _ = loop.trace(X, halt, length, observe)
        pcs, (mems,) = _decode_trace(instruction_set, cards, observed)
        for t in range(length):
            step += 1
            if int(pcs[t, 0]) == program.halt_index:
                (fault,) = instruction_set.decode_faults(cards, np.asarray(state.X), [_plain(mems[t])], [step])
                if fault is not None:
                    if faults is not None:
                        faults.append(fault)
                    return
            yield step, pc, int(pcs[t, 0]), _plain(mems[t])
            pc = int(pcs[t, 0])
            if pc == program.halt_index:
                return
        X = state.X


def _plain(memory):
    """One traced memory as the oracle holds it (SUBLEQ: a list of ints; FLEQ: an array)."""
    memory = np.asarray(memory)
    return [int(v) for v in memory] if memory.ndim == 1 else memory


@dataclass(frozen=True)
class _Observer:
    """What a trace records after each step: the instruction set's record of memory, and the sign
    bits of the program counter (hashable: a static argument of the jitted trace)."""

    memory: Callable
    pc_token: int
    pc_rows: slice

    def __call__(self, X):
        return self.memory(X), (X[:, self.pc_token, self.pc_rows] > 0).astype(jnp.int8)

    def __hash__(self):
        return hash((self.memory, self.pc_token, self.pc_rows.start, self.pc_rows.stop))
