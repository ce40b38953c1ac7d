"""A program's result never depends on its batch companions or on how much padding it got."""

import numpy as np
import pytest

from looped.machines.subleq import oracle
from looped.engine import run
from looped.machines.subleq.random_programs import long_random_programs, random_program

MAX_STEPS = 120


def halting_programs(seed, count, bits=8):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        p = random_program(rng, bits, n_cells=int(rng.integers(2, 9)), n_code=int(rng.integers(3, 20)))
        if 5 <= oracle.run(p, max_steps=MAX_STEPS).steps < MAX_STEPS:
            out.append(p)
    return out


@pytest.fixture(scope="module")
def mixed():
    """Programs of different sizes and lengths: some halt early, some run to the step limit."""
    progs = halting_programs(11, 5) + long_random_programs(12, 4, 8, min_steps=MAX_STEPS, n_cells=5, n_code=9)
    rng = np.random.default_rng(0)
    return [progs[i] for i in rng.permutation(len(progs))]


def key(result):
    return result.status, result.steps, result.pc, result.memory


@pytest.mark.parametrize("backend", ["fast", "dense"])
def test_batch_alone_padded_and_oracle(mixed, backend):
    batch = run(mixed, backend=backend, max_steps=MAX_STEPS)
    for program, together in zip(mixed, batch):
        alone = run([program], backend=backend, max_steps=MAX_STEPS)[0]
        padded = run([program], backend=backend, max_steps=MAX_STEPS, n=64)[0]
        assert key(together) == key(alone) == key(padded)
        expected = oracle.run(program, max_steps=MAX_STEPS)
        assert together.memory == expected.memory
        assert together.steps == expected.steps
        assert together.status == expected.status


def test_batch_order_and_duplicates(mixed):
    forward = run(mixed, max_steps=MAX_STEPS, n=48)
    backward = run(mixed[::-1] + mixed[:2], max_steps=MAX_STEPS, n=48)
    assert [key(r) for r in forward] == [key(r) for r in backward[: len(mixed)][::-1]]
    assert [key(r) for r in forward[:2]] == [key(r) for r in backward[len(mixed):]]
