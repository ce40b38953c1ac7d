"""The plain FLEQ interpreter: the oracle for tests. It never runs `looped run`.

NumPy, float64, exact functions (`looped.machines.fleq.program.apply_function`). One instruction, on
padded H x W operands (H = program.height, W = program.slots), as the fleq_program docstring
states: gather A and B from the instruction's column lists (zero past their length), broadcast
B's row 0 over its rows when `b_rows_broadcast`, R = f(A, B), zero R's rows from `c_height` on,
write R's first len(c_cols) columns, then go to `p` when `mem[flag_col][0] <= 0`, else to the
next instruction. The machine has halted when the program counter is the halt instruction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from looped.machines.fleq.program import FleqProgram, apply_function


@dataclass
class FleqOracleState:
    memory: np.ndarray  # [H, n_columns] float64
    pc: int
    steps: int = 0
    halted: bool = False

    @property
    def status(self) -> str:
        return "halted" if self.halted else "step_limit"


def _gather(memory: np.ndarray, cols: tuple[int, ...], width: int) -> np.ndarray:
    X = np.zeros((memory.shape[0], width))
    if cols:
        X[:, : len(cols)] = memory[:, list(cols)]
    return X


def step(program: FleqProgram, memory: np.ndarray, pc: int, slots: int | None = None) -> int:
    """Execute the instruction at `pc` in place on `memory` [H, n_columns]; return the next pc.

    `slots` is program.slots (pass it when stepping often: computing it walks the code)."""
    inst = program.code[pc]
    W = program.slots if slots is None else slots
    A = _gather(memory, inst.a_cols, W)
    B = _gather(memory, inst.b_cols, W)
    if inst.b_rows_broadcast:
        B[:, :] = B[0, :]
    R = apply_function(inst.fn, A, B)
    R[inst.c_height :, :] = 0.0
    for j, col in enumerate(inst.c_cols):
        memory[:, col] = R[:, j]
    return inst.p if memory[0, inst.flag_col] <= 0 else pc + 1


def run(program: FleqProgram, max_steps: int | None = None) -> FleqOracleState:
    memory, pc, steps = np.array(program.memory, dtype=np.float64), 0, 0
    halt, W = program.halt_index, program.slots
    while pc != halt and (max_steps is None or steps < max_steps):
        pc = step(program, memory, pc, W)
        steps += 1
    return FleqOracleState(memory, pc, steps, halted=pc == halt)


def trace(program: FleqProgram, max_steps: int):
    """Yield (pc, memory copy) after each executed instruction, up to the halt or `max_steps`."""
    memory, pc = np.array(program.memory, dtype=np.float64), 0
    halt, W = program.halt_index, program.slots
    for _ in range(max_steps):
        if pc == halt:
            return
        pc = step(program, memory, pc, W)
        yield pc, memory.copy()
