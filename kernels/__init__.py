"""Ways to evaluate one instruction (a stack of layers) on one punch card.

Every backend exposes `make_step(stack, lam, dtype) -> Step` (kernels/common.py): called on a card
X [n, d] it returns (X', health), the next card and the health figure; for long runs the runner
uses its open/advance/close form, which lets a backend keep the card in its own representation.
The runner vmaps and loops it, or uses the backend's own evaluation of a whole batch where it has
one (`Step.batched`: the fast backend's kernels/batched.py). Kernels know layers, nothing about
instruction sets.
"""

import importlib

BACKENDS = ("fast", "dense", "pallas")
DEFAULT_BACKEND = "fast"


def make_step(backend: str, stack, lam: float, dtype):
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}' (expected one of {', '.join(BACKENDS)})")
    return importlib.import_module(f"kernels.{backend}").make_step(stack, lam, dtype)
