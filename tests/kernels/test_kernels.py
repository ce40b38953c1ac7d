"""The kernels compute the same machine: dense (the reference) vs fast vs Pallas (interpret mode on
CPU), decoded state identical after every instruction, raw state within the correction bound."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kernels
from kernels import pallas
from looped.machines.subleq import oracle
from looped.blocks import CORRECTION_TOLERANCE
from looped.engine import batch_cards, trace
from looped.machine import build_machine
from looped.machines.subleq.random_programs import long_random_programs, random_program
from looped.runner import HEALTH_BOUND

STEPS = 48


@pytest.fixture(scope="module")
def programs():
    return long_random_programs(seed=7, count=6, bits=8, min_steps=STEPS)


def oracle_trace(program, steps):
    pcs, mems = [], []
    for pc, mem in oracle.trace(program, steps):
        pcs.append(pc)
        mems.append(mem)
    return np.array(pcs), np.array(mems)


@pytest.mark.parametrize("n", [None, 70])
def test_backends_agree_after_every_step(programs, n):
    runs = {backend: trace(programs, STEPS, backend=backend, n=n) for backend in kernels.available_backends()}
    ref_pcs, ref_mems, ref_steps = runs["dense"]
    for backend, (pcs, mems, steps) in runs.items():
        assert np.array_equal(pcs, ref_pcs), backend
        assert np.array_equal(steps, ref_steps), backend
        for a, b in zip(mems, ref_mems):
            assert np.array_equal(a, b), backend
    for i, program in enumerate(programs):  # and the machine is SUBLEQ
        pcs, mems = oracle_trace(program, STEPS)
        assert np.array_equal(ref_pcs[: len(pcs), i], pcs)
        assert np.array_equal(ref_mems[i][: len(mems)], mems)


def test_raw_state_within_correction_bound(programs):
    cards = batch_cards(programs, 48)
    machine = build_machine(48, 8)
    X = jnp.asarray(np.stack([c.X for c in cards]), machine.dtype)
    steps = {b: jax.jit(jax.vmap(kernels.make_step(b, machine.stack, machine.lam, machine.dtype)))
             for b in kernels.available_backends()}
    states = {b: X for b in steps}
    for _ in range(24):
        healths = {}
        for b, step in steps.items():
            states[b], healths[b] = step(states[b])
        ref = np.asarray(states["dense"])
        for b in ("fast", "pallas"):
            diff = np.max(np.abs(np.asarray(states[b]) - ref))
            assert diff < CORRECTION_TOLERANCE, (b, diff)
            assert np.all(np.asarray(healths[b]) <= HEALTH_BOUND)
            assert np.allclose(np.asarray(healths[b]), np.asarray(healths["dense"]), atol=1e-3)


def test_pallas_token_blocks(programs, monkeypatch):
    """The GPU path's blocking (several token blocks, an online softmax, padded tails), run in
    interpret mode with tiny blocks."""
    monkeypatch.setattr(pallas, "_block", lambda t: 16)
    machine = build_machine(61, 8)
    step_p = jax.jit(jax.vmap(pallas.make_step(machine.stack, machine.lam, machine.dtype)))
    step_d = jax.jit(jax.vmap(kernels.make_step("dense", machine.stack, machine.lam, machine.dtype)))
    X = jnp.asarray(np.stack([c.X for c in batch_cards(programs[:3], 61)]), machine.dtype)
    Xp, Xd = X, X
    for _ in range(12):
        Xp, Xd = step_p(Xp)[0], step_d(Xd)[0]
        assert np.max(np.abs(np.asarray(Xp) - np.asarray(Xd))) < CORRECTION_TOLERANCE
        assert np.array_equal(np.asarray(Xp) > 0, np.asarray(Xd) > 0)


def test_wide_cards_in_small_batches_take_the_per_card_kernel(programs):
    """Past 384 tokens a batch under 16 runs kernels/fast.py vmapped (kernels/batched.py elsewhere):
    through the runner it too gives the dense kernel's states."""
    machine = build_machine(400, 8)
    step = kernels.make_step("fast", machine.stack, machine.lam, machine.dtype)
    assert step.batch_for(2, 400) is None and step.batch_for(16, 400) is not None
    fast = trace(programs[:2], 10, backend="fast", n=400)
    dense = trace(programs[:2], 10, backend="dense", n=400)
    assert np.array_equal(fast[0], dense[0])
    for a, b in zip(fast[1], dense[1]):
        assert np.array_equal(a, b)


def test_wide_words_fast_matches_dense():
    """Above 16 bits the state is float64 (pallas falls back to fast there)."""
    rng = np.random.default_rng(3)
    programs = [random_program(rng, 20, n_cells=4, n_code=6) for _ in range(2)]
    runs = {b: trace(programs, 12, backend=b) for b in ("dense", "fast", "pallas")}
    for b in ("fast", "pallas"):
        assert np.array_equal(runs[b][0], runs["dense"][0])
        for a, c in zip(runs[b][1], runs["dense"][1]):
            assert np.array_equal(a, c)


@pytest.mark.slow
def test_every_evaluator_follows_dense_on_the_library_programs():
    """Every SUBLEQ program of programs/, one batch per machine, 120 traced steps: every available
    backend's memory and pc equal dense's after every step (issue 12's equivalence on programs/)."""
    import glob
    from collections import defaultdict

    from looped.assembler import assemble_file

    groups = defaultdict(list)
    for path in sorted(glob.glob("programs/*.asm")):
        program = assemble_file(path)
        if program.isa == "subleq":
            groups[program.bits].append(program)
    for bits, programs in groups.items():
        ref_pcs, ref_mems, ref_steps = trace(programs, 120, backend="dense")
        for backend in kernels.available_backends():
            if backend == "dense":
                continue
            pcs, mems, steps = trace(programs, 120, backend=backend)
            assert np.array_equal(pcs, ref_pcs) and np.array_equal(steps, ref_steps), (backend, bits)
            assert all(np.array_equal(a, b) for a, b in zip(mems, ref_mems)), (backend, bits)
