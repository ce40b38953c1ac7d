"""Checking the kernels' structure hints against the weights, for any stack.

The fast kernels (kernels/fast.py, kernels/batched.py) skip work that the layers' hints declare
irrelevant (looped/layers.py). A hint is a promise about the weights *on the states the machine
visits*, so it is checked here by evaluating the faithful layer formula (NumPy, float64) on such a
state and comparing what the hint drops with what it keeps:

* `Head.queries == "scratch"`: zeroing the head's output on the other tokens leaves the layer's
  output there unchanged (the rows it writes are cleared by the same layer's MLP).
* `Head.queries == "others"`: the same on the scratch tokens.
* `Head.keys == "scratch+self"`: every token that the kernels evaluate as a query puts at most
  `tol` of its weight on keys other than the scratch tokens and itself.
* `Head.keys == "scratch"`: the head's output on the scratch tokens, from a softmax over the
  scratch keys alone, leaves the layer's output unchanged.
* `MLP.tokens == "scratch"`: the part's output on the other tokens is zero (given the layer's
  attention output with the hinted heads' outputs dropped there).

`check_hints(stack, lam, X)` returns the violations as sentences (empty: every hint holds), and
`check_trace(stack, lam, X, steps)` checks every layer input of `steps` instructions from X. Tests
run it for every instruction set on real cards (tests/test_hints.py), so a new instruction set
cannot silently mislead the fast kernels.
"""

from __future__ import annotations

import numpy as np

from looped.layers import Layer, Stack


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def _mlp(X: np.ndarray, w1, b1, w2, b2) -> np.ndarray:
    return np.maximum(X @ w1 + b1, 0.0) @ w2 + b2


def _layer_output(layer: Layer, X: np.ndarray, outputs: list[np.ndarray]) -> np.ndarray:
    A = X + sum(outputs, np.zeros_like(X))
    return A + _mlp(A, layer.mlp.w1, layer.mlp.b1, layer.mlp.w2, layer.mlp.b2)


def check_layer(layer: Layer, lam: float, X: np.ndarray, scratch: int, tol: float = 1e-9) -> tuple[list[str], np.ndarray]:
    """The violated hints of one layer on the state X [n, d], and the layer's output."""
    problems = []
    n = X.shape[0]
    others = np.arange(n) >= scratch
    weights, outputs = [], []
    for head in layer.heads:
        p = _softmax(lam * (X @ head.wq) @ (X @ head.wk).T)
        weights.append(p)
        outputs.append(p @ (X @ head.wv))
    full = _layer_output(layer, X, outputs)
    scale = 1.0 + np.abs(full)
    for h, head in enumerate(layer.heads):
        label = f"layer '{layer.name}', head {h} '{head.name}'"
        if head.queries in ("scratch", "others"):
            dropped = others if head.queries == "scratch" else ~others
            trimmed = list(outputs)
            trimmed[h] = np.where(dropped[:, None], 0.0, outputs[h])
            out = _layer_output(layer, X, trimmed)
            err = np.max(np.abs(out - full)[dropped] / scale[dropped], initial=0.0)
            if err > tol:
                problems.append(f"{label}: queries='{head.queries}' but its output on the dropped tokens "
                                f"changes the layer's output there by {err:.3g}")
        if head.keys == "scratch+self":
            queries = others if head.queries == "others" else np.ones(n, bool)
            allowed = np.zeros((n, n), bool)
            allowed[:, :scratch] = True
            allowed[np.arange(n), np.arange(n)] = True
            leak = np.max(np.where(allowed, 0.0, weights[h])[queries].sum(axis=1), initial=0.0)
            if leak > tol:
                problems.append(f"{label}: keys='scratch+self' but a query puts {leak:.3g} of its weight elsewhere")
        if head.keys == "scratch":
            p = _softmax(lam * (X @ head.wq) @ (X[:scratch] @ head.wk).T)
            trimmed = list(outputs)
            trimmed[h] = np.where(others[:, None], outputs[h], p @ (X[:scratch] @ head.wv))
            out = _layer_output(layer, X, trimmed)
            err = np.max(np.abs(out - full)[~others] / scale[~others], initial=0.0)
            if err > tol:
                problems.append(f"{label}: keys='scratch' but its softmax over the other keys changes the "
                                f"layer's output on the scratch tokens by {err:.3g}")
    # MLP parts on the other tokens, given the attention output the kernels compute there.
    kept = [np.where(others[:, None], 0.0, o) if head.queries == "scratch" else o
            for head, o in zip(layer.heads, outputs)]
    A = X + sum(kept, np.zeros_like(X))
    for part in layer.parts:
        if part.tokens != "scratch" or not part.hidden:
            continue
        out = _mlp(A[others], part.w1, part.b1, part.w2, part.b2)
        err = np.max(np.abs(out), initial=0.0)
        if err > tol:
            problems.append(f"layer '{layer.name}', MLP part '{part.name}': tokens='scratch' but it changes "
                            f"other tokens by {err:.3g}")
    return problems, full


def check_hints(stack: Stack, lam: float, X: np.ndarray, tol: float = 1e-9) -> list[str]:
    """Every hint of `stack`, checked on the inputs of its layers for one instruction from X."""
    problems = []
    X = np.asarray(X, dtype=np.float64)
    for layer in stack.layers:
        found, X = check_layer(layer, lam, X, stack.scratch_tokens, tol)
        problems += found
    return problems


def check_trace(stack: Stack, lam: float, X: np.ndarray, steps: int, tol: float = 1e-9) -> list[str]:
    """check_hints on the state before each of `steps` instructions, starting from X."""
    problems = []
    X = np.asarray(X, dtype=np.float64)
    for step in range(steps):
        for layer in stack.layers:
            found, X = check_layer(layer, lam, X, stack.scratch_tokens, tol)
            problems += [f"step {step}: {p}" for p in found]
    return sorted(set(problems))
