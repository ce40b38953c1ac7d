"""Pieces shared by the kernels."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# Exactness: integer-valued float32 matmuls must not be rounded to TF32 or bf16 on GPUs.
PRECISION = jax.lax.Precision.HIGHEST


def matmul(a, b):
    return jnp.matmul(a, b, precision=PRECISION)


def lattice_distance(values):
    """Largest distance of `values` from the nearest of {-1, 0, +1}: the health figure."""
    nearest = jnp.clip(jnp.round(values), -1.0, 1.0)
    return jnp.max(jnp.abs(values - nearest))


def as_array(w: np.ndarray, dtype):
    return jnp.asarray(np.asarray(w), dtype=dtype)
