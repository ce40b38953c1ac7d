"""Running classic SUBLEQ tapes on the looped transformer: what `looped tape` calls.

Every instruction is executed by the machine's layers (looped/machines/tape/isa.py) through a kernel; the
oracle (looped/machines/tape/oracle.py) is never used here. The driver only does what an I/O device does:
the machine writes its output into a fixed number of output cells on the card and stops itself
(the `full` flag) when they are full; the driver then empties them (keeping the bytes), rewinds
the output cursor and lets the card run on. Between such rounds nothing else of the state is
touched, and a card's result never depends on its batch.

A batch runs in rounds over one batch shape (no recompilation): each round runs every card that
still has work, each card's step count starting at what it has executed so far (`steps0` of
Loop.run), so that each stops at its own budget; cards that have finished are held stopped.
(Without `steps0` a round runs every card for the smallest budget that remains.)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Sequence

import numpy as np

import kernels
from looped.machines.tape.isa import STOP_CODE, TAPE
from looped.layout import bits_array
from looped.errors import LoopedError
from looped.runner import MAX_STEPS
from looped.machines.tape.program import TapeProgram, decode_output, fault_message


@dataclass
class TapeResult:
    status: str  # "halted", "step_limit" or "fault"
    steps: int  # instructions executed (a faulting one counted)
    output: bytes
    memory: list[int]  # the whole final memory
    ip: int  # the instruction pointer (halted: the last instruction's; fault: the faulting one's)
    input_pos: int  # input bytes consumed
    message: str  # the fault's message, else ""
    health: float  # largest distance from {-1, 0, 1} seen before error correction
    program: TapeProgram

    def to_json(self) -> dict:
        out = {"status": self.status, "steps": self.steps, "output": decode_output(self.output),
               "memory": list(self.memory)}
        if self.message:
            out["message"] = self.message
        return out


def run(tapes: Sequence[TapeProgram], backend: str = kernels.DEFAULT_BACKEND, max_steps: int | None = None,
        n: int | None = None, slots: int | None = None) -> list[TapeResult]:
    """Run tapes of one word size as one batch; each halts, faults or stops at `max_steps` on its
    own. Results in input order."""
    from looped import engine

    if not tapes:
        return []
    tapes = list(tapes)
    key = TAPE.machine_key(tapes, n)
    cards, X = TAPE.encode(tapes, key)
    machine, loop = engine.machine_loop("tape", key, backend)
    layout = cards[0].layout
    r = layout.rows
    X = np.asarray(X, dtype=machine.dtype)
    B = len(tapes)
    budget = MAX_STEPS if max_steps is None else int(max_steps)
    total = np.zeros(B, np.int64)
    output = [bytearray() for _ in range(B)]
    health = np.zeros(B)
    results: list[TapeResult | None] = [None] * B
    active = np.ones(B, bool)
    first_out = layout.zone("output").start - 1
    rewind = bits_array([first_out], layout.addr_bits)[0]
    halt = np.full(B, STOP_CODE, np.int32)
    per_card = "steps0" in inspect.signature(loop.run).parameters
    while active.any():
        for i in np.flatnonzero(~active):
            X[i, 0, r["pc"].start] = 1.0  # finished cards are held stopped
        if per_card:  # each card's step count starts at what it has executed: its own budget
            state = loop.run(X, halt, max_steps=budget, slots=slots, steps0=total)
            steps = np.asarray(state.steps)
        else:  # one budget for all: the smallest that remains
            state = loop.run(X, halt, max_steps=int((budget - total)[active].min()), slots=slots)
            steps = total + np.asarray(state.steps)
        X = np.array(state.X, dtype=machine.dtype)
        worst = np.asarray(state.worst)
        decoded = TAPE.decode_memory(cards, X)
        for i in np.flatnonzero(active):
            d = decoded[i]
            total[i] = int(steps[i])
            health[i] = max(health[i], float(worst[i]))
            output[i] += d.output
            # empty the output cells and rewind the cursor (every round: the bytes are kept here)
            X[i, layout.zone("output").start : layout.zone("output").stop, r["out"].slice] = 0.0
            X[i, 0, r["ocur"].slice] = rewind
            status = None
            if d.fault:
                status = "fault"
            elif d.halted:
                status = "halted"
            elif total[i] >= budget:
                status = "step_limit"
            if status is None:
                if d.full:  # a pause: let it run on
                    X[i, 0, r["status.full"].start] = 0.0
                    X[i, 0, r["pc"].start] = 0.0
                elif d.stop:
                    raise LoopedError(f"error: instance {i} stopped without a reason (internal error)")
                continue
            message = fault_message(d.memory, d.ip, int(total[i])) if status == "fault" else ""
            results[i] = TapeResult(status, int(total[i]), bytes(output[i]), d.memory, d.ip, d.input_pos,
                                    message, float(health[i]), tapes[i])
            active[i] = False
    return results  # type: ignore[return-value]

