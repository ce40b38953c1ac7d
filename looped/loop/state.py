"""What a run of the loop carries between chunks, and the health check's bound and error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from looped.errors import LoopedError

# The health figure may not exceed this before error correction: values further than the
# correction tolerance (1/4) from {-1, 0, +1} would no longer be snapped back exactly.
HEALTH_BOUND = 0.2
MAX_STEPS = 2**31 - 1


class NumericalHealthError(LoopedError):
    def __init__(self, card: int, step: int, health: float, bound: float):
        self.card, self.step, self.health = card, step, health
        super().__init__(
            f"error: numerical health lost in instance {card} at step {step}: corrected rows were "
            f"{health:.3g} away from {{-1, 0, 1}} (bound {bound}); refusing to return a wrong answer"
        )


@dataclass
class LoopState:
    X: Any  # [B, ...] the cards in the kernel's representation while running; cards [B, n, d] when returned
    steps: jax.Array  # [B] int32, instructions executed
    done: jax.Array  # [B] bool, the program counter has reached the halt column
    worst: jax.Array  # [B] largest health figure seen
    bad_step: jax.Array  # [B] int32, first step whose health crossed the bound, or -1


jax.tree_util.register_dataclass(LoopState, data_fields=["X", "steps", "done", "worst", "bad_step"], meta_fields=[])


def pc_decoder(pc_token: int, pc_rows: slice):
    """The program counter of each card [B] from its scratch tokens' pc rows [B, s, width]."""
    width = pc_rows.stop - pc_rows.start
    weights = np.asarray([1 << (width - 1 - i) for i in range(width)], dtype=np.int32)

    def decode(pc_bits):  # the scratch tokens' pc rows [B, s, width] -> [B]
        return jnp.sum((pc_bits[:, pc_token] > 0).astype(jnp.int32) * weights, axis=-1)

    return decode
