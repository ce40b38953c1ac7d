"""Ways to evaluate one instruction (a stack of layers) on one punch card.

Every backend exposes `make_step(stack, lam, dtype) -> step`, where `step(X) -> (X', health)`
maps one card [n, d] to the next and reports the health figure (see kernels/common.py). The
runner vmaps and loops it. Kernels know layers, nothing about instruction sets.
"""

import importlib

BACKENDS = ("fast", "dense", "pallas")
DEFAULT_BACKEND = "fast"


def make_step(backend: str, stack, lam: float, dtype):
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}' (expected one of {', '.join(BACKENDS)})")
    return importlib.import_module(f"kernels.{backend}").make_step(stack, lam, dtype)
