"""kernels/batched.py: the batch-innermost evaluation computes the same machine as the dense kernel
(raw state within the correction bound, decoded state identical, every step), and its pieces
(feature pieces, reductions, read-outs) compute what they claim."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kernels
from kernels import batched
from kernels.common import Step, take_rows
from kernels.plan import HeadPlan
from looped.blocks import CORRECTION_TOLERANCE
from looped.engine import batch_cards
from looped.layers import Head
from looped.machine import build_machine
from looped.machines.subleq.random_programs import long_random_programs, random_program
from looped.runner import HEALTH_BOUND

# ---- the whole step against the dense kernel ---------------------------------------------------------


def dense_and_batched(n, bits):
    machine = build_machine(n, bits)
    dense = jax.jit(jax.vmap(kernels.make_step("dense", machine.stack, machine.lam, machine.dtype)))
    ops = batched.make_batch_ops(machine.stack, machine.lam, machine.dtype)
    advance, close = jax.jit(ops.advance), jax.jit(ops.close)
    return machine, dense, ops, advance, close


@pytest.mark.parametrize("n, bits, count", [(48, 8, 5), (40, 4, 1), (33, 12, 3)])
def test_raw_state_matches_dense_every_step(n, bits, count):
    programs = long_random_programs(seed=n + bits, count=count, bits=bits, min_steps=30)
    machine, dense, ops, advance, close = dense_and_batched(n, bits)
    X = jnp.asarray(np.stack([c.X for c in batch_cards(programs, n)]), machine.dtype)
    Xd, state = X, jax.jit(ops.open)(X)  # (jitted: op-by-op dispatch would compile every small op)
    for _ in range(30):
        Xd, health_d = dense(Xd)
        state, health_b = advance(state)
        Xb = np.asarray(close(state))
        assert np.max(np.abs(Xb - np.asarray(Xd))) < CORRECTION_TOLERANCE
        assert np.array_equal(np.round(Xb), np.round(np.asarray(Xd)))  # every feature decodes alike
        assert np.all(np.asarray(health_b) <= HEALTH_BOUND)
        assert np.allclose(np.asarray(health_b), np.asarray(health_d), atol=1e-3)


def test_wide_words_in_float64():
    rng = np.random.default_rng(5)
    programs = [random_program(rng, 24, n_cells=5, n_code=7) for _ in range(3)]
    machine, dense, ops, advance, close = dense_and_batched(16, 24)
    assert machine.dtype == jnp.float64
    X = jnp.asarray(np.stack([c.X for c in batch_cards(programs, 16)]), machine.dtype)
    Xd, state = X, jax.jit(ops.open)(X)
    for _ in range(12):
        Xd = dense(Xd)[0]
        state = advance(state)[0]
        assert np.array_equal(np.round(np.asarray(close(state))), np.round(np.asarray(Xd)))


def test_scratch_rows_and_round_trip():
    """open then close gives the cards back; scratch_rows are the scratch tokens' rows."""
    programs = long_random_programs(seed=2, count=3, bits=8, min_steps=5)
    machine = build_machine(40, 8)
    ops = batched.make_batch_ops(machine.stack, machine.lam, machine.dtype)
    X = jnp.asarray(np.stack([c.X for c in batch_cards(programs, 40)]), machine.dtype)
    state = jax.jit(ops.open)(X)
    assert np.array_equal(np.asarray(jax.jit(ops.close)(state)), np.asarray(X))
    assert np.array_equal(np.asarray(jax.jit(ops.scratch_rows)(state)), np.asarray(X[:, :1]))


def test_fast_backend_chooses_it_by_batch_and_width():
    machine = build_machine(20, 8)
    step = kernels.make_step("fast", machine.stack, machine.lam, machine.dtype)
    batch = step.batch_for(1, 32)
    assert isinstance(step, Step) and batch is not None
    assert step.batched(1, 32) is batch  # small cards: always
    assert step.batched(64, 4096) is batch  # many cards: always
    assert step.batched(1, 4096) is not batch  # one wide card: the per-card kernel, vmapped
    assert step.batched(1) is not batch  # width unknown
    assert kernels.make_step("pallas", machine.stack, machine.lam, machine.dtype).batch_for(1, 32) is None


# ---- pieces ------------------------------------------------------------------------------------------


def test_every_write_covers_whole_pieces():
    writes = [np.array([3, 4, 5, 9]), np.array([4, 5]), np.array([9, 10, 11])]
    pieces = batched.Pieces(writes, np.array([0, 1, 4, 20]))
    for w in writes:
        covered = [k for k, (first, length) in enumerate(pieces.spans[: pieces.n_written])
                   if set(range(first, first + length)) & set(w.tolist())]
        for k in covered:
            first, length = pieces.spans[k]
            assert set(range(first, first + length)) <= set(w.tolist())
    assert {f for f, (k, _) in pieces.where.items() if k >= pieces.n_written} == {0, 1, 20}


def test_pieces_take_add_close():
    rng = np.random.default_rng(0)
    B, t, d = 3, 5, 12
    R = jnp.asarray(rng.normal(size=(B, t, d)))
    pieces_of = batched.Pieces([np.array([2, 3, 7])], np.array([0, 5, 6]))
    P = pieces_of.open(R)
    features = [7, 0, 2, 6]
    assert np.allclose(np.asarray(pieces_of.take(P, features)), np.transpose(np.asarray(R)[:, :, features], (2, 1, 0)))
    update = jnp.ones((3, t, B))
    P2 = pieces_of.add(P, [2, 3, 7], update)
    X = jnp.zeros((B, t + 1, d)).at[:, 1:].set(R)
    out = np.asarray(pieces_of.close(X, P2, 1))
    expected = np.asarray(X).copy()
    expected[:, 1:, [2, 3, 7]] += 1
    assert np.allclose(out, expected)
    with pytest.raises(ValueError, match="whole pieces"):
        pieces_of.add(P, [2], update[:1])  # half of the piece [2, 3]



def test_joined_pieces_give_the_same_bits_as_the_refined_ones():
    rng = np.random.default_rng(1)
    B, t, d = 3, 4, 16
    R = rng.normal(size=(B, t, d)).astype(np.float32)
    R[0, 0, :] = -0.0  # a -0.0 where no write reaches must stay -0.0
    writes = [[1, 2, 3, 9], [2], [5, 6, 9, 10], [11]]
    updates = [jnp.asarray(rng.normal(size=(len(w), t, B)).astype(np.float32)) for w in writes]
    refined = batched.Pieces([np.array(w) for w in writes], np.arange(d))
    joined = batched.Pieces([np.array(w) for w in writes], np.arange(d), merge_up_to=8)
    assert joined.n_written < refined.n_written
    outs = []
    for pieces_of in (refined, joined):
        P = pieces_of.open(jnp.asarray(R))
        for w, update in zip(writes, updates):
            P = pieces_of.add(P, w, update)
        outs.append(np.asarray(pieces_of.close(jnp.asarray(R), P, 0)))
    assert np.array_equal(outs[0].view(np.uint32), outs[1].view(np.uint32))
    assert np.signbit(outs[1][0, 0, [0, 4, 7, 8, 12]]).all()


def test_term_sums_are_blocks_of_rows_with_the_bits_of_row_by_row_sums():
    # The write's units: unit u reads features 15 + u and 73 + u and the flag 105; then the same
    # rows with other signs (a second block), then one unit that breaks the pattern (a third).
    terms = ([[(15 + u, -1.0), (73 + u, 1.0), (105, -4.0)] for u in range(16)]
             + [[(15 + u, 1.0), (73 + u, -1.0), (105, -4.0)] for u in range(16)] + [[(3, 0.5), (9, 2.0), (1, 1.0)]])
    bias = [float(b) for b in np.linspace(-1, 1, len(terms))]
    assert batched._runs_of_terms(terms) == [(0, 16), (16, 32), (32, 33)]
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(110, 7, 4)).astype(np.float32) * 3)
    parts = jax.jit(lambda x: batched.term_sums(lambda idx: take_rows(x, idx), terms, bias))(x)
    assert [p.shape[0] for p in parts] == [16, 16, 1]
    rows = jax.jit(lambda x: jnp.stack([sum(c * x[f] for f, c in t) + b for t, b in zip(terms, bias)]))(x)
    assert np.array_equal(np.concatenate([np.asarray(p) for p in parts]).view(np.uint32), np.asarray(rows).view(np.uint32))
    assert np.array_equal(np.asarray(batched.take_parts(parts, [17, 18])), np.asarray(rows)[17:19])
    assert np.array_equal(np.asarray(batched.take_parts(parts, [31, 32])), np.asarray(rows)[31:33])

# ---- reductions and read-outs ------------------------------------------------------------------------


def test_reductions_match_numpy():
    # (jitted: one compile each, where op-by-op dispatch compiles every small op of a chain)
    total, largest = jax.jit(batched.total, static_argnums=1), jax.jit(batched.largest, static_argnums=1)
    contract = jax.jit(batched.contract, static_argnums=2)
    x = np.random.default_rng(1).normal(size=(4, 7, 3))
    for axis in range(3):
        assert np.allclose(np.asarray(total(jnp.asarray(x), axis)), x.sum(axis=axis))
        assert np.allclose(np.asarray(largest(jnp.asarray(x), axis)), x.max(axis=axis))
    y = np.random.default_rng(2).normal(size=(4, 1, 3))
    assert np.allclose(np.asarray(contract(jnp.asarray(x), jnp.asarray(y), 1)), (x * y).sum(axis=1))
    long = np.random.default_rng(4).normal(size=(2, 1000, 3))  # grouped by CHAIN, padded
    assert np.allclose(np.asarray(total(jnp.asarray(long), 1)), long.sum(axis=1), atol=1e-4)
    assert np.allclose(np.asarray(largest(jnp.asarray(-np.abs(long)), 1)), (-np.abs(long)).max(axis=1))
    y_long = np.random.default_rng(5).normal(size=(2, 1000, 1))
    assert np.allclose(np.asarray(contract(jnp.asarray(long), jnp.asarray(y_long), 1)),
                       (long * y_long).sum(axis=1), atol=1e-4)
    w = np.random.default_rng(3).normal(size=(6, 3))
    parts = [jnp.asarray(x[:, 0]), jnp.asarray(x[:2, 1])]  # rows 0..3 then 4..5
    stacked = np.concatenate([x[:, 0], x[:2, 1]])
    assert np.allclose(np.asarray(jax.jit(batched.weighted_total)(jnp.asarray(w), parts)), (w * stacked).sum(axis=0))


def test_materializer_returns_its_input():
    x = (jnp.arange(6.0).reshape(2, 3), jnp.ones(4))
    keep = batched.materializer(jnp.bool_(False))
    out = jax.jit(keep)(x)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(out, x))


def softmax_readout(X, head, lam, queries):
    """The dense formula's attention output for the query tokens `queries` of one card X [n, d]."""
    scores = lam * (X[queries] @ head.wq) @ (X @ head.wk).T
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ (X @ head.wv)


@pytest.mark.parametrize("s", [1, 2, 3])
def test_readouts_with_several_scratch_tokens(s):
    """The softmax paths for any number of scratch tokens (SUBLEQ has one), against the formula."""
    rng = np.random.default_rng(s)
    n, d, k, B, lam = 9, 10, 3, 4, 2.0
    wq, wk = np.zeros((d, k)), np.zeros((d, k))
    wq[0:3], wk[3:6] = rng.normal(size=(3, k)), rng.normal(size=(3, k))
    wv = np.zeros((d, d))
    wv[6:8, 8:10] = rng.normal(size=(2, 2))
    head = Head(wq, wk, wv, queries="all", keys="all")
    X = rng.normal(size=(B, n, d))
    built = batched.BatchHead.build(HeadPlan.of(head), jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    S = jnp.asarray(np.transpose(X[:, :s], (2, 1, 0)))  # [d, s, B]
    R = jnp.asarray(np.transpose(X[:, s:], (2, 1, 0)))  # [d, t, B]
    keep = batched.materializer(jnp.bool_(True))

    def readout(which):  # jitted: one compile, where op-by-op dispatch compiles every small op
        return jax.jit(lambda S, R: getattr(built, which)(lambda f: take_rows(S, f), lambda f: [take_rows(R, f)],
                                                           lam, keep))(S, R)

    got = np.asarray(readout("scratch_readout"))  # [c, s, B]
    for b in range(B):
        expected = softmax_readout(X[b], head, lam, np.arange(s))[:, built.plan.v_cols]
        assert np.allclose(got[:, :, b].T, expected, atol=1e-5)
    # keys = scratch tokens and the query itself
    got = np.asarray(readout("rest_readout"))  # [c, t, B]
    for b in range(B):
        Xb = X[b]
        for i in range(s, n):
            keys = list(range(s)) + [i]
            scores = lam * (Xb[i] @ wq) @ (Xb[keys] @ wk).T
            p = np.exp(scores - scores.max())
            expected = (p / p.sum()) @ (Xb[keys] @ wv)
            assert np.allclose(got[:, i - s, b], expected[built.plan.v_cols], atol=1e-5)
