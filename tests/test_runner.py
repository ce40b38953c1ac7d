"""The loop runner: halting per card, step limits, and the numerical health check."""

import jax.numpy as jnp
import numpy as np
import pytest

import kernels
from looped import engine, oracle
from looped.card import encode
from looped.isa.subleq import subleq_stack
from looped.layout import subleq_layout
from looped.random_programs import long_random_programs
from looped.runner import Loop, NumericalHealthError


def loop_with(lam: float, bits: int, n: int, dtype=jnp.float32, backend="dense"):
    layout = subleq_layout(0, 0, bits, n)
    step = kernels.make_step(backend, subleq_stack(layout), lam, dtype)
    return Loop(step, pc_token=0, pc_rows=layout["pc"].slice, width=layout.n)


def cards_for(programs, n):
    cards = [encode(p, subleq_layout(len(p.memory), len(p.code), p.bits, n)) for p in programs]
    return jnp.asarray(np.stack([c.X for c in cards]), jnp.float32), [c.halt_token for c in cards]


def test_health_error_names_the_step_instead_of_a_wrong_answer():
    programs = long_random_programs(seed=3, count=4, bits=8, min_steps=50)
    n = 1 + len(programs[0].memory) + len(programs[0].code)
    X0, halt = cards_for(programs, n)
    loop = loop_with(lam=0.6, bits=8, n=n)  # far too soft: reads blur across tokens
    with pytest.raises(NumericalHealthError) as info:
        loop.run(X0, halt, max_steps=50)
    assert info.value.step >= 1
    assert f"step {info.value.step}" in str(info.value) and "instance" in str(info.value)


@pytest.mark.parametrize("backend", ["dense", "fast"])
def test_a_nan_on_the_card_is_a_health_error(backend):
    """NaN compares false with everything: it must still count as lost health."""
    programs = long_random_programs(seed=6, count=2, bits=8, min_steps=10)
    n = 1 + max(len(p.memory) + len(p.code) for p in programs)
    X0, halt = cards_for(programs, n)
    layout = subleq_layout(0, 0, 8, n)
    X0 = X0.at[1, 1, layout["mem"].start].set(jnp.nan)
    with pytest.raises(NumericalHealthError) as info:
        loop_with(lam=30.0, bits=8, n=n, backend=backend).run(X0, halt, max_steps=10)
    assert info.value.card == 1


def test_health_error_in_traces_too():
    programs = long_random_programs(seed=4, count=2, bits=8, min_steps=20)
    n = 1 + len(programs[0].memory) + len(programs[0].code)
    X0, halt = cards_for(programs, n)
    with pytest.raises(NumericalHealthError):
        loop_with(lam=0.6, bits=8, n=n).trace(X0, halt, 20, observe=lambda X: X[:, 0, 0])


def test_cards_halt_on_their_own_and_freeze():
    programs = long_random_programs(seed=5, count=6, bits=8, min_steps=1, n_code=6)
    results = engine.run(programs, backend="dense", max_steps=200)
    for program, result in zip(programs, results):
        expected = oracle.run(program, max_steps=200)
        assert (result.status, result.steps, result.memory) == (expected.status, expected.steps, expected.memory)


def test_progress_is_reported_per_chunk():
    programs = long_random_programs(seed=6, count=2, bits=8, min_steps=100)
    n = 1 + len(programs[0].memory) + len(programs[0].code)
    X0, halt = cards_for(programs, n)
    seen = []
    loop_with(lam=30.0, bits=8, n=n).run(X0, halt, max_steps=100, chunk_steps=40,
                                         progress=lambda steps, done: seen.append(int(steps.max())))
    assert seen[-1] == 100 and len(seen) >= 2 and seen == sorted(seen)
