"""Every program in programs/ runs on the oracle with the documented results (no JAX).

For the programs written without macros (only `subleq` and `halt`) the step counts are exact
numbers derived by hand from the code (see the comment at the top of each program).
"""

import random
from pathlib import Path

import pytest

from looped.machines.subleq import oracle
from looped.assembler import assemble_file
from looped.layout import wrap

PROGRAMS = Path(__file__).resolve().parents[3] / "programs"
ALL = sorted(p.name for p in PROGRAMS.glob("*.asm"))
RAW = ["giannou_factorial.asm", "giannou_linear_search.asm", "giannou_reverse_list.asm",
       "max_raw.asm", "multiply_raw.asm", "sum_raw.asm"]

_cache = {}


def load(name):
    if name not in _cache:
        _cache[name] = assemble_file(PROGRAMS / name)
    return _cache[name]


def run(name, **settings):
    program = load(name)
    if settings:
        program = program.with_settings(settings)
    state = oracle.run(program, max_steps=200_000)
    assert state.status == "halted", name
    return program.outputs(state.memory), state.steps


def check(name, settings, expected, steps=None):
    out, n = run(name, **settings)
    assert {k: out[k] for k in expected} == expected, (name, settings)
    if steps is not None:
        assert n == steps, (name, settings)
    return out, n


# -- the library as a whole ---------------------------------------------------------------------

def test_library_size():
    assert len(ALL) >= 18


@pytest.mark.parametrize("name", ALL)
def test_program_header_and_budget(name):
    text = (PROGRAMS / name).read_text()
    first = text.splitlines()[0]
    assert first.startswith(f"; {name}:"), first
    assert "inputs:" in text and "outputs:" in text
    _, steps = run(name)
    assert steps < 3000


@pytest.mark.parametrize("name", RAW)
def test_raw_programs_use_no_macros(name):
    program = load(name)
    for inst in program.code:
        assert inst.source.split()[0].lower() in ("subleq", "halt"), inst.source
    assert not [c for c in program.cells.values() if c.kind == "scratch"]


def test_readme_lists_every_program():
    readme = (PROGRAMS / "README.md").read_text()
    for name in ALL:
        assert f"`{name}`" in readme, name


# -- programs with macros -----------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [(12, 34), (-7, 6), (5, -3), (0, 100), (9, 0), (-4, -5), (300, 300)])
def test_multiply(a, b):
    check("multiply.asm", {"a": a, "b": b}, {"product": wrap(a * b, 16)})


@pytest.mark.parametrize("n, d", [(100, 7), (7, 7), (0, 5), (6, 7), (32767, 1000), (13, 1)])
def test_divmod(n, d):
    check("divmod.asm", {"n": n, "d": d},
          {"quotient": n // d, "remainder": n % d, "div_by_zero": 0})


def test_divmod_by_zero():
    check("divmod.asm", {"n": 5, "d": 0}, {"quotient": 0, "remainder": 0, "div_by_zero": 1})


@pytest.mark.parametrize("base, exponent", [(3, 9), (2, 10), (5, 0), (0, 0), (0, 3), (7, 1), (2, 15)])
def test_power(base, exponent):
    check("power.asm", {"base": base, "exponent": exponent}, {"result": wrap(base ** exponent, 16)})


@pytest.mark.parametrize("a, b, g", [(1071, 462, 21), (48, 18, 6), (17, 5, 1), (0, 9, 9), (9, 0, 9),
                                     (12, 12, 12), (1, 1000, 1)])
def test_gcd(a, b, g):
    check("gcd.asm", {"a": a, "b": b}, {"g": g})


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 8])
def test_factorial(n):
    import math

    out, _ = check("factorial.asm", {"n": n}, {"fact": wrap(math.factorial(n), 16)})
    if n == 7:
        assert out["fact"] == 5040
    if n == 8:
        assert out["fact"] == -25216  # 40320 wraps modulo 2^16


def _fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


@pytest.mark.parametrize("n", [0, 1, 2, 10, 20, 23, 24])
def test_fibonacci(n):
    check("fibonacci.asm", {"n": n}, {"fib": wrap(_fib(n), 16), "next": wrap(_fib(n + 1), 16)})


@pytest.mark.parametrize("x, y", [(-42, 17), (5, 5), (0, -3), (-16383, 16383), (16383, -16383),
                                  (1, 0), (-1, -2)])
def test_signed(x, y):
    sign = (x > 0) - (x < 0)
    check("signed.asm", {"x": x, "y": y},
          {"abs_x": abs(x), "sign_x": sign, "max_xy": max(x, y), "min_xy": min(x, y)})


def test_wrap8_defaults_show_overflow():
    check("wrap8.asm", {}, {"sum": -56, "big_plus_1": -128, "small_minus_1": 127,
                            "neg_small": -128, "times16": 64},
          steps=4 + 3 + 4 + 1 + 4 + 1 + 1 + 1 + 4 + 4 * 3)


@pytest.mark.parametrize("a, b, big, small", [(-128, -1, 0, 0), (60, 70, -1, 1), (1, 2, 3, 4)])
def test_wrap8(a, b, big, small):
    check("wrap8.asm", {"a": a, "b": b, "big": big, "small": small},
          {"sum": wrap(a + b, 8), "big_plus_1": wrap(big + 1, 8),
           "small_minus_1": wrap(small - 1, 8), "neg_small": wrap(-small, 8),
           "times16": wrap(16 * a, 8)})


def _collatz(n):
    steps, peak = 0, n
    while n > 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        peak = max(peak, n)
        steps += 1
    return steps, peak


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7, 12])
def test_collatz(n):
    steps, peak = _collatz(n)
    check("collatz.asm", {"n": n}, {"steps": steps, "peak": peak})


def _smallest_divisor(n):
    return next((d for d in range(2, n) if d * d <= n and n % d == 0), 0)


@pytest.mark.parametrize("n", list(range(0, 40)) + [91, 97, 121, 1009, 1024])
def test_primality(n):
    divisor = _smallest_divisor(n)
    prime = int(n >= 2 and divisor == 0)
    check("primality.asm", {"n": n}, {"prime": prime, "divisor": divisor})


@pytest.mark.parametrize("target, found, index", [(15, 1, 2), (4, 1, 0), (0, 1, 7), (42, 1, 5),
                                                  (99, 0, -1), (-5, 0, -1)])
def test_linear_search(target, found, index):
    check("linear_search.asm", {"target": target}, {"found": found, "index": index})


def test_reverse():
    check("reverse.asm", {}, {"list": [8, 7, 6, 5, 4, 3, 2, 1]}, steps=48)
    values = [3, -1, 4, -1, 5, -9, 2, 6]
    check("reverse.asm", {"list": values}, {"list": values[::-1]}, steps=48)


def test_bubble_sort_defaults():
    check("bubble_sort.asm", {}, {"arr": [-7, -3, 0, 2, 5, 9]})


def test_bubble_sort_random():
    rng = random.Random(7)
    cases = [[6, 5, 4, 3, 2, 1], [1, 2, 3, 4, 5, 6], [0] * 6, [-16383, 16383, 0, 1, -1, 0]]
    cases += [[rng.randint(-1000, 1000) for _ in range(6)] for _ in range(20)]
    for values in cases:
        check("bubble_sort.asm", {"arr": values}, {"arr": sorted(values)})
    # already sorted: 15 comparisons of 4 + 1 + 1 steps, no swaps
    check("bubble_sort.asm", {"arr": [1, 2, 3, 4, 5, 6]}, {}, steps=15 * 6)


def test_to_upper():
    check("to_upper.asm", {}, {"text": [ord(c) for c in "HI, YOU!"]})
    text = "az`{AZ@["
    check("to_upper.asm", {"text": [ord(c) for c in text]},
          {"text": [ord(c) for c in "AZ`{AZ@["]})


# -- programs without macros: exact step counts -------------------------------------------------

def _giannou_factorial_steps(n):
    return 2 + sum(3 * k + 1 for k in range(2, n)) + 1


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_giannou_factorial(n):
    import math

    steps = _giannou_factorial_steps(n)
    check("giannou_factorial.asm", {"n": n, "neg_n": -n},
          {"n": math.factorial(n), "neg_n": -math.factorial(n), "counter": 0, "temp": 0},
          steps=steps)


def test_giannou_factorial_defaults_match_the_paper():
    out, steps = check("giannou_factorial.asm", {}, {"n": 5040}, steps=68)
    memory = [out[k] for k in ("eof_minus_one", "eof_zero", "n", "neg_n", "counter", "temp",
                               "minus_two", "minus_one", "zero", "one")]
    assert memory == [-1, 0, 5040, -5040, 0, 0, -2, -1, 0, 1]


def test_giannou_reverse_list():
    check("giannou_reverse_list.asm", {}, {"list": [1, 2, 3, -4, -5, -6, -7], "temp_1": 0,
                                           "temp_2": 0}, steps=24)
    values = [10, 20, 30, 40, 50, 60, 70]
    check("giannou_reverse_list.asm", {"list": values}, {"list": values[::-1]}, steps=24)


def _giannou_search(values, target):
    steps = 0
    for i, v in enumerate(values):
        if v == target:
            return 0, i, steps + 6
        steps += 8 if v <= target else 6
    return 1, len(values), steps


@pytest.mark.parametrize("target", [1, -7, -4, 3, 2, 5, -100, 100])
def test_giannou_linear_search(target):
    values = [-7, -6, -5, -4, 3, 2, 1]
    flag, index, steps = _giannou_search(values, target)
    check("giannou_linear_search.asm", {"target": target}, {"flag": flag, "index": index},
          steps=steps)


def test_giannou_linear_search_defaults_match_the_paper():
    check("giannou_linear_search.asm", {}, {"flag": 0, "index": 6, "temp_1": 0, "temp_2": 0},
          steps=50)


@pytest.mark.parametrize("n", [0, -3, 1, 2, 10, 100])
def test_sum_raw(n):
    steps = 5 * n if n >= 1 else 1
    check("sum_raw.asm", {"n": n}, {"sum": max(n, 0) * (max(n, 0) + 1) // 2}, steps=steps)


@pytest.mark.parametrize("a, b", [(6, 7), (-3, 5), (100, 1), (5, 0), (2, -4)])
def test_multiply_raw(a, b):
    steps = 3 * b + 1 if b >= 1 else 1
    check("multiply_raw.asm", {"a": a, "b": b}, {"product": a * max(b, 0)}, steps=steps)


@pytest.mark.parametrize("x, y", [(-5, 12), (3, -4), (7, 7), (0, 0), (-16383, 16383), (16383, -16383)])
def test_max_raw(x, y):
    check("max_raw.asm", {"x": x, "y": y}, {"m": max(x, y)}, steps=5)
