"""What compiling a batch shape has cost in this process: the lanes' compile budget
(looped/loop/lanes.py) weighs a new shape against it."""

from __future__ import annotations

import statistics

compile_times: list[float] = []  # seconds per compiled batch shape, in this process
# the same, apart for the one-card shape (a plain loop, no masking: a smaller program) and batches
compile_times_of = {True: [], False: []}


def compile_estimate(one_card: bool = False) -> float:
    """What compiling one more batch shape (`one_card`: the one-card shape) is expected to cost
    (seconds)."""
    times = compile_times_of[one_card]
    return float(statistics.median(times)) if times else (1.5 if one_card else 2.0)
