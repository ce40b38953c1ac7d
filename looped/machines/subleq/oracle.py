"""The plain SUBLEQ interpreter: the oracle for tests. It never runs `looped run`.

Semantics (separate instruction and data zones, as in the construction): execute
`mem[b] = wrap(mem[b] - mem[a])`, then go to `c` when the new `mem[b] <= 0`, else to the next
instruction. The machine has halted when the program counter is the halt column.
"""

from __future__ import annotations

from dataclasses import dataclass

from looped.machines.subleq.program import Program
from looped.layout import wrap


@dataclass
class OracleState:
    memory: list[int]
    pc: int
    steps: int = 0

    @property
    def status(self) -> str:
        return "halted" if self.halted else "step_limit"

    halted: bool = False


def step(program: Program, memory: list[int], pc: int) -> int:
    """Execute the instruction at `pc` in place on `memory`; return the next pc."""
    inst = program.code[pc]
    memory[inst.b] = wrap(memory[inst.b] - memory[inst.a], program.bits)
    return inst.c if memory[inst.b] <= 0 else pc + 1


def run(program: Program, max_steps: int | None = None) -> OracleState:
    memory, pc, steps = list(program.memory), 0, 0
    halt = program.halt_index
    while pc != halt and (max_steps is None or steps < max_steps):
        pc = step(program, memory, pc)
        steps += 1
    return OracleState(memory, pc, steps, halted=pc == halt)


def trace(program: Program, max_steps: int):
    """Yield (pc, memory) after each executed instruction, up to the halt or `max_steps`."""
    memory, pc = list(program.memory), 0
    halt = program.halt_index
    for _ in range(max_steps):
        if pc == halt:
            return
        pc = step(program, memory, pc)
        yield pc, list(memory)
