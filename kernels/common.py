"""Pieces shared by the kernels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

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


def _same(x):
    return x


@dataclass(frozen=True)
class BatchOps:
    open: Callable
    advance: Callable
    close: Callable
    scratch_rows: Callable  # (state, features=None) -> the scratch tokens' rows [B, s, d or len(features)]


@dataclass(frozen=True)
class Step:
    """How a backend executes one instruction on one card.

    A backend may keep the card in its own representation while a run lasts (the fast kernel keeps
    the few columns that change transposed, apart from the read-only rest): `open` turns a card
    X [n, d] into that state, `advance` executes one instruction on it and reports the health
    figure, `close` turns it back into a card, and `scratch` gives the scratch tokens' rows
    [s, d] (where the program counter lives). Called on a card, a Step is simply
    `X -> (X', health)`."""

    advance: Callable[[Any], tuple[Any, Any]]
    scratch_tokens: int
    open: Callable[[Any], Any] = _same
    close: Callable[[Any], Any] = _same
    scratch: Callable[[Any], Any] | None = None
    # A native evaluation of a whole batch (kernels/batched.py), used where `prefer_batch(batch
    # size, card width)` says so; elsewhere the per-card form is vmapped.
    batch: BatchOps | None = None
    prefer_batch: Callable[[int, int], bool] | None = None

    def scratch_rows(self, state):
        return self.scratch(state) if self.scratch is not None else state[: self.scratch_tokens]

    def __call__(self, X):
        state, health = self.advance(self.open(X))
        return self.close(state), health

    def batched(self, batch_size: int | None = None, width: int | None = None) -> "BatchOps":
        """The four operations for a batch of `batch_size` cards of `width` tokens [B, ...]."""
        if self.batch is not None and batch_size is not None and width is not None and self.prefer_batch(batch_size, width):
            return self.batch
        rows_of = jax.vmap(self.scratch_rows)
        return BatchOps(jax.vmap(self.open), jax.vmap(self.advance), jax.vmap(self.close),
                        lambda state, features=None: rows_of(state) if features is None else rows_of(state)[..., features])
