"""Batches of real-valued cards (FLEQ, Stack.per_card) against the same cards one at a time, on
the default backend, through engine.run (the path `looped run` takes): 64 calculators
(programs/fleq/calculator.asm, different x and y) and 64 4x4 inverses (programs/fleq/inverse.asm,
different matrices). A batch runs in one batch-invariant pass (kernels/invariant.py), and every
card's result (outputs, steps, status) must be identical to its run alone; issue 20 asks for each
batch >= 8x faster than one at a time.

    python benchmarks/fleq_batch.py [--count 64] [--repeats 3] [--only calculator|inverse]
    python benchmarks/fleq_batch.py --card-loop   # the former evaluation, one card after another
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks.common import ROOT, emit

THRESHOLD = 8.0


def calculators(count: int, seed: int = 0):
    import numpy as np

    from looped.assembler import assemble_file

    rng = np.random.default_rng(seed)
    program = assemble_file(ROOT / "programs" / "fleq" / "calculator.asm")
    return [program.with_settings({"x": float(rng.uniform(-1e3, 1e3)), "y": float(rng.uniform(0.01, 100))})
            for _ in range(count)]


def inverses(count: int, seed: int = 2):
    import numpy as np

    from looped.assembler import assemble_file

    rng = np.random.default_rng(seed)
    program = assemble_file(ROOT / "programs" / "fleq" / "inverse.asm")
    out = []
    for _ in range(count):
        q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
        out.append(program.with_settings({"A": (q @ np.diag(rng.uniform(0.5, 5, 4)) @ q.T).tolist()}))
    return out


WORKLOADS = {"calculator": calculators, "inverse": inverses}


def summary(result) -> tuple:
    return (result.status, result.steps, result.fault, result.outputs)


def batch_vs_one_at_a_time(name: str, count: int, repeats: int) -> dict:
    from looped.engine import run

    programs = WORKLOADS[name](count)
    started = time.perf_counter()
    for _ in range(2):  # compile every batch shape the runner uses (it compacts as cards stop)
        batch = run(programs)
    alone = [run([p])[0] for p in programs]
    warm_s = time.perf_counter() - started
    identical = [summary(a) == summary(b) for a, b in zip(alone, batch)]
    single, batched = [], []
    for _ in range(repeats):  # interleaved, so that load drifts hit both alike
        t = time.perf_counter()
        for p in programs:
            run([p])
        single.append(time.perf_counter() - t)
        t = time.perf_counter()
        run(programs)
        batched.append(time.perf_counter() - t)
    steps = sum(r.steps for r in batch)
    one, many = statistics.median(single), statistics.median(batched)
    return {"workload": name, "programs": count, "total_steps": steps, "steps_per_card": sorted({r.steps for r in batch}),
            "one_at_a_time_s": one, "batched_s": many, "ratio": one / many,
            "ratio_from_minima": min(single) / min(batched), "one_at_a_time_samples_s": single,
            "batched_samples_s": batched, "batched_card_steps_per_s": steps / many,
            "one_at_a_time_card_steps_per_s": steps / one, "identical_to_alone": all(identical),
            "cards_differing": identical.count(False), "meets_8x": one / many >= THRESHOLD,
            "warmup_and_compile_s": warm_s}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=sorted(WORKLOADS))
    parser.add_argument("--card-loop", action="store_true",
                        help="measure the former per-card loop (Step._one_card_at_a_time) instead")
    args = parser.parse_args(argv)
    import kernels

    if args.card_loop:
        kernels.INVARIANT_BATCHES = ()
    names = [args.only] if args.only else sorted(WORKLOADS)
    results = [batch_vs_one_at_a_time(name, args.count, args.repeats) for name in names]
    suffix = ("_card_loop" if args.card_loop else "") + (f"_{args.only}" if args.only else "")
    return emit(f"fleq_batch{suffix}", {
        "backend": kernels.DEFAULT_BACKEND,
        "evaluation": "per-card loop (lax.map)" if args.card_loop else "batch-invariant (kernels/invariant.py)",
        "threshold": THRESHOLD, "results": results,
        "timing": f"medians (and minima) of {args.repeats} interleaved repeats after warm-up (compilation "
                  "excluded), each through engine.run as `looped run` does; one at a time = engine.run per card"})


if __name__ == "__main__":
    main()
