"""The loop runner: halting per card, step limits, and the numerical health check."""

import jax.numpy as jnp
import numpy as np
import pytest

import kernels
from looped import engine, runner
from looped.machines.subleq import oracle
from looped.machines.subleq.card import decode_memory, encode
from looped.machines.subleq.isa import subleq_stack
from looped.layout import subleq_layout
from looped.machines.subleq.program import Cell, Instruction, Program
from looped.machines.subleq.random_programs import long_random_programs, random_program
from looped.runner import Loop, NumericalHealthError


def loop_with(lam: float, bits: int, n: int, dtype=jnp.float32, backend="dense"):
    layout = subleq_layout(0, 0, bits, n)
    step = kernels.make_step(backend, subleq_stack(layout), lam, dtype)
    return Loop(step, pc_token=0, pc_rows=layout["pc"].slice, width=layout.n, chunked=kernels.runs_chunks(backend))


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


# ---- slots: refilled and compacted batches --------------------------------------------------------


def mixed_programs(seed=21, count=7):
    """Programs of one card width that stop at very different steps: some halt early, some run to
    the step limit."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        p = random_program(rng, 8, n_cells=int(rng.integers(2, 7)), n_code=int(rng.integers(3, 12)))
        steps = oracle.run(p, max_steps=90).steps
        if steps >= 3 and (steps < 40 or steps == 90 or len(out) < 2):
            out.append(p)
    return out


def key(result):
    return result.status, result.steps, result.pc, result.memory


def test_slots_are_refilled_and_compacted_and_results_keep_their_order(monkeypatch):
    programs = mixed_programs()
    alone = [engine.run([p], backend="dense", max_steps=90, n=24)[0] for p in programs]  # compiles 1 slot
    regroups = []
    original = runner._Lane._regroup

    def spy(self, X, steps, worst, bad, owner, halt, stopped):
        out = original(self, X, steps, worst, bad, owner, halt, stopped)
        regroups.append((len(owner), len(out[4])))  # slots before and after (out[4]: the card in each slot)
        return out

    alone_tails = []
    original_alone = runner._Lane._run_alone

    def spy_alone(self, X, steps, worst, bad, owner, halt, stopped, chunk):
        alone_tails.append(int(np.count_nonzero(~stopped)))
        return original_alone(self, X, steps, worst, bad, owner, halt, stopped, chunk)

    monkeypatch.setattr(runner._Lane, "_regroup", spy)
    monkeypatch.setattr(runner._Lane, "_run_alone", spy_alone)
    together = engine.run(programs, backend="dense", max_steps=90, n=24, slots=2)
    assert [key(r) for r in together] == [key(r) for r in alone]
    for program, result in zip(programs, together):
        expected = oracle.run(program, max_steps=90)
        assert (result.status, result.steps, result.memory) == (expected.status, expected.steps, expected.memory)
    assert (2, 2) in regroups  # waiting programs took free slots
    # then the batch shrank to the shape already compiled, or its last card ran on in it alone
    assert (2, 1) in regroups or alone_tails == [1]


def test_a_new_batch_shape_is_compiled_once_the_machines_runs_together_repay_it(monkeypatch):
    """Lane._may_use: a shape not compiled yet waits until this lane's running time, or this
    loop's running time over all its runs in the process, outweighs the compiling."""
    from types import SimpleNamespace

    from looped.loop import lanes

    monkeypatch.setattr(lanes, "compile_estimate", lambda one_card=False: 2.0)
    monkeypatch.setattr(lanes.executables, "folder", lambda: None)  # nothing kept on disk: factor 1
    loop = SimpleNamespace(has_shape=lambda *a: False, cache_key=None, running_s=0.0, compiling_s=0.0)
    run = SimpleNamespace(sharding=None, card_shape=(8, 4), dtype=np.float32, loop=loop)
    lane = lanes.Lane(run, np.arange(4))
    lane.busy, lane.compiling = 0.5, 0.0
    assert not lane._may_use(2)  # one short run does not repay a compile
    loop.running_s, loop.compiling_s = 3.0, 0.5  # the machine's runs so far, together
    assert lane._may_use(2)
    loop.compiling_s = 1.5  # compiled enough already for what it has run
    assert not lane._may_use(2)
    lane.busy = 2.5  # a long run repays one on its own
    assert lane._may_use(2)


def test_every_card_stops_after_exactly_max_steps_whenever_it_started():
    """16 slots, 18 programs: two halt early and two waiting programs take their slots, so the
    other cards reach the step limit five steps before the last two; they must not move after it."""
    rng = np.random.default_rng(23)
    early = []
    while len(early) < 2:
        p = random_program(rng, 8, n_cells=4, n_code=8)
        if 3 <= oracle.run(p, max_steps=40).steps <= 8:
            early.append(p)
    late = long_random_programs(seed=22, count=16, bits=8, min_steps=40, n_cells=4, n_code=8)
    programs = early[:1] + late[:8] + early[1:] + late[8:]
    results = engine.run(programs, backend="dense", max_steps=40, n=14, slots=16)
    for result, program in zip(results, programs):
        expected = oracle.run(program, 40)
        assert (result.status, result.steps, result.memory) == (expected.status, expected.steps, expected.memory)


def test_health_error_names_the_instance_whatever_its_slot():
    programs = long_random_programs(seed=6, count=4, bits=8, min_steps=10)
    n = 1 + max(len(p.memory) + len(p.code) for p in programs)
    X0, halt = cards_for(programs, n)
    layout = subleq_layout(0, 0, 8, n)
    X0 = X0.at[3, 1, layout["mem"].start].set(jnp.nan)  # waits for a slot: 2 slots, 4 cards
    with pytest.raises(NumericalHealthError) as info:
        loop_with(lam=30.0, bits=8, n=n).run(X0, halt, max_steps=10, slots=2)
    assert info.value.card == 3


def halt_writer() -> Program:
    """A program built through the API whose only instruction writes a cell the halt column reads:
    z = 0 - a = 5, then the halt column `subleq z, m, itself` would subtract 5 from m at every step
    it is applied. A halted card must not be applied again."""
    cells = {"a": Cell("a", 0, 1), "z": Cell("z", 1, 1), "m": Cell("m", 2, 1)}
    code = (Instruction(0, 1, 1, source="subleq a, z"), Instruction(1, 2, 1, source="halt"))
    return Program(bits=8, memory=(-5, 0, -1), code=code, cells=cells, file="<api>")


@pytest.mark.parametrize("backend", ["fast", "dense"])
def test_a_halted_card_stays_frozen_whatever_its_batch(backend):
    program = halt_writer()
    expected = oracle.run(program)
    assert (expected.steps, expected.memory) == (1, [-5, 5, -1])
    companion = long_random_programs(seed=3, count=1, bits=8, min_steps=60)[0]
    together = engine.run([program, companion], backend=backend, max_steps=60)[0]
    assert (together.status, together.steps, together.memory) == ("halted", 1, [-5, 5, -1])
    if backend == "dense":  # and in a trace
        pcs, memories, steps = engine.trace([program, companion], 20, backend=backend)
        assert (memories[0] == [-5, 5, -1]).all() and (pcs[:, 0] == 1).all() and (steps[:, 0] == 1).all()


def test_lanes_in_threads_give_every_card_the_same_result():
    """Slots split into lanes (batches run in threads of their own, sharing the queue of waiting
    cards): every card's result, in input order, is what one lane gives, and as the oracle's."""
    programs = mixed_programs(count=24)
    layout = subleq_layout(0, 0, 8, 24)
    loop = loop_with(lam=30.0, bits=8, n=24)
    X0, halt = cards_for(programs, 24)
    for lanes in (1, 3):
        state = loop.run(X0, halt, max_steps=90, slots=6, lanes=lanes)
        for card, program in enumerate(programs):
            expected = oracle.run(program, max_steps=90)
            memory = decode_memory(layout, np.asarray(state.X)[card], len(program.memory))
            assert (bool(state.done[card]), int(state.steps[card]), list(memory)) == (
                expected.status == "halted", expected.steps, expected.memory)


def test_health_error_in_lanes_names_the_first_loss():
    """Cards 4 and 5 lose health at steps 27 and 7 (as in tests/kernels/test_native.py): whichever lanes
    they are in, the error names card 5 at step 7, as one lane does."""
    programs = long_random_programs(seed=3, count=6, bits=8, min_steps=50)
    X0, halt = cards_for(programs, 40)
    errors = []
    for lanes in (1, 2, 3):
        with pytest.raises(NumericalHealthError) as info:
            loop_with(lam=3.0, bits=8, n=40).run(X0, halt, max_steps=50, lanes=lanes)
        errors.append((info.value.card, info.value.step))
    assert errors == [(5, 7)] * 3


def test_a_tail_run_alone_gives_every_card_the_same_result_and_names_the_first_loss(monkeypatch):
    """A batch's last running cards run one after another on the one-card loop (here forced as
    soon as one card stops): the results are the oracle's, and where two of them lose health, the
    error names the one that loses it first (card 5 at step 7, before card 4 at step 27, though
    card 4 runs first), as when they run on together."""
    monkeypatch.setattr(runner._Lane, "_alone_count", lambda self, W: W - 1)
    tails = []
    original = runner._Lane._run_alone

    def spy(self, X, steps, worst, bad, owner, halt, stopped, chunk):
        tails.append(int(np.count_nonzero(~stopped)))
        return original(self, X, steps, worst, bad, owner, halt, stopped, chunk)

    monkeypatch.setattr(runner._Lane, "_run_alone", spy)
    programs = mixed_programs(count=6)
    alone = [engine.run([p], backend="fast", max_steps=90, n=24)[0] for p in programs]
    together = engine.run(programs, backend="fast", max_steps=90, n=24)
    assert [key(r) for r in together] == [key(r) for r in alone] and tails
    losing = long_random_programs(seed=3, count=6, bits=8, min_steps=50) + [halt_writer()]  # halts at step 1
    X0, halt = cards_for(losing, 40)
    tails.clear()
    with pytest.raises(NumericalHealthError) as info:
        loop_with(lam=3.0, bits=8, n=40).run(X0, halt, max_steps=50, lanes=1)
    assert (info.value.card, info.value.step) == (5, 7) and tails == [6]


def test_the_tail_pool_runs_its_cards_by_turns_in_any_lane(monkeypatch):
    """Tails go to the run's pool at once (forced), whose cards run a slice at a time (here 8
    iterations) in whichever lane is free: every card is kept exactly once, with the result it
    has alone, with one lane and with two; and with one lane no shorter card is kept after the
    longest one, though it holds the first slot (by turns, it does not hold up the others)."""
    from looped.loop import lanes

    monkeypatch.setattr(runner._Lane, "_alone_count", lambda self, W: W - 1)
    monkeypatch.setattr(lanes, "ALONE_SLICE", 8)
    kept = []
    original_keep = lanes.Run.keep

    def spy_keep(self, cards, X, worst, bad):
        kept.extend(int(c) for c in cards)
        return original_keep(self, cards, X, worst, bad)

    monkeypatch.setattr(lanes.Run, "keep", spy_keep)
    programs = mixed_programs(count=8)
    expected = [oracle.run(p, max_steps=90) for p in programs]
    longest = max(range(len(programs)), key=lambda i: expected[i].steps)
    programs.insert(0, programs.pop(longest))  # the longest card in the first slot
    expected.insert(0, expected.pop(longest))
    X0, halt = cards_for(programs, 24)
    loop = loop_with(lam=30.0, bits=8, n=24)
    for lanes_count in (1, 2):
        kept.clear()
        state = loop.run(X0, halt, max_steps=90, lanes=lanes_count)
        assert sorted(kept) == list(range(len(programs)))
        assert np.asarray(state.steps).tolist() == [e.steps for e in expected]
        for i, (program, e) in enumerate(zip(programs, expected)):
            layout = subleq_layout(len(program.memory), len(program.code), 8, 24)
            memory = decode_memory(layout, np.asarray(state.X)[i], len(program.memory))
            assert np.asarray(memory).tolist() == list(e.memory), (lanes_count, i)
        if lanes_count == 1:
            after = kept[kept.index(0):]  # the cards kept after the longest one, in the first slot
            assert all(expected[c].steps >= expected[0].steps for c in after)
            assert expected[0].steps > min(e.steps for e in expected[1:])


def test_a_lanes_first_cards_are_a_view_where_evenly_spaced():
    """looped/loop/lanes.py _rows: cards i, i + lanes, ... are taken as a view (copied once, into
    the device's buffer); other owners are gathered; the same rows either way."""
    from looped.loop.lanes import _rows

    X = np.arange(7 * 3 * 2, dtype=float).reshape(7, 3, 2)
    for owner in ([1, 3, 5], [0, 1, 2, 3], [4], [0, 2, 3], [5, 3, 1]):
        owner = np.array(owner)
        taken = _rows(X, owner)
        assert np.array_equal(taken, X[owner])
        evenly = len(owner) > 1 and np.all(np.diff(owner) == owner[1] - owner[0]) and owner[1] > owner[0]
        assert np.shares_memory(taken, X) == bool(evenly)
