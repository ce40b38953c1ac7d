"""The faithful reference: the layer formula as written, every token a query.

    A  = X + sum_h softmax(lam * (X @ wq) @ (X @ wk).T, axis=-1) @ (X @ wv)
    X' = A + relu(A @ w1 + b1) @ w2 + b2

Cost per layer: O(n^2 (k + d)) for attention plus O(n d h) for the MLP.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from kernels.common import Step, as_array, lattice_distance, matmul


def layer_params(layer, dtype) -> dict:
    return {
        "heads": [
            (as_array(h.wq, dtype), as_array(h.wk, dtype), as_array(h.wv, dtype)) for h in layer.heads
        ],
        "w1": as_array(layer.mlp.w1, dtype),
        "b1": as_array(layer.mlp.b1, dtype),
        "w2": as_array(layer.mlp.w2, dtype),
        "b2": as_array(layer.mlp.b2, dtype),
    }


def attention(heads, X, lam):
    A = X
    for wq, wk, wv in heads:
        scores = lam * matmul(matmul(X, wq), matmul(X, wk).T)
        A = A + matmul(jax.nn.softmax(scores, axis=-1), matmul(X, wv))
    return A


def mlp(p, A):
    return A + matmul(jax.nn.relu(matmul(A, p["w1"]) + p["b1"]), p["w2"]) + p["b2"]


def apply_layer(p, X, lam):
    return mlp(p, attention(p["heads"], X, lam))


def make_step(stack, lam: float, dtype):
    params = [layer_params(lay, dtype) for lay in stack.layers]
    rows = np.asarray(stack.corrected_rows)  # numpy: valid whether or not x64 is enabled later
    check = stack.health_layer
    lam = jnp.asarray(lam, dtype)

    def advance(X):
        health = jnp.zeros((), dtype)
        for i, p in enumerate(params):
            if i == check:
                health = lattice_distance(X[:, rows])
            X = apply_layer(p, X, lam)
        return X, health

    return Step(advance, scratch_tokens=stack.scratch_tokens, per_card=stack.per_card)
