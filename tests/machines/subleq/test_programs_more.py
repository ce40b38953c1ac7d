"""The second program library: every program below runs through the transformer, on its default
data and on non-default inputs, and is matched with its oracle and with the mathematics it
computes (Python integers for SUBLEQ, NumPy for FLEQ).

One batch per instruction set (and word size): every SUBLEQ instance, defaults and variants, is
one `engine.run` call, and so is every FLEQ instance (one machine, sized by the largest
program). Each new machine shape costs seconds of compilation, so the file builds two.
"""

import math
import pathlib

import numpy as np
import pytest

from looped import engine
from looped.machines.fleq import oracle as fleq_oracle
from looped.machines.subleq import oracle
from looped.assembler import assemble_file

PROGRAMS = pathlib.Path(__file__).resolve().parents[3] / "programs"


def codes(text: str, width: int) -> list[int]:
    return [ord(c) for c in text] + [0] * (width - len(text))


# name -> non-default settings (each runs besides the defaults)
SUBLEQ = {
    "strlen.asm": [{"text": codes("abc", 16)}, {"text": codes("", 16)},
                   {"text": [ord("x")] * 16}],
    "array_stats.asm": [{"list": [5, 5, 5, 5, 5, 5, 5, 5]},
                        {"list": [-4095, 4095, 0, 17, -4095, 4095, 3, -1]},
                        {"list": [8, 7, 6, 5, 4, 3, 2, 1]}],
    "palindrome.asm": [{"text": codes("looped", 9)}, {"text": codes("abba", 9)},
                       {"text": codes("abcdba", 9)}, {"text": codes("", 9)}],
    "bignum_add.asm": [{"a": [9999, 9999, 9999, 9999], "b": [0, 0, 0, 1]},
                       {"a": [0, 0, 0, 0], "b": [0, 0, 0, 0]},
                       {"a": [1, 2345, 6789, 5000], "b": [8765, 4321, 3211, 5000]}],
    "isqrt.asm": [{"n": 0}, {"n": 99}, {"n": 4097}],
    "binary.asm": [{"n": -1}, {"n": -32768}, {"n": 0}, {"n": 12345}],
    "itoa.asm": [{"n": 0}, {"n": 32767}, {"n": -32767}, {"n": 7}],
    "max_subarray.asm": [{"list": [-5, -2, -8, -1, -9, -3, -7, -4]},
                         {"list": [1, 2, 3, 4, 5, 6, 7, 8]},
                         {"list": [2047, -2047, 2047, -1, 0, -2047, 1000, 1000]}],
}

FLEQ = {
    "horner.asm": [{"c": [[0.5, -1, 0, 2.5, -3, 7]], "x": [-3, 0.1, 1.7]},
                   {"c": [[0, 0, 1, 0, 0, 0]], "x": [1e-3, -4, 10]}],
    "exp.asm": [{"x": [-8, 8, 0]}, {"x": [1, -0.001, 5.5]}],
    "cube_root.asm": [{"a": [1e-3, 1e3, 1]}, {"a": [0.05, 8, 500]}],
    "jacobi.asm": [{"A": [[5, 1, -2], [1, -6, 2], [0.5, 1, 4]], "b": [1, -2, 3]},
                   {"A": [[100, 20, -30], [1, 4, 0.5], [0, 0.001, 1e-2]], "b": [10, 1, 0.02], "n": 25}],
    "logistic_regression.asm": [{"y": [0.9, 0.2, 0.3], "lr": 2, "n": 15},
                                {"X": [[1, 0.3], [1, -0.4], [1, 1.2]], "y": [1, 0, 1], "n": 10}],
    "heat_diffusion.asm": [{"u": [10, -10, 50], "left": 0, "right": 0, "alpha": 0.5, "n": 7},
                           {"u": [1, 2, 3], "left": -20, "right": 35, "alpha": 0.1, "n": 30}],
    "matrix_power.asm": [{"n": 0}, {"n": 5},
                         {"A": [[0.5, -0.25, 0.1], [0.2, 0.3, -0.4], [0.0, 0.6, 0.2]], "n": 127}],
}


# Machine against oracle: rtol 1e-5 / atol 1e-9, except jacobi's residual res = b - A x, a small
# difference of large terms: the machine's x (within 1e-5 of the oracle's) and the matmul's
# rounding (2e-7 per term) move it by up to 1e-6 of the terms' size, max(|A| |x|).
def tolerance(name, label, program, memory):
    if (name, label) == ("jacobi.asm", "res"):
        terms = np.abs(program.value_of(memory, "A")) @ np.abs(program.value_of(memory, "x"))
        return 0.0, 1e-6 * float(np.max(terms))
    return 1e-5, 1e-9


def instances(table: dict, subdir: str):
    """[(name, settings, program)] for the defaults and every variant."""
    out = []
    for name, variants in table.items():
        program = assemble_file(PROGRAMS / subdir / name)
        out.append((name, {}, program))
        out += [(name, s, program.with_settings(s)) for s in variants]
    return out


@pytest.fixture(scope="module")
def subleq_runs():
    runs = instances(SUBLEQ, "")
    by_bits: dict[int, list] = {}
    for run in runs:
        by_bits.setdefault(run[2].bits, []).append(run)
    out = []
    for group in by_bits.values():  # one batch per word size (all of these are 16 bits)
        results = engine.run([p for _, _, p in group], backend="fast", max_steps=20_000)
        out += [(name, settings, program, result) for (name, settings, program), result in zip(group, results)]
    return out


@pytest.fixture(scope="module")
def fleq_runs():
    runs = instances(FLEQ, "fleq")
    results = engine.run([p for _, _, p in runs], backend="fast", max_steps=20_000)
    return [(name, settings, program, result) for (name, settings, program), result in zip(runs, results)]


def test_the_library_has_its_programs():
    assert len(SUBLEQ) >= 4 and len(FLEQ) >= 4
    names = {p.name for p in PROGRAMS.glob("*.asm")} | {p.name for p in (PROGRAMS / "fleq").glob("*.asm")}
    assert set(SUBLEQ) | set(FLEQ) <= names
    readme = (PROGRAMS / "README.md").read_text()
    for name in SUBLEQ:
        assert f"`{name}`" in readme
    for name in FLEQ:
        assert f"`fleq/{name}`" in readme
    for name in FLEQ:
        text = (PROGRAMS / "fleq" / name).read_text()
        assert text.startswith(f"; {name}:")
        assert "Inputs:" in text and "Outputs:" in text and "Error:" in text and "Domain:" in text


# -- SUBLEQ -----------------------------------------------------------------------------------

def test_subleq_programs_match_the_oracle(subleq_runs):
    for name, settings, program, result in subleq_runs:
        expected = oracle.run(program, max_steps=20_000)
        assert result.status == expected.status == "halted", (name, settings)
        assert result.memory == expected.memory, (name, settings)
        assert result.steps == expected.steps, (name, settings)


def _strlen(text):
    return next((i for i, c in enumerate(text) if c <= 0), len(text))


def _max_subarray(values):
    best = max(sum(values[i : j + 1]) for i in range(len(values)) for j in range(i, len(values)))
    last = min(j for j in range(len(values)) for i in range(j + 1) if sum(values[i : j + 1]) == best)
    return best, last


def check_subleq_math(name, inputs, out):
    if name == "strlen.asm":
        assert out["len"] == _strlen(inputs["text"])
    elif name == "array_stats.asm":
        v = inputs["list"]
        assert (out["sum"], out["min"], out["max"]) == (sum(v), min(v), max(v))
        assert (out["argmin"], out["argmax"]) == (v.index(min(v)), v.index(max(v)))
    elif name == "palindrome.asm":
        n = _strlen(inputs["text"])
        word = inputs["text"][:n]
        assert out["len"] == n
        assert out["palindrome"] == int(word == word[::-1])
        bad = [i for i in range(n // 2) if word[i] != word[n - 1 - i]]
        assert out["mismatch"] == (bad[0] if bad else -1)
    elif name == "bignum_add.asm":
        value = lambda limbs: int("".join(f"{x:04d}" for x in limbs))  # noqa: E731
        total = value(inputs["a"]) + value(inputs["b"])
        assert value(out["sum"]) == total and all(0 <= x <= 9999 for x in out["sum"])
    elif name == "isqrt.asm":
        n = inputs["n"]
        assert (out["root"], out["rem"]) == (math.isqrt(n), n - math.isqrt(n) ** 2)
    elif name == "binary.asm":
        word = inputs["n"] & 0xFFFF
        bits = [int(b) for b in f"{word:016b}"]
        assert (out["bits"], out["ones"], out["parity"]) == (bits, sum(bits), sum(bits) % 2)
    elif name == "itoa.asm":
        n = inputs["n"]
        assert "".join(map(chr, out["text"])) == ("-" if n < 0 else " ") + f"{abs(n):05d}"
    elif name == "max_subarray.asm":
        v = inputs["list"]
        best, last = _max_subarray(v)
        assert (out["best"], out["last"]) == (best, last)
        assert out["first"] <= out["last"] and sum(v[out["first"] : out["last"] + 1]) == best
    else:
        raise AssertionError(f"no check for {name}")


def test_subleq_programs_compute_what_they_say(subleq_runs):
    seen = set()
    for name, settings, program, result in subleq_runs:
        check_subleq_math(name, program.outputs(program.memory), result.outputs)  # inputs as run
        seen.add(name)
    assert seen == set(SUBLEQ)


def test_subleq_defaults_as_documented(subleq_runs):
    defaults = {name: result.outputs for name, settings, _, result in subleq_runs if not settings}
    assert defaults["strlen.asm"]["len"] == 14
    assert [defaults["array_stats.asm"][k] for k in ("sum", "min", "max")] == [114, -79, 92]
    assert defaults["palindrome.asm"]["palindrome"] == 1
    assert defaults["bignum_add.asm"]["sum"] == [1, 1111, 1111, 111, 1110]
    assert (defaults["isqrt.asm"]["root"], defaults["isqrt.asm"]["rem"]) == (44, 88)
    assert defaults["binary.asm"]["ones"] == 7
    assert "".join(map(chr, defaults["itoa.asm"]["text"])) == "-01905"
    assert defaults["max_subarray.asm"]["best"] == 6


# -- FLEQ -------------------------------------------------------------------------------------

def test_fleq_programs_match_the_oracle(fleq_runs):
    for name, settings, program, result in fleq_runs:
        expected = fleq_oracle.run(program, max_steps=20_000)
        assert result.status == expected.status == "halted", (name, settings)
        assert result.steps == expected.steps, (name, settings)
        for label in program.user_values:
            got = program.value_of(result.memory, label)
            want = program.value_of(expected.memory, label)
            rtol, atol = tolerance(name, label, program, expected.memory)
            assert np.allclose(got, want, rtol=rtol, atol=atol), (name, settings, label, got, want)


def _value(program, memory, label):
    return np.asarray(program.value_of(memory, label), dtype=np.float64)


def check_fleq_math(name, program, result):
    inp = lambda label: _value(program, program.memory, label)  # noqa: E731
    out = lambda label: _value(program, result.memory, label)  # noqa: E731
    if name == "horner.asm":
        c, x = inp("c")[0], inp("x")[:, 0]
        scale = np.polyval(np.abs(c), np.abs(x))
        dscale = np.polyval(np.abs(np.polyder(c)), np.abs(x)) + scale
        assert np.all(np.abs(out("p")[:, 0] - np.polyval(c, x)) <= 1e-5 * scale + 1e-10)
        assert np.all(np.abs(out("dp")[:, 0] - np.polyval(np.polyder(c), x)) <= 1e-5 * dscale + 1e-10)
    elif name == "exp.asm":
        x = inp("x")[:, 0]
        np.testing.assert_allclose(out("e")[:, 0], np.exp(x), rtol=5e-6)
        np.testing.assert_allclose(out("th")[:, 0], np.tanh(x), rtol=0, atol=4e-15)
    elif name == "cube_root.asm":
        np.testing.assert_allclose(out("y")[:, 0], np.cbrt(inp("a")[:, 0]), rtol=3e-6)
    elif name == "jacobi.asm":
        A, b, n = inp("A"), inp("b")[:, 0], int(inp("n")[0, 0])
        exact = np.linalg.solve(A, b)
        D = np.abs(np.diag(A))
        rho = np.max((np.abs(A).sum(axis=1) - D) / D)
        bound = (rho ** n + 1e-5) * np.max(np.abs(exact))
        assert np.max(np.abs(out("x")[:, 0] - exact)) <= bound
    elif name == "logistic_regression.asm":
        X, y = inp("X"), inp("y")[:, 0]
        lr, n = float(inp("lr")[0, 0]), int(inp("n")[0, 0])
        w = np.zeros(2)
        for _ in range(n):
            g = X.T @ (1 / (1 + np.exp(-X @ w)) - y) / 3
            w = w - lr * g
        np.testing.assert_allclose(out("w")[:, 0], w, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(out("g")[:, 0], g, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(out("p")[:, 0], 1 / (1 + np.exp(-X @ w)), rtol=1e-5)
    elif name == "heat_diffusion.asm":
        u, left, right = inp("u")[:, 0], float(inp("left")[0, 0]), float(inp("right")[0, 0])
        alpha, n = float(inp("alpha")[0, 0]), int(inp("n")[0, 0])
        scale = max(np.max(np.abs(u)), abs(left), abs(right))
        for _ in range(n):
            padded = np.concatenate([[left], u, [right]])
            u = u + alpha * (padded[:-2] - 2 * u + padded[2:])
        assert np.max(np.abs(out("u")[:, 0] - u)) <= 1e-5 * scale
    elif name == "matrix_power.asm":
        A, n = inp("A"), int(inp("n")[0, 0])
        exact = np.linalg.matrix_power(A, n)
        assert np.max(np.abs(out("P") - exact)) <= 1e-5
        assert np.max(np.abs(out("pi")[0] - exact[0])) <= 1e-5
    else:
        raise AssertionError(f"no check for {name}")


def test_fleq_programs_compute_what_they_say(fleq_runs):
    seen = set()
    for name, settings, program, result in fleq_runs:
        check_fleq_math(name, program, result)
        seen.add(name)
    assert seen == set(FLEQ)


def test_fleq_defaults_as_documented(fleq_runs):
    defaults = {name: result.outputs for name, settings, _, result in fleq_runs if not settings}
    np.testing.assert_allclose(defaults["horner.asm"]["p"], [-1.46875, -0.34375, 11], rtol=1e-6)
    np.testing.assert_allclose(defaults["horner.asm"]["dp"], [7.0625, 0.0625, 46], rtol=1e-6)
    np.testing.assert_allclose(defaults["exp.asm"]["e"], np.exp([-2, 0.5, 3]), rtol=5e-6)
    np.testing.assert_allclose(defaults["jacobi.asm"]["x"], [1.0432692, 2.2692308, -1.0817308], rtol=1e-6)
    np.testing.assert_allclose(defaults["logistic_regression.asm"]["w"], [-0.505233, 1.479416], atol=1e-6)
    np.testing.assert_allclose(defaults["cube_root.asm"]["y"], [0.125992105, 1.25992105, 9], rtol=1e-6)
    np.testing.assert_allclose(defaults["matrix_power.asm"]["pi"][0], [3 / 7, 17 / 56, 15 / 56], atol=1e-6)
    np.testing.assert_allclose(defaults["heat_diffusion.asm"]["u"], [79.909, 59.871, 39.909], atol=1e-3)


def test_more_inputs_on_the_oracle_alone():
    """Edge cases that would lengthen the batch (the longest instance sets its length): on the
    interpreter only, which the tests above tie to the transformer step for step."""
    cases = {"isqrt.asm": [{"n": n} for n in (32767, 32761, 16384, 1, 2, 3, 4)],
             "itoa.asm": [{"n": n} for n in (-29999, 29999, -1, 10000, 9999)],
             "binary.asm": [{"n": n} for n in (1, 2, -2, 0x5555, -0x5556)]}
    for name, variants in cases.items():
        program = assemble_file(PROGRAMS / name)
        for settings in variants:
            run = program.with_settings(settings)
            state = oracle.run(run, max_steps=20_000)
            assert state.status == "halted" and state.steps < 3000, (name, settings)
            check_subleq_math(name, run.outputs(run.memory), program.outputs(state.memory))
