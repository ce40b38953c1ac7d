"""Each building block on its own: a state made by hand, one layer applied with the dense formula."""

import itertools

import numpy as np
import pytest

from kernels.dense import apply_layer, layer_params
from looped import blocks
from looped.layers import layer
from looped.layout import bits_of, decode_signed, decode_unsigned, position_code, subleq_layout
from looped.layout import wrap

LAM = 40.0


def apply(layout, *parts, X):
    params = layer_params(layer("test", *parts, d=layout.d), np.float32)
    return np.asarray(apply_layer(params, X, LAM))


def blank(layout, rng=None):
    """A state with positional codes and the indicator; other tokens carry bounded garbage in the
    scratch rows to show that the gates keep them out."""
    X = np.zeros((layout.n, layout.d))
    for t in range(1, layout.n):
        X[t, layout["pos"].slice] = position_code(t, layout.addr_bits)
    X[0, layout["ind"].slice] = 1
    return X


def test_subtract_every_pair_wraps():
    N = 4
    layout = subleq_layout(2, 2, N)
    r = layout.rows
    rng = np.random.default_rng(0)
    for x, y in itertools.product(range(-8, 8), repeat=2):
        X = blank(layout)
        X[1:, r["buf"].slice] = rng.uniform(-1, 1, (layout.n - 1, r["buf"].size))  # garbage elsewhere
        X[0, r["buf.b"].slice], X[0, r["buf.a"].slice] = bits_of(x, N), bits_of(y, N)
        out = apply(layout, blocks.subtract(layout, r["buf.b"], r["buf.a"], r["diff"]), X=X)
        np.testing.assert_array_equal(out[0, r["diff"].slice], bits_of(wrap(x - y, N), N))
        assert not out[1:, r["diff"].slice].any()


def test_flag_le_zero():
    N = 5
    layout = subleq_layout(2, 2, N)
    r = layout.rows
    for v in range(-16, 16):
        X = blank(layout)
        X[0, r["diff"].slice] = bits_of(v, N) + np.random.default_rng(v + 16).uniform(-0.2, 0.2, N)
        out = apply(layout, blocks.flag_le_zero(layout, r["diff"], r["flag"]), X=X)
        assert out[0, r["flag"].start] == (1.0 if v <= 0 else 0.0)
        assert not out[1:, r["flag"].start].any()


@pytest.mark.parametrize("flag", [0.0, 1.0])
def test_branch_selects_target_or_next(flag):
    layout = subleq_layout(3, 12, 4)  # n = 16, L = 4
    r, L = layout.rows, layout.addr_bits
    for pc, target in itertools.product(range(1, 16), [1, 7, 15]):
        X = blank(layout)
        X[0, r["pc"].slice] = position_code(pc, L)
        X[0, r["fetched.c"].slice] = position_code(target, L)
        X[0, r["flag"].start] = flag
        out = apply(layout, blocks.branch(layout, r["pc"], r["fetched.c"], r["flag"]), X=X)
        expected = target if flag else (pc + 1) % 2**L
        assert decode_unsigned(out[0, r["pc"].slice]) == expected
        np.testing.assert_allclose(np.abs(out[0, r["pc"].slice]), 1.0, atol=1e-6)
        assert not out[1:, r["pc"].slice].any()


def test_error_correction_snaps_within_tolerance():
    layout = subleq_layout(4, 4, 8)
    rng = np.random.default_rng(1)
    X = rng.choice([-1.0, 0.0, 1.0], size=(layout.n, layout.d))
    noisy = X + rng.uniform(-0.24, 0.24, X.shape)
    out = apply(layout, blocks.error_correction(layout, layout["mem"], layout["pc"]), X=noisy)
    rows = np.r_[layout["mem"].slice, layout["pc"].slice]
    np.testing.assert_allclose(out[:, rows], X[:, rows], atol=1e-6)  # float32
    untouched = np.setdiff1d(np.arange(layout.d), rows)
    np.testing.assert_allclose(out[:, untouched], noisy[:, untouched], atol=1e-6)  # float32 state


def test_read_copies_the_addressed_token_into_the_scratch_token():
    layout = subleq_layout(6, 4, 8)
    r = layout.rows
    X = blank(layout)
    values = [3, -7, 100, 0, -128, 127]
    for i, v in enumerate(values):
        X[1 + i, r["mem"].slice] = bits_of(v, 8)
    for i, v in enumerate(values):
        X[0, r["fetched.a"].slice] = position_code(1 + i, layout.addr_bits)
        out = apply(layout, blocks.read(layout, r["fetched.a"], r["mem"], r["buf.a"]),
                    blocks.move(layout, r["buf.a"], r["diff"]), blocks.clear(layout, r["buf"]), X=X)
        assert decode_signed(out[0, r["diff"].slice]) == v
        assert np.abs(out[:, r["buf"].slice]).max() == 0  # the buffer is cleared everywhere
        assert not out[1:, r["diff"].slice].any()


def test_write_changes_only_the_addressed_token():
    layout = subleq_layout(6, 4, 8)
    r = layout.rows
    for target in range(1, 7):
        X = blank(layout)
        for t in range(1, 7):
            X[t, r["mem"].slice] = bits_of(t * 10, 8)
        X[0, r["fetched.b"].slice] = position_code(target, layout.addr_bits)
        X[0, r["diff"].slice] = bits_of(-55, 8)
        out = apply(layout, blocks.write(layout, r["fetched.b"], r["diff"], r["mem"], r["buf.write"]),
                    blocks.overwrite(layout, r["buf.write"], r["mem"]),
                    blocks.clear(layout, r["buf.write"], tokens="all"), X=X)
        got = decode_signed(np.round(out[1:7, r["mem"].slice]))
        expected = [-55 if t == target else t * 10 for t in range(1, 7)]
        assert list(got) == expected
        assert np.abs(out[1:, r["mem"].slice] - np.round(out[1:, r["mem"].slice])).max() < 1e-6
        assert not out[0, r["mem"].slice].any()


# ---- the gates, with garbage where the machine can have it ------------------------------------------


def garbage_state(layout, rng):
    """A state as the machine can leave it, garbage included: on the other tokens the rows that
    tokens carry (instr, mem) hold random ±1 values and the transient buffer any value in [-1, 1]
    (what an attention read deposits there); the scratch-only rows (pc, fetched, diff, flag) are
    zero there, as the machine keeps them. On the scratch token the buffer holds garbage too."""
    r = layout.rows
    X = blank(layout)
    others = slice(1, layout.n)
    for name in ("instr", "mem"):
        X[others, r[name].slice] = rng.choice([-1.0, 1.0], size=(layout.n - 1, r[name].size))
    X[:, r["buf"].slice] = rng.uniform(-1, 1, size=(layout.n, r["buf"].size))
    return X.astype(np.float32).astype(np.float64)  # the layer runs in float32


def test_move_ignores_garbage_on_other_tokens():
    layout = subleq_layout(5, 6, 6)
    r = layout.rows
    rng = np.random.default_rng(30)
    for _ in range(20):
        X = garbage_state(layout, rng)
        X[0, r["buf.instr"].slice] = rng.choice([-1.0, 1.0], r["buf.instr"].size)
        out = apply(layout, blocks.move(layout, r["buf.instr"], r["fetched"]), X=X)
        np.testing.assert_array_equal(out[0, r["fetched"].slice], X[0, r["buf.instr"].slice])
        np.testing.assert_array_equal(out[1:], X[1:])  # |source| <= 1 there: the gate holds


def test_flag_le_zero_ignores_garbage_on_other_tokens():
    layout = subleq_layout(5, 6, 6)
    r, N = layout.rows, layout.bits
    rng = np.random.default_rng(31)
    for v in range(-32, 32):
        X = garbage_state(layout, rng)
        X[0, r["diff"].slice] = bits_of(v, N)
        out = apply(layout, blocks.flag_le_zero(layout, r["diff"], r["flag"]), X=X)
        assert out[0, r["flag"].start] == (1.0 if v <= 0 else 0.0)
        np.testing.assert_array_equal(out[1:], X[1:])


@pytest.mark.parametrize("flag", [0.0, 1.0])
def test_branch_ignores_garbage_on_other_tokens(flag):
    layout = subleq_layout(3, 12, 6)  # n = 16, L = 4
    r, L = layout.rows, layout.addr_bits
    rng = np.random.default_rng(32 + int(flag))
    for pc, target in itertools.product(range(1, 16), [1, 9, 15]):
        X = garbage_state(layout, rng)
        X[0, r["pc"].slice] = position_code(pc, L)
        X[0, r["fetched.c"].slice] = position_code(target, L)
        X[0, r["flag"].start] = flag
        out = apply(layout, blocks.branch(layout, r["pc"], r["fetched.c"], r["flag"]), X=X)
        assert decode_unsigned(out[0, r["pc"].slice]) == (target if flag else (pc + 1) % 2**L)
        np.testing.assert_array_equal(out[1:], X[1:])


def test_overwrite_leaves_the_scratch_token_alone_whatever_its_buffer_holds():
    layout = subleq_layout(5, 6, 6)
    r = layout.rows
    rng = np.random.default_rng(33)
    for _ in range(20):
        X = garbage_state(layout, rng)  # the scratch token's buffer: garbage in [-1, 1]
        X[1:, r["buf.write"].slice] = rng.choice([-1.0, 1.0], size=(layout.n - 1, r["buf.write"].size))
        out = apply(layout, blocks.overwrite(layout, r["buf.write"], r["mem"]), X=X)
        np.testing.assert_array_equal(out[0], X[0])
        np.testing.assert_array_equal(out[1:, r["mem"].slice], X[1:, r["buf.write"].slice])


# ---- the health bound and the correction tolerance --------------------------------------------------


def test_everything_the_health_check_lets_through_is_snapped_back_exactly():
    """The runner stops a run whose corrected rows stray more than HEALTH_BOUND from {-1, 0, 1}
    before error correction; error correction must snap back exactly anything within it."""
    from looped.runner import HEALTH_BOUND

    layout = subleq_layout(4, 4, 8)
    rows = np.r_[layout["mem"].slice, layout["pc"].slice]
    rng = np.random.default_rng(34)
    lattice = rng.choice([-1.0, 0.0, 1.0], size=(layout.n, layout.d))
    for offset in (HEALTH_BOUND, -HEALTH_BOUND, 0.999 * HEALTH_BOUND, 0.5 * HEALTH_BOUND):
        noisy = lattice + np.where(rng.random(lattice.shape) < 0.5, offset, -offset)
        out = apply(layout, blocks.error_correction(layout, layout["mem"], layout["pc"]), X=noisy)
        np.testing.assert_allclose(out[:, rows], lattice[:, rows], atol=1e-6)
    assert HEALTH_BOUND < blocks.CORRECTION_TOLERANCE
