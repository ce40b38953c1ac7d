"""The numerical policy the exact (integer) machines share: how sharp a softmax must be, and
which float type holds their state. One place, so that SUBLEQ and tapes cannot drift apart.

Nothing here changes JAX's settings: `state_dtype` only answers; `use(dtype)` is the one call
that switches JAX to 64 bits, made by looped/machine.py when a machine needs float64.
"""

from __future__ import annotations

import math

import numpy as np

from looped.limits import FLOAT32_MAX_BITS

# Target error of one read or write before rounding: far below float32's resolution of the
# integers the thresholds see, so every softmax is a hard selection to working precision.
LEAK_MARGIN = 2.0**-30


def inverse_temperature(n: int, bits: int, margin: float = LEAK_MARGIN) -> float:
    """λ for a card of n tokens and N-bit words: the smallest value that keeps every leak that
    matters below `margin`.

    * Reads have a score gap of 2 over at most n - 1 other tokens: a read bit is off by at most
      2n exp(-2 λ), and the arithmetic after a read weighs the bits by up to 2^(N-1), so the error
      reaching a threshold is at most 2^N 2n exp(-2 λ).
    * Writes have a score gap of 1: a written bit is off by at most 2n exp(-λ)."""
    read = 0.5 * (math.log(2 * n) + bits * math.log(2) - math.log(margin))
    write = math.log(2 * n) - math.log(margin)
    return max(read, write)


def state_dtype(bits: int) -> np.dtype:
    """float32 up to FLOAT32_MAX_BITS (measured exact: every gated sum stays an exact multiple of
    1/4 below 2^22), float64 above."""
    return np.dtype(np.float32) if bits <= FLOAT32_MAX_BITS else np.dtype(np.float64)


def use(dtype) -> None:
    """Make JAX able to hold `dtype` (float64 needs JAX's 64-bit mode, a process-wide switch)."""
    if np.dtype(dtype) == np.float64:
        import jax

        jax.config.update("jax_enable_x64", True)


def dtype_for(bits: int):
    """The state's dtype for `bits`-bit words, with JAX switched to hold it."""
    dtype = state_dtype(bits)
    use(dtype)
    return dtype
