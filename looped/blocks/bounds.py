"""The stated error of each FLEQ function block for one instruction: the bound docs/fleq.md
states, and the one that tests and benchmarks/fleq_faults.py judge the transformer's results by
(one source, so no criterion is looser than the docs). A result outside its bound that is not a
fault is a defect.

Each bound is an elementwise |got - exact| <= allowed(...) for a result inside the block's
domain (looped/machines/fleq/faults.py names the domains; outside them the layers fault):

* add, sub, mov, transpose, exponent, scale: exact (0).
* mul: |a b| (c |a b|)^4 / 30 + MUL_FLOOR, c = PRODUCT_SCALE. The first term is Richardson's
  remainder (looped/blocks/product.py), 3.4e-6 relative at the domain's edge |a b| = 1e4 and
  negligible for |a b| <= 100; MUL_FLOOR is the softmax's rounding (a few ulps of sigma near 1/2,
  times 16 / (3c)).
* matmul: MATMUL_RELATIVE sum_k |A_ik B_kj| + sum_k |A_ik| (MATMUL_FLOOR + sum_k |B_kj| / Z0):
  per term the sinh's (s B)^2 / 6 (1.7e-7 at |B| = 100); the logits s B_kj are rounded beside the
  anchor's logit 25 (ulp(25) / 2 = 1.8e-15, i.e. B to 1.8e-10: the block reads B in fixed point)
  and the two read-outs' difference cancels, so each term carries an absolute error of up to
  MATMUL_FLOOR |A_ik| whatever B_kj is; and the normaliser, which the block takes as B = 0's,
  moves with sum_k B_kj (Z0 = e^25). Like a BLAS bound, it is small against the operands' sizes,
  not against each entry of the result: an entry that cancels, or a tiny B_kj beside a large A_ik,
  has a large relative error.
* recip, rsqrt: relative, the fitted PWLs' exact sups over the domain (looped/blocks/pwl_constants.py),
  rounded up.
* sigmoid: SIGMOID_ABSOLUTE (two ulps of values below 1).

A result whose magnitude would be below SMALLEST_NORMAL (2^-1022, float64's subnormals, which
XLA's CPU arithmetic flushes to 0) is a fault for the exact blocks that can make one (add, sub,
scale: looped/blocks/subnormals.py); the approximate blocks may hold it as 0, an error below
2.3e-308 that `allowed` includes (an input that small faults where it is read; docs/fleq.md,
"Numbers").
"""

from __future__ import annotations

import math

import numpy as np

from looped.blocks import pwl_constants
from looped.blocks.matmul import ANCHOR
from looped.blocks.product import PRODUCT_SCALE

EXACT = ("add", "sub", "mov", "transpose", "exponent", "scale")
MUL_FLOOR = 5e-10
MATMUL_RELATIVE = 2e-7
MATMUL_FLOOR = 3e-10
MATMUL_NORMALISER = math.exp(ANCHOR)
SIGMOID_ABSOLUTE = 2.3e-16
SMALLEST_NORMAL = 2.0**-1022
# The PWLs' sups (pwl_constants: 3.7489e-3, 1.4066e-3) rounded up: the margin covers the units'
# own float64 rounding (about 1e-11 absolute, pwl.py) over the whole domain.
RELATIVE = {"recip": 3.75e-3, "rsqrt": 1.41e-3}
assert pwl_constants.RECIP_MAX_REL_ERROR < RELATIVE["recip"] and pwl_constants.RSQRT_MAX_REL_ERROR < RELATIVE["rsqrt"]


def mul_allowed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    product = np.abs(np.asarray(a, float) * np.asarray(b, float))
    return product * (PRODUCT_SCALE * product) ** 4 / 30 * 1.01 + MUL_FLOOR


def matmul_allowed(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A: h x k, B: k x w (or stacks of them, [..., h, k] and [..., k, w])."""
    A, B = np.abs(np.asarray(A, float)), np.abs(np.asarray(B, float))
    rows, cols = A.sum(axis=-1)[..., :, None], B.sum(axis=-2)[..., None, :]
    return MATMUL_RELATIVE * (A @ B) + rows * (MATMUL_FLOOR + cols / MATMUL_NORMALISER)


def allowed(fn: str, a: np.ndarray, b: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """The largest |got - exact| block `fn` may return for operands a, b (already broadcast to the
    result's shape for the elementwise blocks; matmul: a is h x k, b is k x w)."""
    exact = np.asarray(exact, float)
    if fn in EXACT:  # (a result they cannot hold is a fault)
        return _allowed(fn, a, b, exact)
    return _allowed(fn, a, b, exact) + np.where(np.abs(exact) < SMALLEST_NORMAL, np.abs(exact), 0.0)


def _allowed(fn: str, a, b, exact: np.ndarray) -> np.ndarray:
    if fn in EXACT:
        return np.zeros_like(exact)
    if fn == "mul":
        return mul_allowed(a, b)
    if fn == "matmul":
        return matmul_allowed(a, b)
    if fn == "sigmoid":
        return np.full_like(exact, SIGMOID_ABSOLUTE)
    return RELATIVE[fn] * np.abs(exact)
