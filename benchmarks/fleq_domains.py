"""Each program of programs/fleq: its documented domain (random inputs that respect it) and its
accuracy criterion, derived from its blocks' stated bounds (looped/blocks/bounds.py); docs/fleq.md
("Programs: domains and criteria") states the same table in words.

A criterion compares the transformer's outputs with the plain float64 interpreter's (looped/
machines/fleq/oracle.py: the same program with exact function blocks) and allows, per output entry,
|got - want| <= allowed. Counters (iteration counts) are drawn inside their documented ranges in
every run; `wild` inputs replace the real-valued inputs by entries log-uniform in magnitude from
1e-9 to 1e9 with random signs, mostly outside the domain: there the run must fault or still meet
the criterion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from looped.blocks import bounds


def _as_setting(value: np.ndarray):
    value = np.asarray(value, float)
    if value.size == 1:
        return float(value.reshape(-1)[0])
    return value.reshape(-1).tolist() if value.ndim == 1 or value.shape[1] == 1 else value.tolist()


def _signs(rng, shape):
    return rng.choice([-1.0, 1.0], shape)


def _log_uniform(rng, low, high, shape):
    return 10.0 ** rng.uniform(np.log10(low), np.log10(high), shape)


def random_spd(rng, n=4, low=0.5, high=5.0):
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q @ np.diag(rng.uniform(low, high, n)) @ q.T


def random_dominant(rng, n=4):
    """Symmetric, dominant eigenvalue 1.5 to 3 times the next in magnitude, scaled by 10^[-1, 1];
    drawn again until ||A||_F^2 is in [2^-12, 2^12] and every entry at most 10 in magnitude."""
    while True:
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        others = rng.uniform(-1, 1, n - 1)
        top = rng.uniform(1.5, 3) * np.max(np.abs(others)) * rng.choice([-1, 1])
        A = 10.0 ** rng.uniform(-1, 1) * (q @ np.diag(np.concatenate([[top], others])) @ q.T)
        if 2.0**-12 <= np.sum(A * A) <= 2.0**12 and np.max(np.abs(A)) <= 10:
            return A


def _relative(tolerance: float, *names: str):
    """Each named output within tolerance x max(1, the largest |entry| of the output)."""
    def check(inputs, want):
        return {n: tolerance * max(1.0, float(np.max(np.abs(want[n])))) + 0 * want[n] for n in names}
    return check


# ---- the programs --------------------------------------------------------------------------------


def blocks_inputs(rng):
    x = _log_uniform(rng, 2.0**-12, 2.0**12, 1)[0]  # recip's and rsqrt's domain, x > 0
    y = _signs(rng, 1)[0] * _log_uniform(rng, 1e-3, min(100.0, 1e4 / x), 1)[0]  # |x y| <= 1e4, |y| <= 100
    return {"x": x, "y": y}


def blocks_check(inputs, want):
    x, y = np.array([[inputs["x"]]]), np.array([[inputs["y"]]])
    per = {"s": "add", "d": "sub", "p": "mul", "m": "matmul", "r": "recip", "q": "rsqrt", "g": "sigmoid",
           "c": "mov", "t": "transpose"}
    return {n: bounds.allowed(fn, x, y, want[n]) for n, fn in per.items()}


def calculator_inputs(rng):
    x, y = _signs(rng, 2) * _log_uniform(rng, 1e-6, 1e6, 2)
    return {"x": x, "y": y}


def calculator_check(inputs, want):
    return {n: 1e-5 * np.abs(want[n]) for n in ("sum", "diff", "prod", "quot", "root")}


def horner_inputs(rng):
    return {"c": rng.uniform(-2, 2, (1, 6)), "x": rng.uniform(-2.5, 2.5, 3)}


def horner_check(inputs, want):
    c, x = np.abs(np.asarray(inputs["c"]).reshape(-1)), np.abs(np.asarray(inputs["x"]))
    s_p = np.polyval(c, x)
    s_dp = np.polyval(np.polyder(c), x)
    # each mul: 3.4e-6 relative at most (5 of them: 2e-5 S) and a 5e-10 floor, which the later
    # multiplications by x carry (1e-9 sum |x|^j; the derivative's j |x|^(j-1) as well)
    floor_p = 1e-9 * sum(x**j for j in range(5))
    floor_dp = floor_p + 1e-9 * sum((j + 1) * x**j for j in range(5))
    return {"p": (2e-5 * s_p + floor_p)[:, None], "dp": (2e-5 * (s_p + s_dp) + floor_dp)[:, None]}


def heat_inputs(rng):
    return {"u": rng.uniform(-100, 100, 3), "left": rng.uniform(-100, 100), "right": rng.uniform(-100, 100),
            "alpha": rng.uniform(0.01, 0.5)}


def heat_check(inputs, want):
    scale = max(np.max(np.abs(inputs["u"])), abs(inputs["left"]), abs(inputs["right"]), 1e-300)
    return {"u": 1e-5 * scale + 1e-7 + 0 * want["u"]}  # + 40 steps of the mul and matmul floors


def jacobi_inputs(rng):
    diag = _signs(rng, 3) * rng.uniform(1, 10, 3)
    off = rng.uniform(-1, 1, (3, 3))
    np.fill_diagonal(off, 0)
    off *= (rng.uniform(0.1, 0.7, 3) * np.abs(diag) / np.maximum(np.abs(off).sum(axis=1), 1e-9))[:, None]
    A = off + np.diag(diag)
    x = rng.uniform(-40, 40, 3)
    return {"A": A, "b": A @ x}


def jacobi_check(inputs, want):
    scale = max(np.max(np.abs(want["x"])), np.max(np.abs(inputs["b"])), 1.0)
    return {"x": 1e-5 * scale + 0 * want["x"], "res": 1e-5 * scale * np.max(np.abs(inputs["A"])) + 0 * want["res"]}


def logistic_inputs(rng):
    X = np.column_stack([np.ones(3), rng.uniform(-2, 2, 3)])
    return {"X": X, "y": rng.uniform(0, 1, 3), "lr": rng.uniform(0.5, 5)}


def matrix_ops_inputs(rng):
    return {"A": rng.uniform(-1, 1, (3, 3)), "B": rng.uniform(-100, 100, (3, 3)), "v": rng.uniform(-100, 100, 3),
            "c": rng.uniform(-100, 100)}


def matrix_ops_check(inputs, want):
    A, B = np.asarray(inputs["A"]), np.asarray(inputs["B"])
    v, c = np.asarray(inputs["v"]).reshape(3, 1), np.full((3, 3), inputs["c"])
    # P = A^(2^k): each squaring's error carried to first order, |P| E + E |P| + E E, plus its own.
    P, E = A.copy(), np.zeros((3, 3))
    for _ in range(int(inputs["k"])):
        E = np.abs(P) @ E + E @ np.abs(P) + E @ E + bounds.matmul_allowed(P, P)
        P = P @ P
    return {"AB": bounds.matmul_allowed(A, B), "At": 0 * A, "S": 0 * A, "cA": bounds.mul_allowed(A, c),
            "Av": bounds.matmul_allowed(A, v), "P": E * (1 + 1e-6), "G": bounds.SIGMOID_ABSOLUTE + 0 * A}


def matrix_power_inputs(rng):
    return {"A": rng.dirichlet(np.ones(3), 3)}


def mlp_inputs(rng):
    return {"X": rng.uniform(-1, 1, (2, 8)), "y": rng.uniform(0, 1, (1, 8)), "W1": rng.uniform(-1, 1, (3, 2)),
            "b1": rng.uniform(-1, 1, 3), "W2": rng.uniform(-1, 1, (1, 3)), "b2": rng.uniform(-1, 1)}


def linreg_inputs(rng):
    X = rng.uniform(-1, 1, (16, 3))
    return {"X": X, "y": X @ rng.uniform(-5, 5, 3)}


@dataclass(frozen=True)
class Domain:
    inputs: Callable  # rng -> {name: value}, inside the documented domain
    check: Callable  # (inputs, oracle outputs) -> {output: allowed |got - want|}
    counters: dict  # counter name -> (low, high), integers drawn in every run
    wild: tuple  # the real-valued inputs replaced in the out-of-domain runs
    criterion: str  # the criterion in words (docs/fleq.md)
    runs: int = 0  # fewer runs than asked for a program this slow (0: as asked)


PROGRAMS = {
    "blocks.asm": Domain(blocks_inputs, blocks_check, {}, ("x", "y"),
                         "each output within its block's stated bound (looped/blocks/bounds.py); "
                         "2^-12 <= x <= 2^12, |y| <= 100, |x y| <= 1e4"),
    "calculator.asm": Domain(calculator_inputs, calculator_check, {}, ("x", "y"),
                             "every output within 1e-5 relative; |x|, |y| in [1e-6, 1e6]"),
    "cube_root.asm": Domain(lambda rng: {"a": _log_uniform(rng, 1e-3, 1e3, 3)}, _relative(3e-6, "y"),
                            {"k": (6, 8)}, ("a",), "y within 3e-6 x max(1, max |y|); 1e-3 <= a <= 1e3"),
    "exp.asm": Domain(lambda rng: {"x": rng.uniform(-8, 8, 3)},
                      lambda i, w: {"e": 5e-6 * np.abs(w["e"]) + 1e-9, "th": 4e-15 + 0 * w["th"]}, {}, ("x",),
                      "e within 5e-6 relative + 1e-9 (mul's floor), th within 4e-15; |x| <= 8"),
    "heat_diffusion.asm": Domain(heat_inputs, heat_check, {"n": (1, 40)}, ("u", "left", "right", "alpha"),
                                 "u within 1e-5 x max(|u0|, |left|, |right|) + 1e-7; |u|, |left|, |right| <= 100, "
                                 "0 < alpha <= 0.5, n <= 40"),
    "horner.asm": Domain(horner_inputs, horner_check, {}, ("c", "x"),
                         "p within 2e-5 S(p) + 1e-9 sum_j<5 |x|^j, dp within 2e-5 (S(p) + S(p')) + the floors "
                         "(S: the sum of the terms' magnitudes); |c| <= 2, |x| <= 2.5"),
    "inverse.asm": Domain(lambda rng: {"A": random_spd(rng)}, _relative(1e-6, "Ainv"), {}, ("A",),
                          "Ainv within 1e-6 x max(1, max |Ainv|); A SPD, eigenvalues in [0.5, 5] (so entries at most 5)"),
    "jacobi.asm": Domain(jacobi_inputs, jacobi_check, {"n": (5, 30)}, ("A", "b"),
                         "x within 1e-5 s, res within 1e-5 s max |A| (s = max(1, |x|, |b|)); "
                         "A strictly diagonally dominant (row ratio <= 0.7), 1 <= |A_ii| <= 10, |A^-1 b| <= 40"),
    "linreg_sgd.asm": Domain(linreg_inputs, _relative(1e-5, "w"), {}, ("X", "y"),
                             "w within 1e-5 x max(1, max |w|); X in [-1, 1], y = X w, |w| <= 5", runs=8),
    "logistic_regression.asm": Domain(logistic_inputs, _relative(1e-5, "w", "p", "g"), {"n": (1, 20)}, ("X", "y", "lr"),
                                      "w, p, g within 1e-5 x max(1, max |output|); X = [1, x], |x| <= 2, "
                                      "y in [0, 1], 0.5 <= lr <= 5, n <= 20"),
    "matrix_ops.asm": Domain(matrix_ops_inputs, matrix_ops_check, {"k": (1, 3)}, ("A", "B", "v", "c"),
                             "each output within its blocks' bounds (P: carried through the squarings); "
                             "|A| <= 1, |B|, |v|, |c| <= 100, k <= 3"),
    "matrix_power.asm": Domain(matrix_power_inputs, _relative(1e-5, "P", "pi"),
                               {"n": (0, 127)}, ("A",), "P, pi within 1e-5 x max(1, max |P|); A stochastic, 0 <= n <= 127"),
    "mlp_backprop.asm": Domain(mlp_inputs, _relative(1e-6, "losses", "W1", "b1", "W2", "b2"), {},
                               ("X", "y", "W1", "b1", "W2", "b2"),
                               "losses and weights within 1e-6 x max(1, max |output|); X, W1, b1, W2, b2 "
                               "in [-1, 1], y in [0, 1]"),
    "power_iteration.asm": Domain(lambda rng: {"A": random_dominant(rng)},
                                  lambda i, w: {"eig": 1e-6 * np.abs(w["eig"]), "v": 1e-6 + 0 * w["v"]}, {}, ("A",),
                                  "eig within 1e-6 relative, v within 1e-6; A symmetric, dominance ratio >= 1.5, "
                                  "||A||_F^2 in [2^-12, 2^12], entries at most 10"),
}


def settings(domain: Domain, rng, in_domain: bool) -> dict:
    """One run's --set values: in-domain inputs, or (in_domain False) the wild ones."""
    values = domain.inputs(rng)
    if not in_domain:
        for name in domain.wild:
            shape = np.shape(values[name])
            values[name] = _signs(rng, shape) * 10.0 ** rng.uniform(-9, 9, shape)
    for name, (low, high) in domain.counters.items():
        values[name] = int(rng.integers(low, high + 1))
    return {name: (_as_setting(v) if not isinstance(v, int) else v) for name, v in values.items()}
