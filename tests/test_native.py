"""kernels/native.py and kernels/native_gen.py: the generated C++ step computes the same machine as
the dense kernel (SUBLEQ: decoded state identical after every step, raw state within the
correction bound), FLEQ within each block's bound and batch-independent, the tape machine step for
step with its oracle. Skipped where no C++ compiler is available."""

import glob

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kernels
from kernels import native
from kernels.native_gen import generate
from kernels.plan import Plan
from looped.assembler import assemble_file
from looped.blocks import CORRECTION_TOLERANCE
from looped.engine import batch_cards, run, trace
from looped.machine import build_machine
from looped.random_programs import long_random_programs
from looped.runner import HEALTH_BOUND

pytestmark = pytest.mark.skipif(not native.available(), reason="no C++ compiler for the native kernel")


def test_generated_source_has_no_zero_terms_and_constant_loops():
    machine = build_machine(24, 8)
    source = generate(Plan.of(machine.stack), float(machine.lam), 24, "float")
    assert "T(0) *" not in source and "* T(0)" not in source  # zero weights are left out
    assert "constexpr int N = 24;" in source and "constexpr int NP = 32;" in source  # padded to 16s
    assert "for (int t = 0; t < NP; ++t)" in source


def test_raw_state_and_health_follow_dense_every_step():
    programs = long_random_programs(seed=11, count=5, bits=8, min_steps=40)
    machine = build_machine(40, 8)
    X = jnp.asarray(np.stack([c.X for c in batch_cards(programs, 40)]), machine.dtype)
    native_ops = kernels.make_step("native", machine.stack, machine.lam, machine.dtype).batched(len(programs), 40)
    dense = jax.jit(jax.vmap(kernels.make_step("dense", machine.stack, machine.lam, machine.dtype)))
    advance = jax.jit(native_ops.advance)
    state, Xd = native_ops.open(X), X
    for _ in range(40):
        state, health = advance(state)
        Xd, health_d = dense(Xd)
        got = np.asarray(native_ops.close(state))
        assert np.max(np.abs(got - np.asarray(Xd))) < CORRECTION_TOLERANCE
        assert np.array_equal(got > 0.5, np.asarray(Xd) > 0.5) and np.array_equal(got < -0.5, np.asarray(Xd) < -0.5)
        assert np.all(np.asarray(health) <= HEALTH_BOUND)
        assert np.allclose(np.asarray(health), np.asarray(health_d), atol=1e-3)


def test_stopped_cards_stay_frozen():
    programs = long_random_programs(seed=3, count=4, bits=8, min_steps=30)
    machine = build_machine(40, 8)  # (the width of the test above: one compiled step)
    X = jnp.asarray(np.stack([c.X for c in batch_cards(programs, 40)]), machine.dtype)
    ops = kernels.make_step("native", machine.stack, machine.lam, machine.dtype).batched(4, 40)
    state = ops.open(X)
    active = jnp.asarray([True, False, True, False])
    before = np.asarray(ops.close(state))
    state, health = jax.jit(ops.advance_masked)(state, active)
    after = np.asarray(ops.close(state))
    assert np.array_equal(after[1], before[1]) and np.array_equal(after[3], before[3])
    assert not np.array_equal(after[0], before[0])
    assert float(health[1]) == 0.0


@pytest.mark.slow
def test_library_programs_give_the_oracles_results():
    """Every 8-bit SUBLEQ program of programs/ (one machine: one compile), to the end."""
    programs = [assemble_file(p) for p in sorted(glob.glob("programs/*.asm"))]
    programs = [p for p in programs if p.isa == "subleq" and p.bits == 8]
    assert programs
    got = run(programs, backend="native", max_steps=20000)
    want = run(programs, backend="fast", max_steps=20000)
    for g, w in zip(got, want):
        assert (g.status, g.steps, g.pc) == (w.status, w.steps, w.pc), g.program.file
        assert g.memory == w.memory, g.program.file


@pytest.mark.slow
def test_fleq_batch_is_each_alone_bit_for_bit():
    program = assemble_file("programs/fleq/calculator.asm")
    rng = np.random.default_rng(2)
    settings = [{"x": float(x), "y": float(y)} for x, y in 10.0 ** rng.uniform(-2, 2, (16, 2))]
    batch = run([program.with_settings(s) for s in settings], backend="native")
    fast = run([program.with_settings(s) for s in settings], backend="fast")
    for i in (0, 9, 15):
        (alone,) = run([program.with_settings(settings[i])], backend="native")
        assert (alone.status, alone.steps) == (batch[i].status, batch[i].steps)
        assert alone.outputs == batch[i].outputs
    for b, f in zip(batch, fast):
        assert (b.status, b.steps) == (f.status, f.steps)
        for name, value in f.outputs.items():
            np.testing.assert_allclose(np.array(b.outputs[name]), np.array(value), rtol=1e-8, atol=1e-10)


@pytest.mark.slow
def test_tapes_step_for_step():
    from looped.tape_check import stepped, stepped_mismatches
    from looped.tape_program import load_tape

    tapes = [load_tape(f"tapes/{name}") for name in ("hello.tape", "hi.tape")]
    tapes.append(load_tape("tapes/cat.tape").with_input(b"meow\n"))
    records = stepped(tapes, 60, "native")
    assert stepped_mismatches(tapes, records, 60) == []


@pytest.mark.slow
def test_backends_trace_alike_on_a_program():
    program = assemble_file("programs/gcd.asm")
    pcs_n, mems_n, steps_n = trace([program], 120, backend="native")
    pcs_d, mems_d, steps_d = trace([program], 120, backend="fast")
    assert np.array_equal(pcs_n, pcs_d) and np.array_equal(steps_n, steps_d)
    assert all(np.array_equal(a, b) for a, b in zip(mems_n, mems_d))
