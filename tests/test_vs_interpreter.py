"""The benchmark's plain interpreter (benchmarks/vs_interpreter.py) computes what the oracle does."""

import numpy as np

from benchmarks.vs_interpreter import CASES, interpret, interpreter_inputs
from looped.machines.subleq import oracle
from looped.machines.subleq.card import card_width
from looped.machines.subleq.random_programs import random_program


def test_interpreter_matches_oracle_on_random_programs():
    rng = np.random.default_rng(0)
    for bits in (4, 8, 16):
        # many of these halt early, many wrap around: both paths are covered
        programs = [random_program(rng, bits, n_cells=int(rng.integers(1, 10)), n_code=int(rng.integers(1, 30)))
                    for _ in range(200)]
        for program, (memory, code, halt) in zip(programs, interpreter_inputs(programs)):
            for max_steps in (0, 1, 7, 300):
                expected = oracle.run(program, max_steps=max_steps)
                assert interpret(list(memory), code, halt, max_steps, bits) == \
                    (expected.memory, expected.pc, expected.steps)


def test_case_widths():
    rng = np.random.default_rng(1)
    for columns, bits, _, cells, code in CASES.values():
        assert card_width(random_program(rng, bits, n_cells=cells, n_code=code)) == columns


def test_the_avx2_build_is_measured_beside_native_only_on_avx512(monkeypatch):
    import benchmarks.common
    from benchmarks import vs_interpreter

    monkeypatch.delenv("LOOPED_NATIVE_MARCH", raising=False)
    for avx512, backends, wanted in ((True, ["fast", "native"], True), (True, ["fast"], False),
                                     (False, ["fast", "native"], False)):
        monkeypatch.setattr(benchmarks.common, "cpu_info", lambda avx512=avx512: {"avx512": avx512})
        assert vs_interpreter.avx2_build_wanted(backends) is wanted
    monkeypatch.setenv("LOOPED_NATIVE_MARCH", "x86-64-v3")  # a target chosen by hand is measured as it is
    assert not vs_interpreter.avx2_build_wanted(["fast", "native"])
