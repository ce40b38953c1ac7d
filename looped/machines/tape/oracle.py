"""The plain interpreter of classic SUBLEQ tapes (the Rosetta Code dialect): the tests' oracle.
`looped tape` never uses it: every instruction there is executed by the transformer.

Semantics (docs/tapes.md): IP starts at 0; a step reads A, B, C = mem[IP..IP+2] and sets IP += 3;
A = -1: mem[B] = the next input byte (-1 once the input is exhausted); else B = -1: output
mem[A] mod 256; else mem[B] -= mem[A] (wrapping at the word size) and IP = C when the result is
<= 0. Halted when IP < 0 or IP > size - 3 (checked before each step). An address outside the
memory (A or B, other than the -1 cases) is a fault: the instruction does nothing, the step counts,
and the machine stops with IP still at the faulting instruction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from looped.layout import wrap
from looped.machines.tape.program import fault_message


@dataclass
class TapeState:
    memory: list[int]
    ip: int = 0
    steps: int = 0
    output: bytearray = field(default_factory=bytearray)
    input_pos: int = 0  # input bytes consumed
    status: str = "running"  # "running", "halted", "fault" (or "step_limit" after run())
    message: str = ""

    def snapshot(self) -> "TapeState":
        return TapeState(list(self.memory), self.ip, self.steps, bytearray(self.output), self.input_pos,
                         self.status, self.message)


def halted(memory_size: int, ip: int) -> bool:
    return ip < 0 or ip > memory_size - 3


def step(state: TapeState, bits: int, data: bytes) -> None:
    """One instruction on `state` in place (the state must be running)."""
    mem, size, ip = state.memory, len(state.memory), state.ip
    a, b, c = mem[ip], mem[ip + 1], mem[ip + 2]
    state.steps += 1
    valid = lambda x: 0 <= x < size  # noqa: E731
    if a == -1:
        if not valid(b):
            return _fault(state)
        if state.input_pos < len(data):
            mem[b] = wrap(data[state.input_pos], bits)
            state.input_pos += 1
        else:
            mem[b] = -1
        state.ip = ip + 3
    elif b == -1:
        if not valid(a):
            return _fault(state)
        state.output.append(mem[a] % 256)
        state.ip = ip + 3
    else:
        if not valid(a) or not valid(b):
            return _fault(state)
        mem[b] = wrap(mem[b] - mem[a], bits)
        state.ip = c if mem[b] <= 0 else ip + 3
    if halted(size, state.ip):
        state.status = "halted"


def _fault(state: TapeState) -> None:
    state.status = "fault"
    state.message = fault_message(state.memory, state.ip, state.steps)


def start(memory, bits: int) -> TapeState:
    state = TapeState(list(memory))
    if halted(len(state.memory), 0):
        state.status = "halted"
    return state


def run(program, max_steps: int | None = None) -> TapeState:
    """Run a TapeProgram until it halts, faults or has executed `max_steps` instructions."""
    state = start(program.memory, program.bits)
    while state.status == "running" and (max_steps is None or state.steps < max_steps):
        step(state, program.bits, program.input)
    if state.status == "running":
        state.status = "step_limit"
    return state


def trace(program, max_steps: int):
    """Yield a snapshot of the state after each instruction, up to the halt, a fault or `max_steps`."""
    state = start(program.memory, program.bits)
    while state.status == "running" and state.steps < max_steps:
        step(state, program.bits, program.input)
        yield state.snapshot()
