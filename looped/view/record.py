"""Record a run of the looped transformer step by step, for `looped view`.

The recorder applies the machine's own layers (its hand-set weights and λ) one instruction after
another, one layer at a time so that each head's attention can be looked at on the layer's input:
the layer formula as written (kernels/dense.py) for cards of up to DENSE_UP_TO tokens, the fast
kernel's evaluation of the same layer (kernels/fast.py, the default backend's) for wider cards.
After each instruction it keeps only what changed:

* the punch card's entries whose value (rounded to `CARD_DECIMALS`) changed,
* the data labels whose value changed (decoded from the state, as `looped run --json` decodes it),
* the program counter (a code index; for tapes the instruction pointer IP),
* for every attention head, where it looked: a read head (its queries on the scratch tokens) the
  keys its scratch queries weigh most, a write head (its queries on the other tokens) the columns
  that take most from each scratch token, with their softmax weights,
* for tapes, the bytes written.

Nothing comes from the oracle. A run longer than `window` steps keeps only its last `window`
steps, starting from a snapshot of the state at the window's start.
"""

from __future__ import annotations

import collections
import functools
import json
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kernels import dense
from kernels.common import as_array, lattice_distance, matmul
from looped import machines
from looped.errors import LoopedError
from looped.machine import machine_for
from looped.runner import HEALTH_BOUND, NumericalHealthError
from looped.view import DEFAULT_WINDOW

CARD_DECIMALS = 3  # the heat map's resolution: far finer than its colours
TOP_K = 2  # entries kept per scratch token and head
MIN_WEIGHT = 0.05  # attention weights below this are not worth showing
DENSE_UP_TO = 128  # card width up to which the recorder evaluates the layer formula as written
STATE_BUDGET = 4_000_000  # card entries per recorded chunk (a chunk's states stay in host memory)


@dataclass
class Step:
    """What one instruction changed."""

    pc: int  # the program counter after it (code index; tapes: IP)
    card: list  # [flat index, new value, ...] of the rounded card
    memory: dict  # {label: new JSON value}
    heads: list  # [[head, scratch token, column, weight], ...]
    output: str = ""  # tapes: the text written

    def to_json(self) -> dict:
        out = {"pc": self.pc, "x": self.card, "m": self.memory, "h": self.heads}
        if self.output:
            out["o"] = self.output
        return out


@dataclass
class Snapshot:
    """The state the page starts from: the rounded card, every label's value, pc and output."""

    card: np.ndarray  # [n, d] rounded
    memory: dict
    pc: int
    output: str = ""

    def apply(self, step: Step) -> None:
        flat = self.card.reshape(-1)
        flat[np.asarray(step.card[0::2], np.int64)] = step.card[1::2]
        self.memory.update(step.memory)
        self.pc = step.pc
        self.output += step.output


@dataclass
class Recording:
    program: Any
    machine: str  # "subleq", "fleq" or "tape"
    layout: Any  # the card's Layout
    heads: list  # [{"layer": name, "name": name, "mode": "read" | "write"}]
    start: Snapshot  # the state at `first`
    first: int  # the step the window starts at (0: the whole run is kept)
    steps: list = field(default_factory=list)  # Step after first + 1, first + 2, ...
    status: str = "step_limit"  # "halted", "step_limit" or "fault"
    message: str = ""
    memory_cells: int = 0  # tapes: the memory cells the card holds (its machine key's third entry)
    language: str = ""  # "c" for a tape compiled from C
    cell_lines: list | None = None  # a C program's tape: each cell's C source line (or None)

    @property
    def total(self) -> int:
        """Instructions the run executed."""
        return self.first + len(self.steps)


# ---- the transformer, one instruction at a time, looking at its heads -------------------------------


def head_table(stack) -> list[dict]:
    """Every head of the stack in order, with its layer and whether it reads (scratch queries) or
    writes (queries on the other tokens)."""
    return [{"layer": lay.name, "name": h.name or f"head {i}", "mode": "write" if h.queries == "others" else "read"}
            for lay in stack.layers for i, h in enumerate(lay.heads)]


def _look(P, writes: bool, S: int):
    """Where a head looked: [S, TOP_K] weights and columns. A read head: the keys each scratch
    query weighs most. A write head: for each scratch key, the other tokens that weigh it most."""
    if writes:
        weights, idx = jax.lax.top_k(P[S:, :S].T, TOP_K)
        return weights, idx + S
    return jax.lax.top_k(P[:S], TOP_K)


EVALUATORS = ("fast", "dense")


@functools.lru_cache(maxsize=8)
def _chunk_runner(isa_name: str, key: tuple, length: int, evaluator: str = "fast"):
    """A jitted function: state X [n, d] -> the states after each of `length` instructions
    [length, n, d], the head looks ([length, heads, S, k] weights and columns) and the health
    figure of each instruction.

    Each layer is applied on its own, so that its heads' attention can be looked at on its input:
    "dense" evaluates the layer formula as written (kernels/dense.py); "fast" (the default
    backend's evaluator, kernels/fast.py, the same machine at a cost linear in the card width)
    applies each layer as a one-layer stack, and the looks are computed from the layer's input
    with the head's own query and key maps (a read head's scratch rows only)."""
    machine = machine_for(isa_name, key)
    stack, dtype = machine.stack, machine.dtype
    rows = np.asarray(stack.corrected_rows)
    S, check = stack.scratch_tokens, stack.health_layer
    lam = jnp.asarray(machine.lam, dtype)
    # (A write head whose keys are "scratch+self" is looked at, on the fast path, as the fast kernel
    # evaluates it: each token's softmax over the scratch tokens and itself, not all n keys.)
    near = evaluator == "fast"
    heads = [[(as_array(h.wq, dtype), as_array(h.wk, dtype), h.queries == "others", near and h.keys == "scratch+self")
              for h in lay.heads] for lay in stack.layers]
    if evaluator == "dense":
        params = [dense.layer_params(lay, dtype) for lay in stack.layers]
        layers = [functools.partial(dense.apply_layer, p, lam=lam) for p in params]
    elif evaluator == "fast":
        layers = [_fast_layer(lay, stack, machine.lam, dtype) for lay in stack.layers]
    else:
        raise ValueError(f"unknown evaluator '{evaluator}' (expected one of {', '.join(EVALUATORS)})")

    def looks_of(layer_heads, X):
        out = []
        for wq, wk, write, near in layer_heads:
            keys = matmul(X, wk)
            if write and near:  # each other token over the scratch keys and itself
                queries = matmul(X[S:], wq)
                logits = jnp.concatenate([matmul(queries, keys[:S].T), jnp.sum(queries * keys[S:], -1)[:, None]], -1)
                weights, idx = jax.lax.top_k(jax.nn.softmax(lam * logits, axis=-1)[:, :S].T, TOP_K)
                out.append((weights, idx + S))
                continue
            if write:  # every token's row (a write head's queries are the other tokens)
                P = jax.nn.softmax(lam * matmul(matmul(X, wq), keys.T), axis=-1)
            else:  # a read head's queries that matter: the scratch tokens'
                P = jax.nn.softmax(lam * matmul(matmul(X[:S], wq), keys.T), axis=-1)
            out.append(_look(P, write, S))
        return out

    def one(X, _):
        health, looks = jnp.zeros((), dtype), []
        for i, (apply, layer_heads) in enumerate(zip(layers, heads)):
            if i == check:
                health = lattice_distance(X[:, rows])
            looks += looks_of(layer_heads, X)
            X = apply(X)
        weights = jnp.stack([w for w, _ in looks])
        columns = jnp.stack([c for _, c in looks])
        return X, (X, weights, columns, health)

    def run(X):
        _, out = jax.lax.scan(one, X, None, length=length)
        return out

    return jax.jit(run), dtype


def _fast_layer(lay, stack, lam: float, dtype):
    """One layer as the fast kernel evaluates it: X [n, d] -> X after the layer."""
    import dataclasses

    import kernels

    single = dataclasses.replace(stack, layers=(lay,), health_before=0)
    step = kernels.make_step("fast", single, lam, dtype)

    def apply(X):
        state, _ = step.advance(step.open(X))
        return step.close(state)

    return apply


# ---- what the page shows, decoded from a state ------------------------------------------------------


def rounded(X: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(X, np.float64), CARD_DECIMALS)


def _plain(value: float):
    """A rounded card value as JSON wants it (an int when whole: shorter)."""
    return int(value) if value == int(value) else float(value)


def card_delta(before: np.ndarray, after: np.ndarray) -> list:
    flat_before, flat_after = before.reshape(-1), after.reshape(-1)
    changed = np.flatnonzero(flat_before != flat_after)
    out = []
    for i in changed.tolist():
        out += [i, _plain(flat_after[i])]
    return out


def memory_delta(before: dict, after: dict) -> dict:
    return {label: value for label, value in after.items() if before.get(label) != value}


class _Decoder:
    """Reads labels, pc and output off states of one card (as `looped run` and `looped tape` do)."""

    def __init__(self, instruction_set, card):
        self.instruction_set, self.card = instruction_set, card
        self.program, self.layout = card.program, card.layout
        self.is_tape = instruction_set.name == "tape"

    def stopped(self, Xs: np.ndarray) -> np.ndarray:
        """[T] whether each state is at the halt address (the runner's test)."""
        return self.instruction_set.decode_pc(self.layout, Xs) == self.card.halt_token

    def decode(self, Xs: np.ndarray) -> list[tuple[dict, int, Any]]:
        """[(labels, pc, tape state or None)] for states [T, n, d]."""
        decoded = self.instruction_set.decode_memory([self.card] * len(Xs), Xs)
        if self.is_tape:
            return [({str(k): v for k, v in enumerate(t.memory)}, t.ip, t) for t in decoded]
        code0 = self.layout.zone("code").start
        pcs = self.instruction_set.decode_pc(self.layout, Xs) - code0
        return [(_json_safe(self.program.outputs(m)), int(pc), None) for m, pc in zip(decoded, pcs)]


def _json_safe(values: dict) -> dict:
    """Labels' values through JSON and back: the form the page and `run --json` share."""
    return json.loads(json.dumps(values))


def _chunk_length(layout, max_steps: int) -> int:
    """Instructions per compiled chunk: a power of two, small for short runs, bounded by the host
    memory the chunk's states take."""
    per_state = layout.n * layout.d
    limit = max(1, STATE_BUDGET // per_state)
    length = 8
    while length < min(max_steps, 256, limit):
        length *= 2
    return max(1, min(length, 1 << max(0, limit.bit_length() - 1)))


def record(program, max_steps: int = 10_000, window: int = DEFAULT_WINDOW, evaluator: str = "auto") -> Recording:
    """Run `program` (SUBLEQ, FLEQ or tape) on the looped transformer for at most `max_steps`
    instructions, recording what each instruction changed (the last `window` of them)."""
    if window < 1:
        raise ValueError("window must be at least 1")
    instruction_set = machines.get(program.isa)
    key = instruction_set.machine_key([program])
    cards, X0 = instruction_set.encode([program], key)
    machine = machine_for(instruction_set.name, key)
    decoder = _Decoder(instruction_set, cards[0])
    X = np.asarray(X0[0], np.dtype(machine.dtype))
    if evaluator == "auto":  # the dense formula compiles fastest; its cost grows as n^2
        evaluator = "dense" if decoder.layout.n <= DENSE_UP_TO else "fast"
    runner, _ = _chunk_runner(instruction_set.name, key, _chunk_length(decoder.layout, max_steps), evaluator)

    labels, pc, tape = decoder.decode(X[None])[0]
    start = Snapshot(rounded(X), dict(labels), pc, _tape_text(tape.output) if tape else "")
    recording = Recording(program, instruction_set.name, decoder.layout, head_table(machine.stack), start, 0,
                          memory_cells=key[2] if decoder.is_tape else 0)
    latest = Snapshot(start.card.copy(), dict(labels), pc, start.output)
    steps: collections.deque = collections.deque()
    drained = b""  # tapes: output bytes the driver has taken out of the card's output cells
    executed, done = 0, bool(decoder.stopped(X[None])[0])
    while not done and executed < max_steps:
        Xs, weights, columns, health = (np.asarray(a) for a in runner(X))
        take = min(len(Xs), max_steps - executed)
        hits = np.flatnonzero(decoder.stopped(Xs[:take]))
        take = int(hits[0]) + 1 if hits.size else take
        bad = np.flatnonzero(health[:take] > HEALTH_BOUND)
        if bad.size:  # as the runner does: stop rather than show a wrong state
            raise NumericalHealthError(0, executed + int(bad[0]) + 1, float(health[bad[0]]), HEALTH_BOUND)
        for t, (labels, pc, tape) in enumerate(decoder.decode(Xs[:take])):
            card = rounded(Xs[t])
            output = _tape_text(drained + tape.output)[len(latest.output):] if tape else ""
            step = Step(pc, card_delta(latest.card, card), memory_delta(latest.memory, labels),
                        _heads(weights[t], columns[t]), output)
            latest.apply(step)
            steps.append(step)
            executed += 1
            if len(steps) > window:  # the window moves on: its first step joins the snapshot
                start.apply(steps.popleft())
        X = Xs[take - 1].copy()
        if hits.size:
            outcome = _after_stop(decoder, X, executed)
            if isinstance(outcome, tuple):
                recording.status, recording.message = outcome
                done = True
            else:  # a tape paused with full output cells: the driver emptied them
                drained += decoder.instruction_set.decode_memory([decoder.card], X[None])[0].output
                X = outcome
                latest.card = rounded(X)
                if steps:  # the emptied cells are part of the state after this step
                    steps[-1].card += card_delta(rounded(Xs[take - 1]), latest.card)
    recording.first, recording.steps = executed - len(steps), list(steps)
    return recording


def _tape_text(data: bytes) -> str:
    from looped.machines.tape.program import decode_output

    return decode_output(data)


def _after_stop(decoder: _Decoder, X: np.ndarray, executed: int):
    """The card reached its halt address. SUBLEQ and FLEQ: halted. A tape: halted, faulted, or its
    output cells are full, which pauses it: then the driver empties them (as `looped tape`'s
    driver does, looped/machines/tape/engine.py) and the run goes on. Returns (status, message)
    when the run is over, else the state to go on from."""
    if not decoder.is_tape:  # a machine whose layers detect faults (FLEQ) raised its fault row?
        set_ = decoder.instruction_set
        memory = set_.decode_memory([decoder.card], X[None])
        (fault,) = set_.decode_faults([decoder.card], X[None], memory, [executed])
        return ("fault", fault["message"]) if fault is not None else ("halted", "")
    (tape,) = decoder.instruction_set.decode_memory([decoder.card], X[None])
    if tape.fault:
        from looped.machines.tape.program import fault_message

        return "fault", fault_message(tape.memory, tape.ip, executed)
    if tape.halted:
        return "halted", ""
    if not tape.full:
        raise LoopedError("error: the tape stopped without a reason (internal error)")
    from looped.layout import bits_array

    layout, r = decoder.layout, decoder.layout.rows
    out = layout.zone("output")
    X = X.copy()
    X[out.start : out.stop, r["out"].slice] = 0.0
    X[0, r["ocur"].slice] = bits_array([out.start - 1], layout.addr_bits)[0]
    X[0, r["status.full"].start] = 0.0
    X[0, r["pc"].start] = 0.0
    return X


def _heads(weights: np.ndarray, columns: np.ndarray) -> list:
    """[[head, scratch token, column, weight], ...] of the looks worth showing."""
    out = []
    for h, s, k in zip(*np.nonzero(weights >= MIN_WEIGHT)):
        out.append([int(h), int(s), int(columns[h, s, k]), round(float(weights[h, s, k]), 4)])
    return out
