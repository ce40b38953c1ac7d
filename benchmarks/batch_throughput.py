"""Instructions per second, per program and aggregate, vs batch size (through engine.run, the path
`looped run` takes), and a batch of 64 programs against the same 64 run one at a time.

    python benchmarks/batch_throughput.py [--quick] [--max-batch 4096] [--steps 400]
"""

from __future__ import annotations

import argparse
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks.common import emit, median_time

BITS = 8


def programs(count: int, steps: int, seed: int = 0):
    from looped.random_programs import long_random_programs

    # Random programs that run at least `steps` instructions (most never halt): every card works
    # for the whole run, so instructions/s is well defined. One card width for all (n = 32).
    return long_random_programs(seed, count, BITS, min_steps=steps, n_cells=8, n_code=16)


def throughput(progs, steps: int, backend: str, repeats: int) -> dict:
    from looped.engine import run

    t = median_time(lambda: run(progs, backend=backend, max_steps=steps, n=32), repeats=repeats)
    total = len(progs) * steps
    return {"batch": len(progs), "seconds": t, "aggregate_instr_per_s": total / t,
            "per_program_instr_per_s": steps / t}


def batch_vs_single(count: int, steps: int, backend: str, repeats: int) -> dict:
    from looped.engine import run

    progs = programs(count, steps, seed=1)
    run(progs[:1], backend=backend, max_steps=steps, n=32)  # compile both shapes first
    run(progs, backend=backend, max_steps=steps, n=32)
    single, batched = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        for p in progs:
            run([p], backend=backend, max_steps=steps, n=32)
        single.append(time.perf_counter() - t)
        t = time.perf_counter()
        run(progs, backend=backend, max_steps=steps, n=32)
        batched.append(time.perf_counter() - t)
    ratio_from_minima = min(single) / min(batched)
    single, batched = sorted(single)[len(single) // 2], sorted(batched)[len(batched) // 2]
    total = count * steps
    return {"programs": count, "steps_each": steps, "one_at_a_time_s": single, "batched_s": batched,
            "one_at_a_time_instr_per_s": total / single, "batched_instr_per_s": total / batched,
            "ratio": single / batched, "ratio_from_minima": ratio_from_minima,
            "timing": f"medians (and minima) of {repeats} interleaved repeats, each through engine.run as `looped run` does"}


def main(quick: bool = False, max_batch: int | None = None, steps: int | None = None, backend: str = "fast") -> dict:
    steps = steps or (200 if quick else 400)
    max_batch = max_batch or (256 if quick else 4096)
    repeats = 3
    sizes = [b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096) if b <= max_batch]
    pool = programs(max(sizes), steps)
    curve = [throughput(pool[:b], steps, backend, repeats if b <= 256 else 1) for b in sizes]
    versus = batch_vs_single(64, steps, backend, repeats=3 if quick else 7)

    def plot(plt):
        fig, ax = plt.subplots(figsize=(6, 4))
        bs = [p["batch"] for p in curve]
        ax.loglog(bs, [p["aggregate_instr_per_s"] for p in curve], "o-", label="aggregate")
        ax.loglog(bs, [p["per_program_instr_per_s"] for p in curve], "s--", label="per program")
        ax.set_xlabel("batch size")
        ax.set_ylabel("instructions / s")
        ax.set_title(f"{backend}, n = 32, {steps} steps; 64 batched = {versus['ratio']:.1f}x one at a time")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        return fig

    return emit("batch_throughput", {
        "backend": backend, "bits": BITS, "n": 32, "steps": steps, "curve": curve,
        "batch64_vs_one_at_a_time": versus,
        "must_show": {"batch64_10x": versus["ratio"] >= 10},
        "note": "batch sizes up to --max-batch (default 4096, quick 256)",
    }, plot)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--max-batch", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--backend", default="fast")
    args = ap.parse_args()
    main(args.quick, args.max_batch, args.steps, args.backend)
