"""In-context learning as FLEQ programs (programs/fleq/), against NumPy: linear regression by SGD
and a two-layer sigmoid network trained by backpropagation."""

import numpy as np
import pytest

from looped import engine
from looped.assembler import assemble_file


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_backprop(X, y, W1, b1, W2, b2, eta=0.3, epochs=20):
    """The same algorithm as programs/fleq/mlp_backprop.asm, in float64 NumPy."""
    W1, b1, W2, b2 = (np.array(a, float) for a in (W1, b1, W2, b2))
    b1, y = b1.reshape(3, 1), np.asarray(y, float).reshape(-1)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for i in range(X.shape[1]):
            x = X[:, i : i + 1]
            a = sigmoid(W1 @ x + b1)
            o = W2 @ a + b2
            d2 = o - y[i]
            total += float(d2[0, 0] ** 2)
            d2 = eta * d2
            d1 = (W2.T * d2) * a * (1 - a)
            W1, b1, W2, b2 = W1 - d1 @ x.T, b1 - d1, W2 - a.T * d2, b2 - d2
        losses.append(total / X.shape[1])
    return np.array(losses)


def test_mlp_backprop_losses_match_numpy():
    program = assemble_file("programs/fleq/mlp_backprop.asm")
    default = program.memory
    W1, b1 = program.value_of(default, "W1"), program.value_of(default, "b1")
    W2, b2 = program.value_of(default, "W2"), program.value_of(default, "b2")
    rng = np.random.default_rng(0)
    datasets = [(program.value_of(default, "X"), program.value_of(default, "y"))]
    datasets += [(rng.uniform(-1, 1, (2, 8)), rng.uniform(0, 1, (1, 8)))]
    runs = [program.with_settings({"X": X.tolist(), "y": y.tolist()}) for X, y in datasets]
    for (X, y), result in zip(datasets, engine.run(runs)):
        expected = numpy_backprop(X, y, W1, b1, W2, b2)
        losses = np.array(result.outputs["losses"]).reshape(-1)
        assert result.status == "halted"
        assert np.max(np.abs(losses - expected)) <= 1e-8  # the goal is 1e-3
        assert losses[-1] < 0.25
        if X is datasets[0][0]:
            assert losses[-1] < 0.005  # the default data


@pytest.mark.slow
def test_linreg_sgd_finds_the_weights():
    program = assemble_file("programs/fleq/linreg_sgd.asm")
    rng = np.random.default_rng(1)
    problems = [(rng.uniform(-1, 1, (16, 3)), rng.uniform(-5, 5, 3)) for _ in range(4)]
    runs = [program.with_settings({"X": X.tolist(), "y": (X @ w).tolist()}) for X, w in problems]
    for (X, w), result in zip(problems, engine.run(runs)):
        assert result.status == "halted"
        assert np.max(np.abs(np.array(result.outputs["w"]) - w)) <= 1e-4  # the goal is 1e-2
