"""Ways to evaluate one instruction (a stack of layers) on one punch card.

Every backend exposes `make_step(stack, lam, dtype) -> Step` (kernels/common.py): called on a card
X [n, d] it returns (X', health), the next card and the health figure; for long runs the runner
uses its open/advance/close form, which lets a backend keep the card in its own representation.
The runner vmaps and loops it, or uses the backend's own evaluation of a whole batch where it has
one (`Step.batched`: the fast backend's kernels/batched.py). Kernels know layers, nothing about
instruction sets.

`dense` evaluates the layer formula as written. The others are evaluators of one kernel plan,
kernels/plan.py (NumPy only, `Plan.of(stack)`): each head cut to the rows it reads and writes,
the MLP parts grouped (row-wise tables, sparse units), the features each layer writes and reads,
the health rows. They differ only in how they compute it: fast.py one card, tokens innermost;
batched.py a whole batch, batch innermost; pallas.py fast with two Pallas parts; native.py the
whole instruction, or a chunk of the runner's loop, as one call of C++ code generated from the plan
(kernels/native_gen.py), compiled on first use where a C++ compiler is found. Batches of
real-valued cards (Stack.per_card) on `fast` (and `pallas`, which is fast for them) run through
invariant.py: the whole batch in one pass, each card bit for bit what it gives alone. Imports run
one way: plan <- common <- batched <- fast <- pallas, batched <- invariant, and
plan <- common <- native; settings.py (environment settings read before JAX starts, imported here)
imports none of them (tests/kernels/test_plan.py checks there is no cycle).
"""

import dataclasses
import importlib

from kernels.settings import prepare_xla_flags

# (before any XLA compile in this process: XLA reads its flags once)
prepare_xla_flags()

BACKENDS = ("fast", "dense", "pallas", "native")
DEFAULT_BACKEND = "fast"
# Backends whose batches of real-valued cards (Stack.per_card) run in one batch-invariant pass
# (kernels/invariant.py: each card bit for bit as alone, from the kernel plan); the others run them
# one card after another. pallas evaluates float64 machines (FLEQ's) as fast does, so it takes these
# batches too (a float32 per_card stack would take them as well, not its Pallas parts). dense keeps the layer formula as written (the reference the plan's hints are
# checked against): a plan-free invariant form of it compiled 7-10x slower (61-90 s against 8.8 s
# for matrix_ops.asm's first run), though it then ran 80x faster.
INVARIANT_BATCHES = ("fast", "pallas")


def available_backends() -> tuple[str, ...]:
    """The backends that can run here (native needs a C++ compiler and a CPU)."""
    from kernels import native

    return tuple(b for b in BACKENDS if b != "native" or native.available())


def runs_chunks(backend: str) -> bool:
    """Whether the backend runs the runner's loop itself, each group of cards on its own
    (BatchOps.run_chunk), sharing the groups among its own threads: the runner then runs the batch
    as one lane."""
    return backend == "native"


def make_step(backend: str, stack, lam: float, dtype):
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}' (expected one of {', '.join(BACKENDS)})")
    step = importlib.import_module(f"kernels.{backend}").make_step(stack, lam, dtype)
    if step.per_card and backend in INVARIANT_BATCHES:
        from kernels import invariant

        step = invariant.with_invariant_batches(step, stack, lam, dtype)
    from kernels import common

    return dataclasses.replace(step, batch_compile_options=common.xla_cpu_options())
