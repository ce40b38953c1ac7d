"""FLEQ's subnormal checks (looped/blocks/subnormals.py), by the plain MLP formula on a FLEQ card:
the second stage is positive exactly for 0 < |r| < 2^-1022, exactly 0 elsewhere, and a read mark
raises the fault raw. (On every backend, through the machine: tests/machines/fleq/test_fleq_faults.py.)"""

import numpy as np

from looped.blocks import clear, subnormals
from looped.blocks.exact import STAGE
from looped.machines.fleq.isa import constant_rows, fleq_layout

SMALLEST = 2.0**-1022


def mlp_update(part, X):
    return np.maximum(X @ part.w1 + part.b1, 0.0) @ part.w2 + part.b2


def test_the_second_stage_is_positive_exactly_below_the_smallest_normal():
    rs = [0.0, 2.0**-1074, 0.5 * SMALLEST, SMALLEST - 2.0**-1074, SMALLEST, 1.5 * SMALLEST, 1e-300, 1.0, 1e15]
    layout = fleq_layout(1, len(rs), 16)
    r = layout.rows
    X = constant_rows(layout)
    X[0, r["summagnitude"].slice] = STAGE * np.abs(rs)  # stage 1, exact (multiples of 2^-537)
    X[1:, r["summagnitude"].slice] = 7.0  # off the slots: gated off
    tiny = r["tiny"].part("sum", 0, len(rs))
    out = mlp_update(subnormals.check_underflow(layout, r["summagnitude"], tiny, SMALLEST), X)
    got = out[0, tiny.slice]
    assert all(g >= 1.0 for g, x in zip(got, rs) if 0 < x < SMALLEST)
    assert all(g == 0.0 for g, x in zip(got, rs) if not 0 < x < SMALLEST)
    assert not np.any(out[1:, tiny.slice])


def test_a_read_mark_raises_the_fault_raw_and_the_layer_clears_it():
    layout = fleq_layout(2, 1, 16)
    r = layout.rows
    X = constant_rows(layout)
    X[0, r["unheldread"].start] = 1.0  # slot 0 read a marked cell
    X[3:, r["unheldread"].start] = 0.25  # what the reads' query-less tokens average
    read = subnormals.read_unheld(layout, r["unheldread"], r["faultraw"].start)
    out = X + mlp_update(read, X) + mlp_update(clear(layout, r["unheldread"]), X)  # (as the operands layer)
    assert out[0, r["faultraw"].start] >= 1.0 and out[1, r["faultraw"].start] == 0.0
    assert not np.any(out[:, r["unheldread"].start])
