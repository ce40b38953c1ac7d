"""FLEQ's adder-based operand pointers (looped/blocks/pointers.py), by the plain MLP formula on a
FLEQ card: slot j gets the code of base + j, off = [j >= count], and a dropped pointer is zero."""

import numpy as np
import pytest

from looped.blocks import pointers
from looped.layout import bits_array, decode_unsigned, position_codes
from looped.machines.fleq.isa import constant_rows, fleq_layout


def mlp_update(part, X):
    return np.maximum(X @ part.w1 + part.b1, 0.0) @ part.w2 + part.b2


@pytest.mark.parametrize("W,base,count", [(4, 9, 3), (8, 20, 8), (8, 13, 0), (1, 6, 1), (5, 60, 2)])
def test_slot_j_points_at_base_plus_j_and_is_off_past_the_count(W, base, count):
    layout = fleq_layout(W, 2, 64)
    r, L = layout.rows, layout.addr_bits
    X = constant_rows(layout)
    X[: W, r["buf.instr.a"].slice] = position_codes([base], L)[0]
    X[: W, r["buf.instr.na"].start] = count
    X[W + 1 :, r["buf.instr.a"].slice] = 0.3  # what a query-less token averages: gated off there
    X[W + 1 :, r["buf.instr.na"].start] = 2.5
    adder = pointers.add_slot_index(layout, r["buf.instr.a"], r["minusslot"], r["fetched.a"])
    past = pointers.past_count(layout, r["buf.instr.na"].start, r["fetched.offa"].start)
    out = X + mlp_update(adder, X) + mlp_update(past, X)
    codes = out[:, r["fetched.a"].slice]
    assert np.array_equal(codes[:W], bits_array((base + np.arange(W)) % (1 << L), L))
    assert not np.any(codes[W:])  # the anchor and the other tokens get no pointer
    off = out[:, r["fetched.offa"].start]
    assert off[:W].tolist() == [1.0 if j >= count else 0.0 for j in range(W)]
    assert not np.any(off[W:])
    assert decode_unsigned(codes[:W]).tolist() == [(base + j) % (1 << L) for j in range(W)]


def test_a_dropped_pointer_is_zero_and_a_kept_one_unchanged():
    W = 4
    layout = fleq_layout(W, 2, 40)
    r, L = layout.rows, layout.addr_bits
    X = constant_rows(layout)
    X[:W, r["fetched.c"].slice] = bits_array(np.arange(10, 10 + W), L)
    X[:W, r["fetched.off"].start] = [0, 0, 1, 1]
    out = X + mlp_update(pointers.drop_pointer(layout, r["fetched.c"], r["fetched.off"].start), X)
    assert np.array_equal(out[:2, r["fetched.c"].slice], X[:2, r["fetched.c"].slice])
    assert not np.any(out[2:W, r["fetched.c"].slice])
