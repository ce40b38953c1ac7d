"""Seeded random SUBLEQ programs, for differential tests and benchmarks (no JAX here)."""

from __future__ import annotations

import numpy as np

from looped.machines.subleq import oracle
from looped.machines.subleq.program import Cell, Instruction, Program


def random_program(rng: np.random.Generator, bits: int, n_cells: int = 8, n_code: int = 16,
                   value_range: tuple[int, int] | None = None) -> Program:
    """Random data in `n_cells` user cells and `n_code` random instructions, then the halt column.

    Jump targets are any instruction; falling off the last one halts. Memory ends with the
    constants 0 and -1 that the halt column (subleq 0, -1, itself) uses."""
    low, high = value_range or (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    memory = [int(v) for v in rng.integers(low, high + 1, n_cells)] + [0, -1]
    code = [
        Instruction(int(rng.integers(n_cells)), int(rng.integers(n_cells)), int(rng.integers(n_code)),
                    source="subleq")
        for _ in range(n_code)
    ]
    code.append(Instruction(n_cells, n_cells + 1, n_code, source="halt"))
    cells = {
        "x": Cell("x", 0, n_cells),
        "#0": Cell("#0", n_cells, 1, "const"),
        "#-1": Cell("#-1", n_cells + 1, 1, "const"),
    }
    return Program(bits=bits, memory=tuple(memory), code=tuple(code), cells=cells, file="<random>")


def long_random_programs(seed: int, count: int, bits: int, min_steps: int = 100, **kwargs) -> list[Program]:
    """`count` random programs that each run at least `min_steps` instructions (checked with the
    oracle; most do not halt at all and just loop)."""
    rng = np.random.default_rng(seed)
    programs: list[Program] = []
    while len(programs) < count:
        program = random_program(rng, bits, **kwargs)
        if oracle.run(program, max_steps=min_steps).steps >= min_steps:
            programs.append(program)
    return programs
