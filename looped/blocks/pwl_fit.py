"""Piecewise-linear (PWL) functions as sums of ReLUs: the form of FLEQ's `recip` and `rsqrt` blocks.

NumPy only. A PWL g on x >= 0 is given by knots t_0 < ... < t_{K-1} (t_0 > 0) and values v_k: it
runs through (0, 0) and the points (t_k, v_k), with slope `tail_slope` after the last knot, and
is 0 for x <= 0. As one hidden layer of ReLUs (the *right* form, units active to the right of
their knot):

    g(x) = s0 * relu(x) + sum_k a_k * relu(x - t_k)

with s0 = v_0 / t_0 and a_k the change of slope at t_k (`pwl_slopes`). The odd extension (recip)
is f(x) = g(x) - g(-x): every unit appears once with input x and once with input -x.

The same function has a *left* form, units active to the left of their knot:

    g(x) = tail_slope * x + (v_{K-1} - tail_slope * t_{K-1}) + s0 * relu(-x) + sum_k a_k * relu(t_k - x)

(the same s0 and a_k; relu(z) = z + relu(-z) turns one into the other). They differ in rounding:
in the right form every unit left of x is active at x, so for a steep-then-flat g such as 1/x on
[2^-12, 2^12] terms of size s0 * x ~ 2^36 cancel down to 2^-12 (float64 loses ~30% there, float32
everything). In the left form only the units right of x are active and for a convex decreasing g
they are all >= 0: no cancellation for x >= t_0 (the rounding is a few ulps). Its cancellation is
at x <= 0, where the relu(-x) unit undoes the steep first segment (rsqrt's "0 for x <= 0"), and
its odd extension g(x) - g(-x) cancels on both sides; see benchmarks/fit_blocks.py.
"""

from __future__ import annotations

import numpy as np

FORMS = ("right", "left")
_CHUNK = 1 << 15


def pwl_slopes(knots, values, tail_slope: float = 0.0) -> tuple[float, np.ndarray]:
    """(s0, a): the slope of the first segment (from the origin to (t_0, v_0)) and the change of
    slope a_k at each knot t_k (the last one into `tail_slope`), so that
    g(x) = s0 * relu(x) + sum_k a_k * relu(x - t_k). float64."""
    t = np.asarray(knots, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or t.shape != v.shape or len(t) == 0:
        raise ValueError("knots and values must be 1-D of the same non-zero length")
    if t[0] <= 0 or np.any(np.diff(t) <= 0):
        raise ValueError("knots must be positive and strictly increasing")
    s0 = v[0] / t[0]
    slopes = np.concatenate([[s0], np.diff(v) / np.diff(t), [float(tail_slope)]])
    return float(s0), np.diff(slopes)


def pwl_eval(x, knots, values, odd: bool = False, tail_slope: float = 0.0, form: str = "right",
             dtype=np.float64) -> np.ndarray:
    """The ReLU form of the PWL (see the module docstring) evaluated at x, elementwise.

    odd=False: g(x) (0 for x <= 0); odd=True: g(x) - g(-x). `form` picks the right or left ReLU
    form (the same function in exact arithmetic); `dtype` is the arithmetic used for the weights,
    the units and the sum (np.float32 to see what a float32 machine computes)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, not {form!r}")
    s0, a = pwl_slopes(knots, values, tail_slope)
    dt = np.dtype(dtype).type
    t = np.asarray(knots, dtype=np.float64).astype(dt)
    a = a.astype(dt)
    s0 = dt(s0)
    tau = dt(tail_slope)
    const = dt(float(values[-1]) - float(tail_slope) * float(knots[-1]))
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1).astype(dt)

    def g(u):
        out = np.empty_like(u)
        for i in range(0, len(u), _CHUNK):
            c = u[i:i + _CHUNK]
            if form == "right":
                out[i:i + _CHUNK] = s0 * np.maximum(c, 0) + np.maximum(c[:, None] - t[None, :], 0) @ a
            else:
                out[i:i + _CHUNK] = (tau * c + const + s0 * np.maximum(-c, 0)
                                     + np.maximum(t[None, :] - c[:, None], 0) @ a)
        return out

    y = g(flat) - g(-flat) if odd else g(flat)
    return y.reshape(x.shape)
