"""Random C programs (looped/machines/tape/c/random_programs.py) against gcc on the tape oracle:
a handful by default, 1,000 slow-marked (benchmarks/c_fuzz.py is the same with a report)."""

import pytest

from looped.machines.tape.c.compiler import compile_c
from looped.machines.tape.c.oracle import gcc_available, run_gcc, run_tape, same
from looped.machines.tape.c.random_programs import random_program

pytestmark = pytest.mark.skipif(not gcc_available(), reason="gcc is the oracle")


def mismatches(seeds):
    bad = []
    for seed in seeds:
        source = random_program(seed)
        if not same(run_tape(compile_c(source, f"fuzz_{seed}.c"), max_steps=3_000_000), run_gcc(source)):
            bad.append(seed)
    return bad


def test_random_programs_are_deterministic_and_varied():
    assert random_program(7) == random_program(7)
    assert random_program(7) != random_program(8)


def test_a_few_random_programs_match_gcc():
    assert mismatches(range(5000, 5006)) == []


@pytest.mark.slow
def test_a_thousand_random_programs_match_gcc():
    assert mismatches(range(0, 1000)) == []
