"""Attention heads written dimension by dimension: a small builder for FLEQ's function heads.

A head's score between a query token q and a key token k is lam * (x_q @ wq) . (x_k @ wk). Each
*dimension* of that product is one term `(sum_r a_r x_q[r]) * (sum_s b_s x_k[s])`; function heads
are easiest to read as a list of such terms, each with the logit it contributes, so the builder
takes logits and divides by lam itself.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from looped.layers import Head, SparseValueHead


def head(d: int, lam: float, dims: Sequence[tuple[Mapping[int, float], Mapping[int, float]]],
         values: Sequence[tuple[int, int, float]], name: str, queries: str = "scratch",
         keys: str = "all") -> Head:
    """A head whose logit is sum over `dims` of (query rows . a) * (key rows . b), and whose value
    map copies `coef * x[src]` into row `dst` for each (src, dst, coef) in `values`."""
    wq, wk = np.zeros((d, len(dims))), np.zeros((d, len(dims)))
    for t, (q_rows, k_rows) in enumerate(dims):
        for row, coef in q_rows.items():
            wq[row, t] += coef / lam
        for row, coef in k_rows.items():
            wk[row, t] += coef
    return SparseValueHead(wq, wk, queries=queries, keys=keys, name=name, d=d, values=values)
