"""The tape machine's digit blocks (looped/machines/tape/blocks.py), as MLPs in NumPy on a scratch
token: every word of 4, 7, 16 and 20 bits to ±1 bits and back into a cell's change, exactly; and
the hard-selection scale."""

import math

import numpy as np
import pytest

from looped.layout import bits_array
from looped.machines.tape import blocks as tb
from looped.machines.tape.isa import CELLS, TAPE, cells_of, decode_digits, digits_array
from looped.machines.tape.program import parse_tape


def apply(mlp, X):
    return X + np.maximum(X @ mlp.w1 + mlp.b1, 0.0) @ mlp.w2 + mlp.b2


def layout_for(bits):
    return TAPE.layout(TAPE.machine_key([parse_tape("0 0 -1", bits=bits)]))


def words(bits):
    every = np.arange(-(1 << (bits - 1)), 1 << (bits - 1))
    return every if len(every) <= 1 << 12 else np.random.default_rng(bits).choice(every, 4096)


@pytest.mark.parametrize("bits", [4, 7, 16, 20])
def test_digits_round_trip_through_the_word(bits):
    values = words(bits)
    assert np.array_equal(decode_digits(digits_array(values, bits), bits), values)


@pytest.mark.parametrize("bits", [4, 7, 16, 20])
def test_digits_to_bits_is_exact_and_shut_off_the_scratch_token(bits):
    lay = layout_for(bits)
    values = words(bits)
    mlp = tb.digits_to_bits(lay, lay["nib.A"], lay["word.A"], tb.gate(lay))
    X = np.zeros((len(values), lay.d))
    X[:, lay["ind"].start] = 1.0
    X[:, lay["nib.A"].slice] = digits_array(values, bits)
    out = apply(mlp, X)[:, lay["word.A"].slice]
    assert np.array_equal(out, bits_array(values, bits))
    X[:, lay["ind"].start] = 0.0  # another token (where the digit rows could hold anything up to 15)
    assert np.array_equal(apply(mlp, X)[:, lay["word.A"].slice], np.zeros_like(out))


@pytest.mark.parametrize("bits", [8, 16])
def test_the_change_lands_in_the_slot_and_only_when_writing(bits):
    lay = layout_for(bits)
    rng = np.random.default_rng(bits)
    new, old = words(bits)[:64], rng.permutation(words(bits))[:64]
    mlp = tb.place_digit_change(lay, lay["wsrc.word"], lay["vnib.b"], lay["wslot"], cells_of(lay, "delta"),
                                tb.lit(lay["do.sub"]))
    for slot in range(CELLS):
        for writing in (1.0, 0.0):
            X = np.zeros((len(new), lay.d))
            X[:, lay["ind"].start] = 1.0
            X[:, lay["do.sub"].start] = writing
            X[:, lay["wsrc.word"].slice] = bits_array(new, bits)
            X[:, lay["vnib.b"].slice] = digits_array(old, bits)
            X[:, lay["wslot"].slice] = bits_array([slot] * len(new), lay["wslot"].size)
            Y = apply(mlp, X)
            for s, cell in enumerate(cells_of(lay, "delta")):
                want = digits_array(new, bits) - digits_array(old, bits) if (s == slot and writing) else 0.0
                assert np.array_equal(Y[:, cell.slice], np.zeros_like(Y[:, cell.slice]) + want)


def test_hard_scale_makes_every_other_weight_underflow():
    for lam in (20.0, 26.1, 33.7):
        for gap in (1.0, 2.0):
            c = tb.hard_scale(lam, gap)
            assert c == 2 ** round(math.log2(c)) and lam * c * gap >= tb.HARD_EXPONENT
            assert np.exp(np.float32(-lam * c * gap)) == 0.0 and np.exp(np.float64(-lam * c * gap)) == 0.0
