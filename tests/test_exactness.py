"""Exactness limits of the word size N: float32 is exact up to limits.FLOAT32_MAX_BITS, float64
(chosen automatically above it) up to limits.MAX_BITS; past its limit the health check refuses."""

import jax.numpy as jnp
import numpy as np
import pytest

import kernels
from looped import engine, limits
from looped.machines.subleq import oracle
from looped.machines.subleq.card import decode_memory, encode
from looped.machines.subleq.isa import subleq_stack
from looped.layout import subleq_layout
from looped.machine import dtype_for, inverse_temperature
from looped.machines.subleq.random_programs import long_random_programs
from looped.runner import Loop, NumericalHealthError

STEPS = 150


def run_float32(programs, bits):
    n = 1 + len(programs[0].memory) + len(programs[0].code)
    layout = subleq_layout(0, 0, bits, n)
    step = kernels.make_step("fast", subleq_stack(layout), inverse_temperature(n, bits), jnp.float32)
    loop = Loop(step, pc_token=0, pc_rows=layout["pc"].slice, width=layout.n)
    cards = [encode(p, subleq_layout(len(p.memory), len(p.code), bits, n)) for p in programs]
    state = loop.run(jnp.asarray(np.stack([c.X for c in cards]), jnp.float32), [c.halt_token for c in cards],
                     max_steps=STEPS)
    X = np.asarray(state.X)
    return [list(decode_memory(c.layout, X[i], len(p.memory))) for i, (p, c) in enumerate(zip(programs, cards))]


def test_float32_is_exact_up_to_its_limit():
    bits = limits.FLOAT32_MAX_BITS
    assert dtype_for(bits) == jnp.float32
    programs = long_random_programs(seed=20, count=48, bits=bits, min_steps=STEPS, n_cells=12, n_code=20)
    memories = run_float32(programs, bits)
    assert all(m == oracle.run(p, STEPS).memory for p, m in zip(programs, memories))


def test_float32_past_its_limit_is_caught_by_the_health_check():
    bits = limits.FLOAT32_MAX_BITS + 3
    programs = long_random_programs(seed=23, count=48, bits=bits, min_steps=STEPS, n_cells=12, n_code=20)
    with pytest.raises(NumericalHealthError):
        run_float32(programs, bits)


@pytest.mark.parametrize("bits", [limits.FLOAT32_MAX_BITS + 1, 32, limits.MAX_BITS])
def test_float64_above_the_float32_limit(bits):
    assert dtype_for(bits) == jnp.float64
    programs = long_random_programs(seed=bits, count=24, bits=bits, min_steps=STEPS, n_cells=12, n_code=20)
    for program, result in zip(programs, engine.run(programs, max_steps=STEPS)):
        assert result.memory == oracle.run(program, STEPS).memory
