"""looped/machines/subleq/card.py: a batch encoded together gives each program's own card, whether
programs share their code (one program's inputs) or not, and however often they are encoded."""

import dataclasses

import numpy as np

from looped.machines.subleq.card import encode, encode_many, layout_for
from looped.machines.subleq.random_programs import random_program


def _programs(seed: int, count: int, bits: int = 8):
    rng = np.random.default_rng(seed)
    return [random_program(rng, bits, n_cells=int(rng.integers(1, 8)), n_code=int(rng.integers(1, 20)))
            for _ in range(count)]


def test_a_batch_holds_each_programs_own_card():
    programs = _programs(0, 12)
    n = max(1 + len(p.memory) + len(p.code) for p in programs)
    for _ in range(2):  # the second time, every program's operands come from the cache
        cards, X = encode_many(programs, n)
        for program, card, x in zip(programs, cards, X):
            alone = encode(program, layout_for(program, n))
            assert np.array_equal(alone.X, x) and np.array_equal(card.X, x)


def test_equal_code_in_new_objects_and_shared_code_both_encode_right():
    (program,) = _programs(1, 1)
    n = 1 + len(program.memory) + len(program.code)
    expected = encode(program, layout_for(program, n)).X
    # the same instructions in a new tuple, and the same tuple under other inputs
    copy = dataclasses.replace(program, code=tuple(dataclasses.replace(i) for i in program.code))
    other_inputs = dataclasses.replace(program, memory=tuple(0 for _ in program.memory))
    _, X = encode_many([program, copy, other_inputs], n)
    assert np.array_equal(X[0], expected) and np.array_equal(X[1], expected)
    assert not np.array_equal(X[2], expected)
    # a program whose code differs is not given another's operands
    changed = dataclasses.replace(program, code=program.code[:-1] + (dataclasses.replace(program.code[-1], c=0),))
    _, X = encode_many([program, changed], n)
    assert np.array_equal(X[1], encode(changed, layout_for(changed, n)).X)
