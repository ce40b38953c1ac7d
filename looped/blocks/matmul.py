"""FLEQ's matrix product `matmul`: C = A B in one layer, two heads, by a softmax in its linear
regime.

Slot token j holds b = B[:, j] (its query) and every slot token k holds A[:, k] (its value). A head
at scale s gives slot token k the logit s * B[k, j] (the query's row k meets the key's slot
one-hot), the anchor token the logit ANCHOR, and every other token 0. The anchor's weight dominates
the normaliser, Z ~ exp(ANCHOR) + n - 1, so the read-out is sum_k exp(s B[k, j]) A[:, k] / Z. Two
heads at +s and -s differ by 2 sum_k sinh(s B[k, j]) A[:, k] / Z; scaled by Z / (2s):

    C[:, j] = sum_k A[:, k] B[k, j] (1 + (s B[k, j])^2 / 6 + ...)

with s = MATMUL_SCALE = 1e-5: relative error per term below 2e-7 for |B[k, j]| <= 100 ((s B)^2 / 6).
The kernels subtract the largest logit, the anchor's 25, before the exponential, which rounds each
slot's logit s B[k, j] to ulp(25) / 2 = 1.8e-15: B is read in fixed point, to about 1.8e-10, and
with the read-outs' cancelling difference each term carries an absolute error of up to
3e-10 |A[i, k]| whatever B[k, j] is (so a tiny B entry beside a large A entry is far off
relatively). The normaliser, taken at B = 0, moves with sum_k B[k, j]: an error of
sum_k |A[i, k]| sum_k |B[k, j]| / e^25. looped/blocks/bounds.py states the whole bound.
A's columns past its width are zero cells, so they add nothing.
"""

from __future__ import annotations

import math

from looped.blocks.arith import result_gates
from looped.blocks.gates import gated_linear
from looped.blocks.heads import head
from looped.layers import MLP, Head, Units
from looped.layout import Layout, Rows

MATMUL_SCALE = 1.0e-5
ANCHOR = 25.0  # exp(25) ~ 7e10 against the n - 1 tokens of logit ~0


def shared_index(layout: Layout, a: Rows) -> int:
    """K: the summed index runs over slot tokens k < min(H, W)."""
    return min(a.size, layout["slot"].size)


def heads(layout: Layout, lam: float, a: Rows, b: Rows, buf: Rows) -> list[Head]:
    """Heads at +s and -s; head t writes its read-out of A into buf rows [t*H, (t+1)*H)."""
    H, K = a.size, shared_index(layout, a)
    slot, ind, anc = layout["slot"], layout["ind"].start, layout["anc"].start
    out = []
    for t, sign in enumerate((1.0, -1.0)):
        dims = [({b.start + k: sign * MATMUL_SCALE}, {slot.start + k: 1.0}) for k in range(K)]
        dims.append(({ind: ANCHOR}, {anc: 1.0}))
        values = [(a.start + i, buf.start + t * H + i, 1.0) for i in range(H)]
        out.append(head(layout.d, lam, dims, values, name=f"matmul {'+-'[t]}"))
    return out


def normaliser(n: int) -> float:
    """Z0: the heads' softmax normaliser with every logit at its base value (anchor ANCHOR, the
    other n - 1 tokens 0)."""
    return math.exp(ANCHOR) + (n - 1)


def mlp(layout: Layout, buf: Rows, out: Rows, select: int) -> MLP:
    H = out.size
    scale = normaliser(layout.n) / (2 * MATMUL_SCALE)
    units = Units(layout.d, "matmul", "scratch")
    for i in range(H):
        terms = {buf.start + i: scale, buf.start + H + i: -scale}
        gated_linear(units, terms, result_gates(layout, select, i), {out.start + i: 1.0})
    return units.mlp()
