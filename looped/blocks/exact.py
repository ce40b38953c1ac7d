"""Exact decisions on float64 values: "is x > t?" answered 0 or 1 with no undecided sliver.

A single ReLU ramp relu(k (x - t)) saturates only at distance 1/k from t, and a gain k large
enough to resolve the smallest float64 (2^-1074) overflows. Two stages do it:

    stage 1 (one MLP):  raw  = 2^537 * relu(x - t)       >= 0, and > 0 exactly when x > t
    stage 2 (a later MLP): zero = relu(1 - 2^537 * raw)    1 when raw = 0, 0 when raw > 0

The sign of the float difference x - t is always right (it is 0 only when x = t), its smallest
nonzero magnitude is 2^-1074, and multiplying by a power of two is exact, so any positive raw
is at least 2^(537 - 1074) and 2^537 * raw >= 1: the second stage is exactly 0 or 1. Values of
the machine stay below 2^60, so stage 1 stays below 2^700 (finite); stage 2's pre-activation may
overflow to -inf, which the ReLU turns into an exact 0.

Gates (looped/blocks/gates.py) of units whose inputs are scaled this way use HUGE_GATE: larger
than any stage-1 pre-activation, so a gated unit is off whatever the operands.
"""

from __future__ import annotations

from typing import Mapping

from looped.blocks.gates import gated_relu
from looped.layers import Units

STAGE = 2.0**537  # STAGE * STAGE = 2^1074: lifts the smallest positive float64 to 1
HUGE_GATE = 2.0**800  # exceeds every stage-1 pre-activation (< 2^700); far below float64's 2^1024


def raw_above(units: Units, terms: Mapping[int, float], threshold: float, gates: Mapping[int, float],
              out: int) -> None:
    """Stage 1: out += STAGE * relu(sum terms - threshold) where every gate row is 0: positive
    exactly when sum terms > threshold (`terms` with power-of-two coefficients keep it exact)."""
    gated_relu(units, {row: STAGE * coef for row, coef in terms.items()}, -STAGE * threshold, gates,
               {out: 1.0}, big=HUGE_GATE)


def is_zero(units: Units, raw: int, one: int, gates: Mapping[int, float], out: Mapping[int, float]) -> None:
    """Stage 2: out += coef * [raw == 0] for raw >= 0 (`one`: a row holding 1 where it acts)."""
    gated_relu(units, {one: 1.0, raw: -STAGE}, 0.0, gates, dict(out), big=HUGE_GATE)
