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
from looped.machines.subleq.random_programs import long_random_programs
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
    from looped.machines.tape.check import stepped, stepped_mismatches
    from looped.machines.tape.program import load_tape

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


def _probe(ctype: str, function: str = "weight"):
    """One of the generated code's elementwise helpers (`weight`, `off_lattice`), built alone (the
    template's helpers and a C entry point), as a function of a NumPy array."""
    import ctypes

    from kernels import native_gen

    head = native_gen.TEMPLATE[: native_gen.TEMPLATE.index("@FUNCTIONS@")]
    head = head.replace('#include "xla/ffi/api/ffi.h"', "").replace("namespace ffi = xla::ffi;", "")
    for key, value in {"@CTYPE@": ctype, "@N@": "16", "@NP@": "16", "@D@": "1", "@S@": "1",
                       "@L@": "8",
                       "@EXP@": native_gen._exp_polynomial(ctype)}.items():
        head = head.replace(key, value)
    source = head + ('}\nextern "C" void probe(const void* a, void* out, long n) {\n'
                     f'  for (long i = 0; i < n; ++i) static_cast<T*>(out)[i] = {function}(static_cast<const T*>(a)[i]);\n}}\n')
    path, _ = native._build(source.encode(), f"probe_{function}", glue=False)
    lib = ctypes.CDLL(str(path))
    dtype = np.float32 if ctype == "float" else np.float64

    def apply(a):
        a = np.ascontiguousarray(a, dtype)
        out = np.empty_like(a)
        lib.probe(a.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p), ctypes.c_long(a.size))
        return out

    return apply, dtype


def _weight_probe(ctype: str):
    return _probe(ctype, "weight")


@pytest.mark.parametrize("ctype", ["float", "double"])
def test_distance_from_the_lattice_is_exact(ctype):
    """off_lattice (the health figure's distance) is |v - clip(rint(v), -1, 1)| bit for bit, NaN
    for NaN, and its bits order as its values (the kernel's maximum is an integer one)."""
    distance, dtype = _probe(ctype, "off_lattice")
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0, 1, 100000), rng.normal(0, 1e3, 10000), rng.uniform(-2, 2, 100000),
                        [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 1.0, -1.0, 2.5, 1e30, -1e30, np.inf, -np.inf],
                        np.nextafter(np.array([0.5, 1.0, 1.5, -0.5, -1.0, -1.5]), 3)]).astype(dtype)
    got, want = distance(v), np.abs(v - np.clip(np.rint(v), -1, 1))
    assert np.array_equal(got, want)
    assert not np.any(np.signbit(got))
    assert np.isnan(distance(np.array([np.nan], dtype))[0])


@pytest.mark.parametrize("ctype", ["float", "double"])
def test_softmax_weight_is_exp_within_two_ulp(ctype):
    """Within 2 ulp of the exponential down to the cut, where it is below the smallest normal
    number (a call flushes such results to zero), and exactly 0 below it."""
    weight, dtype = _weight_probe(ctype)
    cut = -87.5 if ctype == "float" else -708.5
    assert np.exp(np.float64(cut)) < np.finfo(dtype).smallest_normal
    a = np.concatenate([np.linspace(cut, 0, 200001), -np.logspace(-12, 2.5, 20001),
                        np.linspace(2 * cut, cut, 1001)]).astype(dtype)
    below, a = a[a < cut], a[a >= cut]
    got = weight(a).astype(np.float64)
    want = np.exp(a.astype(np.float64)) if ctype == "float" else np.exp(a)  # (double: numpy's exp, ~0.5 ulp)
    ulp = np.spacing(want.astype(dtype)).astype(np.float64)
    assert np.all(np.abs(got - want) <= 2 * ulp + (0 if ctype == "float" else 1 * ulp))
    assert len(below) and np.all(weight(below) == 0)
    specials = weight(np.array([0.0, -0.0, cut - 1, -np.inf, np.nan], dtype))
    assert specials[0] == 1 and specials[1] == 1  # exactly 1 at the maximum
    assert specials[2] == 0 and specials[3] == 0  # exactly 0 below the cut
    assert np.isnan(specials[4])


def test_a_card_is_the_same_alone_and_in_a_group():
    """Raw state, bit for bit: nine cards (a group, and a card alone, which runs the one-card
    code) against each card on its own."""
    from looped.engine import _prepare

    programs = long_random_programs(seed=21, count=9, bits=8, min_steps=60)
    _, _, loop, X0, halt = _prepare(programs, "native", 40, False)
    together = np.asarray(loop.run(X0, halt, max_steps=60).X)
    for i in (0, 5, 8):
        alone = np.asarray(loop.run(X0[i : i + 1], halt[i : i + 1], max_steps=60).X)
        assert np.array_equal(alone[0], together[i])


def test_cards_that_stop_at_different_steps_are_the_same_as_alone():
    """Raw state, bit for bit, of 20 cards that halt at different steps (a group leaves the lanes
    form as its cards stop, and runs its last ones card by card) against each card on its own."""
    from looped.engine import _prepare
    from looped.machines.subleq.random_programs import random_program

    rng = np.random.default_rng(5)
    programs = [random_program(rng, 8) for _ in range(20)]
    _, _, loop, X0, halt = _prepare(programs, "native", 40, False)
    together = loop.run(X0, halt, max_steps=150)
    steps = np.asarray(together.steps)
    assert len(set(steps.tolist())) > 5  # (stopped at many different steps)
    for i in range(len(programs)):
        alone = loop.run(X0[i : i + 1], halt[i : i + 1], max_steps=150)
        assert int(np.asarray(alone.steps)[0]) == steps[i]
        assert np.array_equal(np.asarray(alone.X)[0], np.asarray(together.X)[i])


def test_health_is_lost_at_the_same_instance_and_step_as_on_dense():
    """The loop in the kernel runs each card on its own: the error still names the card, and the
    step, at which health is first lost (here card 4 loses it at step 27 and card 5 at step 7)."""
    from looped.machines.subleq.isa import subleq_stack
    from looped.layout import subleq_layout
    from looped.runner import Loop, NumericalHealthError

    programs = long_random_programs(seed=3, count=6, bits=8, min_steps=50)
    n = 40
    X = np.stack([c.X for c in batch_cards(programs, n)]).astype(np.float32)
    halt = [c.halt_token for c in batch_cards(programs, n)]
    layout = subleq_layout(0, 0, 8, n)
    errors = []
    for backend in ("dense", "native"):
        step = kernels.make_step(backend, subleq_stack(layout), 3.0, jnp.float32)  # too soft for some
        loop = Loop(step, pc_token=0, pc_rows=layout["pc"].slice, width=n, chunked=kernels.runs_chunks(backend))
        with pytest.raises(NumericalHealthError) as info:
            loop.run(X, halt, max_steps=50)
        errors.append((info.value.card, info.value.step))
    assert errors == [(5, 7), (5, 7)]


def test_slots_are_refilled_and_results_keep_their_order():
    programs = long_random_programs(seed=8, count=7, bits=8, min_steps=30)
    alone = [run([p], backend="native", max_steps=45, n=40)[0] for p in programs]
    together = run(programs, backend="native", max_steps=45, n=40, slots=3)
    for a, t in zip(alone, together):
        assert (a.status, a.steps, a.memory, a.pc) == (t.status, t.steps, t.memory, t.pc)


def test_a_nan_on_the_card_is_a_health_error_and_a_halted_card_stays_frozen():
    """As tests/test_runner.py checks for the other backends (on this file's machine: one build)."""
    from looped.engine import _prepare
    from looped.runner import NumericalHealthError

    programs = long_random_programs(seed=6, count=3, bits=8, min_steps=10)
    _, cards, loop, X0, halt = _prepare(programs, "native", 40, False)
    X0 = X0.copy()
    X0[1, 1, cards[1].layout["mem"].start] = np.nan
    with pytest.raises(NumericalHealthError) as info:
        loop.run(X0, halt, max_steps=10)
    assert info.value.card == 1
    from tests.test_runner import halt_writer

    companion = long_random_programs(seed=3, count=1, bits=8, min_steps=60)[0]
    together = run([halt_writer(), companion], backend="native", max_steps=60, n=40)[0]
    assert (together.status, together.steps, together.memory) == ("halted", 1, [-5, 5, -1])


@pytest.mark.parametrize("level, bits, group", [("x86-64-v4", 512, 8), ("x86-64-v3", 256, 8), ("x86-64-v2", 128, 4)])
def test_the_code_shape_follows_the_target(monkeypatch, level, bits, group):
    """The group size comes from the vector width the code is built for (-march), and the generated
    source carries it: e.g. the AVX2 build of an AVX-512 machine (LOOPED_NATIVE_MARCH=x86-64-v3)."""
    monkeypatch.setenv("LOOPED_NATIVE_MARCH", level)
    monkeypatch.delenv("LOOPED_NATIVE_LANES", raising=False)
    assert native.vector_bits() == bits and f"-march={level}" in native.flags()
    lanes, card_by_card = native.code_shape("float")
    assert lanes == group and 0 < card_by_card < lanes
    machine = build_machine(24, 8)
    source = generate(Plan.of(machine.stack), float(machine.lam), 24, "float", lanes, card_by_card)
    assert f"constexpr int L = {group};" in source and f"constexpr int CARD_BY_CARD = {card_by_card};" in source
    assert "-fno-trapping-math" in native.flags()  # (else GCC leaves the softmax loops scalar on AVX2)
