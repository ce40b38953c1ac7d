"""Every C program of tests/c/ against gcc: byte-identical output and main's value, on the tape
oracle (fast). The same through the transformer: test_c_cli.py (a few) and
benchmarks/c_programs.py (all, with steps and seconds)."""

import os

import pytest

from looped.machines.tape.c.compiler import compile_c
from looped.machines.tape.c.oracle import gcc_available, run_gcc, run_tape, same

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
PROGRAMS = os.path.join(ROOT, "tests", "c")
NAMES = sorted(f[:-2] for f in os.listdir(PROGRAMS) if f.endswith(".c"))

pytestmark = pytest.mark.skipif(not gcc_available(), reason="gcc is the oracle")


def program(name):
    path = os.path.join(PROGRAMS, name + ".c")
    with open(path) as f:
        source = f.read()
    data = b""
    if os.path.exists(os.path.join(PROGRAMS, name + ".input")):
        with open(os.path.join(PROGRAMS, name + ".input"), "rb") as f:
            data = f.read()
    return path, source, data


def test_at_least_25_programs_with_the_classic_demos():
    assert len(NAMES) >= 25
    for demo in ("fib", "gcd", "primes", "bubble_sort", "collatz", "nested_if", "while_sum", "array_sum",
                 "fib_rec", "pointers", "strings", "echo_upper", "printf_all"):
        assert demo in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_program_matches_gcc(name):
    path, source, data = program(name)
    compiled = compile_c(source, path)
    tape = run_tape(compiled, data)
    gcc = run_gcc(source, data)
    assert tape.status == "halted", tape
    assert tape.output == gcc.output
    assert tape.exit_code % 256 == gcc.exit_code
    assert same(tape, gcc)
