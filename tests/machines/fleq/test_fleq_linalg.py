"""Linear algebra as FLEQ programs (programs/fleq/), against NumPy on random matrices: the inverse
by Newton-Schulz and power iteration, at 4x4 (the fixed interfaces of fleq.md) and at every size
from 2x2 to 8x8 (programs/fleq/linalg/, slow); a batch of different matrices gives what each gives
alone."""

import numpy as np
import pytest

from looped import engine
from looped.assembler import assemble_file


def random_spd(rng, n):
    """Symmetric positive definite, eigenvalues in [0.5, 5] (both ends included)."""
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    eigenvalues = rng.uniform(0.5, 5, n)
    eigenvalues[:2] = 0.5, 5.0
    return q @ np.diag(eigenvalues) @ q.T


def random_dominant(rng, n):
    """Symmetric, the dominant eigenvalue 1.5x to 3x the next in magnitude, either sign."""
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    scale = rng.uniform(0.3, 4)
    others = rng.uniform(-1, 1, n - 1) * scale
    top = rng.uniform(1.5, 3) * np.max(np.abs(others)) * rng.choice([-1, 1])
    return q @ np.diag(np.concatenate([[top], others])) @ q.T


def check_inverse(result, A, bound=1e-6):
    exact = np.linalg.inv(A)
    got = np.array(result.outputs["Ainv"])
    assert result.status == "halted"
    assert np.abs(got - exact).max() <= bound * np.abs(exact).max()


def check_power(result, A, bound=1e-6):
    w, V = np.linalg.eigh(A)
    i = np.argmax(np.abs(w))
    v = np.array(result.outputs["v"])
    assert result.status == "halted"
    assert abs(result.outputs["eig"] - w[i]) <= bound * abs(w[i])
    assert min(np.abs(v - V[:, i]).max(), np.abs(v + V[:, i]).max()) <= 1e-4


def test_inverse_4x4_on_random_spd_matrices():
    rng = np.random.default_rng(0)
    program = assemble_file("programs/fleq/inverse.asm")
    matrices = [random_spd(rng, 4) for _ in range(16)]  # the batch size of the next test: one compilation
    for A, result in zip(matrices, engine.run([program.with_settings({"A": A.tolist()}) for A in matrices])):
        check_inverse(result, A)


def test_power_iteration_4x4_on_random_symmetric_matrices():
    rng = np.random.default_rng(1)
    program = assemble_file("programs/fleq/power_iteration.asm")
    matrices = [random_dominant(rng, 4) for _ in range(6)]
    for A, result in zip(matrices, engine.run([program.with_settings({"A": A.tolist()}) for A in matrices])):
        check_power(result, A)


@pytest.mark.parametrize("count", [pytest.param(64, marks=pytest.mark.slow), 16])
def test_a_batch_of_matrices_gives_what_each_gives_alone(count):
    """Bit for bit: FLEQ batches (Stack.per_card) run in one batch-invariant pass (kernels/invariant.py)."""
    rng = np.random.default_rng(2)
    program = assemble_file("programs/fleq/inverse.asm")
    runs = [program.with_settings({"A": random_spd(rng, 4).tolist()}) for _ in range(count)]
    batch = engine.run(runs)
    for i in (0, count // 2, count - 1):
        (alone,) = engine.run([runs[i]])
        assert alone.steps == batch[i].steps and alone.outputs == batch[i].outputs


@pytest.mark.slow
@pytest.mark.parametrize("name, make, check", [("inverse", random_spd, check_inverse),
                                               ("power_iteration", random_dominant, check_power)])
def test_every_size_from_2x2_to_8x8(name, make, check):
    rng = np.random.default_rng(3)
    runs, matrices = [], []
    for n in range(2, 9):
        program = assemble_file(f"programs/fleq/linalg/{name}_{n}x{n}.asm")
        for _ in range(3):
            matrices.append(make(rng, n))
            runs.append(program.with_settings({"A": matrices[-1].tolist()}))
    for A, result in zip(matrices, engine.run(runs)):  # one batch: the 8x8 machine runs them all
        check(result, A)
