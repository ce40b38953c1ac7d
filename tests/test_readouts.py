"""The kernels' scratch read-out against the layer formula, with random weights and states.

A head whose only queries are the scratch tokens (`queries="scratch"`, the reads of the fetch and
operand layers) is evaluated by kernels/fast.py (SparseHead.attend_scratch, tokens innermost) and
kernels/batched.py (BatchHead.scratch_readout, batch innermost) without forming the n x n scores. With
random weights and a soft λ every key matters: the softmax over every token, scratch tokens
included, must come out as the dense formula's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernels import batched, fast
from kernels.common import take_rows
from kernels.plan import HeadPlan
from looped.layers import Head


def random_head(rng, d, k, queries="scratch"):
    wq, wk, wv = np.zeros((d, k)), np.zeros((d, k)), np.zeros((d, d))
    wq[0:4], wk[2:7] = rng.normal(size=(4, k)), rng.normal(size=(5, k))  # overlapping rows
    wv[5:9, 9:12] = rng.normal(size=(4, 3))
    return Head(wq, wk, wv, queries=queries, keys="all")


def formula(X, head, lam, queries):
    """softmax(lam (X wq)(X wk)^T) (X wv) for the query tokens `queries` of one card X [n, d]."""
    scores = lam * (X[queries] @ head.wq) @ (X @ head.wk).T
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ (X @ head.wv)


def soft_lam(X, head, s):
    """An inverse temperature that keeps every score within ±1: every key, the scratch tokens'
    own included, then weighs at least e^-2 / n, so a term left out of the softmax shows."""
    raw = (X[..., :s, :] @ head.wq) @ np.swapaxes(X @ head.wk, -1, -2)
    return 1.0 / np.abs(raw).max()


def float_dtype():
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


@pytest.mark.parametrize("s", [1, 2])
def test_fast_scratch_readout_is_the_softmax_over_every_key(s):
    rng = np.random.default_rng(10 + s)
    n, d = 11, 13
    head = random_head(rng, d, 3)
    X = rng.normal(size=(n, d))
    lam = soft_lam(X, head, s)
    sparse = fast.SparseHead.build(HeadPlan.of(head), float_dtype())
    tokens = fast.Tokens(np.array([], int), np.arange(d))  # every feature a read-only block
    readout = jax.jit(lambda S, R, lam: sparse.attend_scratch(S, tokens.open(R), lam))  # one compilation
    got = np.asarray(readout(jnp.asarray(X[:s], float_dtype()), jnp.asarray(X[s:], float_dtype()), lam))
    expected = formula(X, head, lam, np.arange(s))[:, sparse.plan.v_cols]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("s", [1, 2])
def test_batched_scratch_readout_is_the_softmax_over_every_key(s):
    rng = np.random.default_rng(20 + s)
    n, d, B = 11, 13, 3
    head = random_head(rng, d, 3)
    X = rng.normal(size=(B, n, d))
    lam = soft_lam(X, head, s)
    built = batched.BatchHead.build(HeadPlan.of(head), float_dtype())
    S = jnp.asarray(np.transpose(X[:, :s], (2, 1, 0)), float_dtype())  # [d, s, B]
    R = jnp.asarray(np.transpose(X[:, s:], (2, 1, 0)), float_dtype())  # [d, t, B]
    readout = jax.jit(lambda S, R, lam: built.scratch_readout(  # one compilation
        lambda f: take_rows(S, f), lambda f: [take_rows(R, f)], lam, batched.materializer(jnp.bool_(True))))
    got = np.asarray(readout(S, R, lam))  # [c, s, B]
    for b in range(B):
        expected = formula(X[b], head, lam, np.arange(s))[:, built.plan.v_cols]
        np.testing.assert_allclose(got[:, :, b].T, expected, rtol=1e-4, atol=1e-5)
