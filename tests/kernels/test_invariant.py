"""The batch-invariant evaluation (kernels/invariant.py): a batch of real-valued cards (FLEQ,
Stack.per_card) runs in one vectorised pass, and each card's final state, step count, done flag
and health figures are bit for bit what that card gives alone (a batch of one through the same
runner), at every batch size and beside other programs."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kernels
from kernels import common, invariant
from looped import engine
from looped.assembler import assemble_file

CALCULATOR = "programs/fleq/calculator.asm"
INVERSE = "programs/fleq/inverse.asm"


def calculators(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    program = assemble_file(CALCULATOR)
    return [program.with_settings({"x": float(rng.uniform(-1e3, 1e3)), "y": float(rng.uniform(0.01, 100))})
            for _ in range(count)]


def inverses(count: int, seed: int = 2):
    rng = np.random.default_rng(seed)
    program = assemble_file(INVERSE)
    out = []
    for _ in range(count):
        q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
        out.append(program.with_settings({"A": (q @ np.diag(rng.uniform(0.5, 5, 4)) @ q.T).tolist()}))
    return out


def assert_each_card_as_alone(programs, backend: str = "fast"):
    """Run `programs` as one batch and each alone, through the same machine's loop (the runner of
    `looped run`), and compare everything bit for bit; also through engine.run (decoded results)."""
    _, cards, loop, X0, halt = engine._prepare(programs, backend, None, False)
    batch = loop.run(X0, halt)
    for i in range(len(programs)):
        alone = loop.run(X0[i:i + 1], halt[i:i + 1])
        assert np.array_equal(np.asarray(batch.X)[i], np.asarray(alone.X)[0]), i  # float64, bit for bit
        for field in ("steps", "done", "worst", "bad_step"):
            assert np.array_equal(np.asarray(getattr(batch, field))[i], np.asarray(getattr(alone, field))[0]), (i, field)
    return batch


@jax.enable_x64(True)
def test_tree_sum_is_the_same_tree_at_every_batch_size():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(13, 5, 64)) * 10.0 ** rng.integers(-8, 8, size=(13, 5, 64))
    whole = np.asarray(jax.jit(lambda a: invariant.tree_sum(a, axis=0))(x))
    for b in (1, 3, 64):
        part = np.asarray(jax.jit(lambda a: invariant.tree_sum(a, axis=0))(x[..., :b]))
        assert np.array_equal(part, whole[..., :b])
    assert np.allclose(whole, x.sum(axis=0), rtol=1e-12, atol=0)



@jax.enable_x64(True)
@pytest.mark.parametrize("size", [9, 17, 85, 533])
def test_ordered_sum_is_the_same_order_at_every_batch_size_and_near_the_exact_sum(size):
    """A power of two of leading terms as a tree, the rest after it: no padding, the same order at
    every batch size, within size * eps * sum |terms| of the exact sum."""
    rng = np.random.default_rng(size)
    x = rng.normal(size=(2, size, 64)) * 10.0 ** rng.integers(-6, 6, size=(2, size, 64))
    f = jax.jit(lambda x: invariant.ordered_sum(x, axis=1))
    whole = np.asarray(f(x))
    for batch in (1, 3):
        assert np.array_equal(np.asarray(f(x[..., :batch])), whole[..., :batch])
    exact = np.apply_along_axis(math.fsum, 1, x)
    assert np.all(np.abs(whole - exact) <= size * np.finfo(np.float64).eps * np.abs(x).sum(axis=1))


@jax.enable_x64(True)
@pytest.mark.parametrize("size", [5, 16, 37, 48, 300, 533, 1100])
def test_contract_is_the_same_order_at_every_batch_size_and_near_the_exact_sum(size):
    """Over a card's tokens (more than CHAIN_TERMS): chains over groups of terms, then the groups'
    sums; bit for bit the same at batch sizes 1, 3 and 64, and within the rounding bound of any
    order of summation (size * eps * sum |terms|) of the exact sum."""
    rng = np.random.default_rng(size)
    a = rng.normal(size=(3, size, 1, 64)) * 10.0 ** rng.integers(-6, 6, size=(3, size, 1, 64))
    b = rng.normal(size=(1, size, 2, 64))
    f = jax.jit(lambda a, b: invariant.contract(a, b, axis=1))
    whole = np.asarray(f(a, b))
    assert whole.shape == (3, 2, 64)
    for batch in (1, 3):
        assert np.array_equal(np.asarray(f(a[..., :batch], b[..., :batch])), whole[..., :batch])
    terms = a * b
    exact = np.apply_along_axis(math.fsum, 1, terms)
    bound = size * np.finfo(np.float64).eps * np.abs(terms).sum(axis=1)
    assert np.all(np.abs(whole - exact) <= bound)


@jax.enable_x64(True)
def test_fixed_sum_is_the_weights_product():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(9, 7)) * (rng.random((9, 7)) < 0.4)
    w[:, 3] = 0.0  # an output with no term
    fixed = invariant.FixedSum.build(w, jnp.float64)
    x = rng.normal(size=(9, 4, 2))
    assert np.allclose(np.asarray(fixed(jnp.asarray(x))), np.einsum("fc,ftb->ctb", w, x), rtol=1e-12, atol=1e-15)


@jax.enable_x64(True)
def test_fixed_sum_by_columns_is_the_same_at_every_batch_size_and_the_weights_product():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(40, 30)) * (rng.random((40, 30)) < 0.15) * 10.0 ** rng.integers(-5, 5, size=(40, 30))
    fixed = invariant.FixedSum.build(w, jnp.float64)
    assert any(1 < idx.shape[1] <= invariant.COLUMN_TERMS and idx.size > 8 for idx, _ in fixed.groups)
    x = rng.normal(size=(40, 5, 64))
    f = jax.jit(lambda v: fixed(v))
    whole = np.asarray(f(x))
    for batch in (1, 3):
        assert np.array_equal(np.asarray(f(x[..., :batch])), whole[..., :batch])
    assert np.allclose(whole, np.einsum("fc,ftb->ctb", w, x), rtol=1e-12, atol=1e-12)


@jax.enable_x64(True)
@pytest.mark.parametrize("batches", [(1, 5, 9, 13), pytest.param(tuple(range(1, 64)), marks=pytest.mark.slow)])
def test_sums_of_products_are_the_same_at_every_batch_size_compiled_as_the_runner_does(batches):
    """Batch sizes up to 63 against 64, compiled with the evaluator's own options: where a
    loop's vectorised body and its scalar remainder fused different products into multiply-adds,
    the remainder's cards gave another last bit (FixedSum at 5, 9 and 13 cards) before `settled`."""
    options = dict(invariant.invariant_compile_options()) or None
    rng = np.random.default_rng(5)
    w = rng.normal(size=(40, 30)) * (rng.random((40, 30)) < 0.15) * 10.0 ** rng.integers(-5, 5, size=(40, 30))
    fixed = invariant.FixedSum.build(w, jnp.float64)
    a, b = rng.normal(size=(7, 1, 64)) * 10.0 ** rng.integers(-4, 4, size=(7, 1, 1)), rng.normal(size=(7, 5, 64))
    cases = [(lambda x: fixed(x), (rng.normal(size=(40, 5, 64)),)),
             (lambda p, q: invariant.contract(p, q, axis=0), (a, b)),
             (lambda p, q: invariant.contract(p, q, axis=1), (rng.normal(size=(3, 40, 64)), rng.normal(size=(3, 40, 64))))]
    for fn, args in cases:
        run = lambda *v: np.asarray(jax.jit(fn).lower(*v).compile(compiler_options=options)(*v))  # noqa: E731
        whole = run(*args)
        for batch in batches:
            assert np.array_equal(run(*[v[..., :batch] for v in args]), whole[..., :batch]), batch


def test_per_card_stacks_take_the_invariant_batches():
    from looped import machines

    isa = machines.get("fleq")
    stack = isa.stack(isa.layout(isa.machine_key([assemble_file(CALCULATOR)])))
    for backend in kernels.INVARIANT_BATCHES:
        step = kernels.make_step(backend, stack, 1.0, jnp.float64)
        assert step.per_card and step.invariant_batch is not None
        assert step.batched(3, 83) is step.batched(64, 83)  # one evaluation for every batch of cards,
        assert step.batched(1, 83) is not step.batched(64, 83)  # and one card's, its scratch pieces joined


def test_a_batch_of_three_calculators_is_bit_for_bit_each_alone():
    batch = assert_each_card_as_alone(calculators(3))
    assert np.all(np.asarray(batch.done))


@pytest.mark.slow
def test_programs_of_different_lengths_in_one_batch():
    """Calculators and 4x4 inverses in one batch (the machine fits both): each card as alone, while
    the runner compacts the batch as the short ones stop."""
    programs = calculators(2, seed=5) + inverses(2, seed=6)
    batch = assert_each_card_as_alone(programs)
    steps = np.asarray(batch.steps)
    assert steps[:2].max() < steps[2:].min()  # the calculators stopped first


@pytest.mark.slow
@pytest.mark.parametrize("make", [calculators, inverses])
def test_a_batch_of_64_is_bit_for_bit_each_alone(make):
    programs = make(64)
    _, cards, loop, X0, halt = engine._prepare(programs, "fast", None, False)
    batch = loop.run(X0, halt)
    for i in (0, 17, 40, 63):
        alone = loop.run(X0[i:i + 1], halt[i:i + 1])
        assert np.array_equal(np.asarray(batch.X)[i], np.asarray(alone.X)[0]), i
        for field in ("steps", "done", "worst", "bad_step"):
            assert np.array_equal(np.asarray(getattr(batch, field))[i], np.asarray(getattr(alone, field))[0]), (i, field)


@pytest.mark.slow
def test_faults_and_step_limits_are_the_same_in_a_batch():
    """A division by zero (a fault) and a step limit beside normal cards: decoded results, faults
    and step counts as each alone."""
    program = assemble_file(CALCULATOR)
    programs = [program.with_settings({"x": 3.0, "y": 0.0})] + calculators(2, seed=9)
    batch = engine.run(programs)
    alone = [engine.run([p])[0] for p in programs]
    assert batch[0].status == "fault"
    for b, a in zip(batch, alone):
        assert (b.status, b.steps, b.fault, b.outputs) == (a.status, a.steps, a.fault, a.outputs)
    limited = engine.run(programs, max_steps=20)
    assert [r.steps for r in limited] == [min(20, a.steps) for a in alone]
    for b, a in zip(limited, [engine.run([p], max_steps=20)[0] for p in programs]):
        assert (b.status, b.steps, b.outputs) == (a.status, a.steps, a.outputs)


def test_real_valued_loops_compile_with_the_kernels_own_options_and_integer_loops_with_xlas():
    """The invariant kernel asks XLA:CPU for its older loop emitters (kernels/invariant.py
    `invariant_compile_options`: half the compile time of a FLEQ machine), and every loop function
    of that machine is jitted with them; SUBLEQ's kernels keep XLA's defaults. Both compile their
    batches with this CPU's vector width (kernels/common.py `xla_cpu_options`)."""
    fleq = [p for p in calculators(1)]
    _, _, fleq_loop, _, _ = engine._prepare(fleq, "fast", None, False)
    subleq = [assemble_file("programs/gcd.asm")]
    _, _, subleq_loop, _, _ = engine._prepare(subleq, "fast", None, False)
    if jax.default_backend() == "cpu":
        assert dict(fleq_loop.step.compile_options) == {"xla_cpu_use_fusion_emitters": False}
    assert subleq_loop.step.compile_options == ()
    for loop in (fleq_loop, subleq_loop):  # (batches of more than one card: runner.Loop._compile)
        assert loop.step.batch_compile_options == common.xla_cpu_options()
    for name, function in fleq_loop._functions().items():
        assert function._jit_info.compiler_options_kvs == tuple(fleq_loop.step.compile_options), name


def _inverse_heads():
    """The 4 x 4 inverse machine's heads whose queries are the scratch tokens', as evaluated here."""
    from looped import machines

    isa = machines.get("fleq")
    programs = inverses(1)
    key = isa.machine_key(programs)
    layout = isa.layout(key)
    plan = kernels.plan.Plan.of(isa.stack(layout))
    heads = [invariant.InvariantHead.build(h, np.float64) for lay in plan.layers for h in lay.heads
             if not invariant.scratch_only(h) and h.queries != "others"]
    return plan, heads, float(isa.inverse_temperature(layout))


@jax.enable_x64(True)
def test_shared_slot_queries_give_the_same_bits_as_every_query(monkeypatch):
    """attend_scratch computes a read-out once for the slots when their query features are equal
    bit for bit in every card (and for every token otherwise): the same bits as the read-out of
    every query token (`_read_out`), whether the test passes or not."""
    monkeypatch.setattr(invariant, "SHARED_QUERY_WORK", 0)  # every head of this small machine takes the test
    plan, heads, lam = _inverse_heads()
    rng = np.random.default_rng(3)
    s, rest_tokens, batch = plan.scratch_tokens, 20, 3
    assert s >= 4 and heads
    for alike in (True, False):
        S = rng.normal(size=(plan.d, s, batch))
        R = rng.normal(size=(plan.d, rest_tokens, batch))
        if alike:
            S[:, 1 : s - 1] = S[:, :1]  # every slot token as the first: the queries are shared
        for head in heads:
            def both(S, R, head=head):
                scratch = lambda f: S[np.asarray(f)]  # noqa: E731
                rest = lambda f: R[np.asarray(f)]  # noqa: E731
                return (head.attend_scratch(scratch, rest, lam, lambda v: v),
                        head._read_out(scratch(head.plan.q_rows), scratch, rest, lam, lambda v: v))

            tested, every = jax.jit(both)(S, R)
            assert np.array_equal(np.asarray(tested), np.asarray(every)), (alike, head.plan.v_cols[:3])


def _fresh_loop(programs):
    """A loop of the programs' machine that shares nothing compiled with engine.run's (its step is
    built, and its shapes traced, under the settings of the moment it first runs), with the
    batch's initial states and halt addresses, and the batch's faults from a final state."""
    from looped.runner import Loop

    iset, cards, _, X0, halt = engine._prepare(programs, "fast", None, False)
    machine, _ = engine.machine_loop(iset.name, iset.machine_key(programs), "fast")
    layout = machine.layout
    loop = Loop(lambda: kernels.make_step("fast", machine.stack, machine.lam, machine.dtype), pc_token=iset.pc_token,
                pc_rows=layout["pc"].slice, width=layout.n, cache_key=None, chunked=False)
    return loop, X0, halt, lambda state: iset.decode_faults(cards, np.asarray(state.X),
                                                            iset.decode_memory(cards, np.asarray(state.X)), state.steps)


@pytest.mark.slow
def test_shared_slot_queries_in_a_mixed_batch_each_card_as_alone(monkeypatch):
    """Through the runner, with every head taking the shared-query test: calculators and inverses in
    one batch (the test fails for a batch where it passes for a card alone) give each card's bits
    alone, and the same bits as without the test."""
    monkeypatch.setattr(invariant, "SHARED_QUERY_WORK", 0)
    programs = calculators(2, seed=5) + inverses(2, seed=6)
    tested, X0, halt, _ = _fresh_loop(programs)
    batch = tested.run(X0, halt)
    for i in range(len(programs)):
        alone = tested.run(X0[i:i + 1], halt[i:i + 1])
        assert np.array_equal(np.asarray(batch.X)[i], np.asarray(alone.X)[0]), i
    monkeypatch.setattr(invariant, "SHARED_QUERY_WORK", 10**15)
    untested, *_ = _fresh_loop(programs)
    assert np.array_equal(np.asarray(untested.run(X0, halt).X), np.asarray(batch.X))


def _loop_for(programs, monkeypatch, skip: bool):
    """A fresh loop (_fresh_loop) in which every part that acts only where selected is a group of its
    own (kernels/plan.py part_groups), left out where no card selects it (`skip`) or always
    evaluated."""
    monkeypatch.setattr(kernels.plan, "SELECTED_GROUP_WORK", 0)
    monkeypatch.setattr(invariant, "skips", invariant.skips if skip else (lambda row: False))
    return _fresh_loop(programs)


def _every_function(x_values=(0.5, -2.0, 0.0)):
    """programs/fleq/blocks.asm (every FLEQ function once) at each x: rsqrt of a negative and recip
    of 0 fault."""
    blocks = assemble_file("programs/fleq/blocks.asm")
    return [blocks.with_settings({"x": x}) for x in x_values]


def assert_skipping_changes_no_bit(programs, monkeypatch, alone: bool = False):
    # (each loop traces its batch shapes when it first runs them, under the setting of that moment)
    skipping, X0, halt, faults = _loop_for(programs, monkeypatch, skip=True)
    batch = skipping.run(X0, halt)
    singles = [skipping.run(X0[i:i + 1], halt[i:i + 1]) for i in range(len(programs))] if alone else []
    evaluating, *_ = _loop_for(programs, monkeypatch, skip=False)
    assert np.array_equal(np.asarray(batch.X), np.asarray(evaluating.run(X0, halt).X))
    for i, one in enumerate(singles):
        assert np.array_equal(np.asarray(one.X)[0], np.asarray(batch.X)[i]), i
        for field in ("steps", "done", "worst", "bad_step"):
            assert np.array_equal(np.asarray(getattr(batch, field))[i], np.asarray(getattr(one, field))[0]), (i, field)
    assert any(f is None for f in faults(batch)) and any(f is not None for f in faults(batch))


def test_leaving_unselected_blocks_out_changes_no_bit(monkeypatch):
    """Skipping the function blocks no card selects (looped/layers.py skip_where) gives the same
    bits as evaluating them, for every function and its faults. (Skipping is on wherever FLEQ runs
    on a CPU, so every test of a batch against its cards alone also tests it where the cards select
    different blocks.)"""
    assert_skipping_changes_no_bit(_every_function(), monkeypatch)


@pytest.mark.slow
def test_leaving_unselected_blocks_out_changes_no_bit_in_mixed_batches(monkeypatch):
    """As above, with calculators (one dividing by zero), matrix programs and an inverse beside
    every function in one batch."""
    programs = (_every_function() + calculators(2, seed=4) + [assemble_file(CALCULATOR).with_settings({"x": 3.0, "y": 0.0})]
                + [assemble_file("programs/fleq/matrix_ops.asm")] + inverses(1, seed=8))
    assert_skipping_changes_no_bit(programs, monkeypatch, alone=True)


@jax.enable_x64(True)
def test_skipped_groups_add_what_their_units_give_when_off():
    """A skipped MLP group adds its update for all-off units (FixedSum.of_zeros): the compiled
    map of a +0 hidden vector, signed zeros included."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(40, 7)) * (rng.random((40, 7)) < 0.3)
    w[:, 3] = -np.abs(w[:, 3]) - 1.0  # every term negative: -0 (8 terms: no padding)
    w[8:, 3] = 0.0
    w[:, 5] = 0.0  # an output with no term
    fixed = invariant.FixedSum.build(w, np.float64)
    compiled = np.asarray(jax.jit(lambda x: fixed(x))(jnp.zeros((40, 1, 1), jnp.float64)))[:, 0, 0]
    expected = fixed.of_zeros()
    assert np.array_equal(np.signbit(compiled), np.signbit(expected)) and np.all(compiled == 0)
    assert np.signbit(expected[3]) and not np.signbit(expected[5])


def test_between_steps_only_the_state_rows_are_not_plus_zero():
    """Stack.state_rows (FLEQ: pc, memory values and unheld marks, the fault record) are all a
    stopped card needs kept (invariant.make_batch_ops select): every other row a layer writes is +0,
    sign included, after every step of every function, a fault, a subnormal input and a halt.
    (A stopped card advanced in a batch, then frozen, is compared with its run alone by the tests
    of batches whose cards stop at different steps.)"""
    programs = (_every_function() + calculators(1, seed=3)
                + [assemble_file(CALCULATOR).with_settings({"x": 5e-324, "y": 2.0})])
    iset, cards, loop, X, halt = engine._prepare(programs, "fast", None, False)
    machine, _ = engine.machine_loop(iset.name, iset.machine_key(programs), "fast")
    plan = kernels.plan.Plan.of(machine.stack)
    written = {int(f) for lay in plan.layers for h in lay.heads for f in h.v_cols}
    written |= {int(f) for lay in plan.layers for m in lay.mlps for f in m.out_cols}
    transient = np.array(sorted(written - set(plan.state_rows.tolist())))
    assert set(plan.state_rows.tolist()) <= written and len(transient) > 100
    X = np.asarray(X)
    for _ in range(max(len(p.code) for p in programs) + 40):
        X = np.asarray(loop.run(X, halt, max_steps=1).X)
        assert not np.any(np.signbit(X[:, :, transient]) | (X[:, :, transient] != 0))
    assert {r.status for r in engine.run(programs)} == {"halted", "fault"}
