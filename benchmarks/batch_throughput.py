"""Instructions per second, per program and aggregate, vs batch size (through engine.run, the path
`looped run` takes); a batch of 64 programs against the same 64 run one at a time; and an uneven
batch: 64 gcd instances (programs/gcd.asm) needing from a few hundred to tens of thousands of
steps each, batched (the runner refills and compacts its slots) against one at a time.

    python benchmarks/batch_throughput.py [--quick] [--max-batch 4096] [--steps 400]
    python benchmarks/batch_throughput.py --only-uneven [--spread even|log|straggler|all]   # just the uneven batch
"""

from __future__ import annotations

import argparse
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks.common import ROOT, emit, median_time

BITS = 8


def programs(count: int, steps: int, seed: int = 0):
    from looped.machines.subleq.random_programs import long_random_programs

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


SPREADS = ("even", "log", "straggler")


def step_targets(count: int, longest: int, spread: str):
    """The step counts aimed at: from about 180 to `longest` evenly (`even`), log-uniformly (`log`:
    most instances short), or one straggler of `longest` steps beside count - 1 instances evenly
    spread up to a sixth of it (`straggler`: the issue-21 workload, 184 ... 28,821 steps)."""
    import numpy as np

    if spread == "even":
        return np.linspace(180, longest, count)
    if spread == "log":
        return np.geomspace(180, longest, count)
    if spread == "straggler":
        return np.concatenate([np.linspace(180, longest / 6, count - 1), [longest]])
    raise ValueError(f"unknown spread {spread!r} (expected one of {', '.join(SPREADS)})")


def gcd_instances(count: int = 64, longest: int = 24000, seed: int = 11, spread: str = "even"):
    """`count` gcd programs whose step counts follow `spread` (`step_targets`), in a shuffled
    order, with their step counts (from the oracle). Inputs (a, b) with b < 40 and a / b about
    steps / 12 (programs/gcd.asm takes about 12 steps per subtraction)."""
    import numpy as np

    from looped.machines.subleq import oracle
    from looped.assembler import assemble_file

    base = assemble_file(ROOT / "programs" / "gcd.asm")
    rng = np.random.default_rng(seed)
    chosen = []
    for target in step_targets(count, longest, spread):
        best = None
        for _ in range(60):
            b = int(rng.integers(1, 40))
            a = int(target / 12 * b * rng.uniform(0.9, 1.1)) + int(rng.integers(0, b))
            if not 0 <= a <= 32767:
                continue
            program = base.with_settings({"a": a, "b": b})
            steps = oracle.run(program).steps
            if best is None or abs(steps - target) < abs(best[1] - target):
                best = (program, steps, (a, b))
        chosen.append(best)
    return [chosen[i] for i in rng.permutation(count)]


# Issue 21's must-show per spread: batched at least this many times faster than one at a time.
UNEVEN_THRESHOLDS = {"even": 5.0, "log": 3.0, "straggler": 4.0}
LONGEST = {"even": 24000, "log": 24000, "straggler": 28800}


def uneven_batch(repeats: int, backend: str = "fast", longest: int | None = None, spread: str = "even") -> dict:
    """64 gcd instances batched (one engine.run, as `looped run --sets` does) against one at a
    time; identical results required. Compilation is excluded: the batch is run until it compiles
    no new batch shape (the runner compacts to smaller shapes as instances finish)."""
    import tempfile

    from looped import executables, runner
    from looped.engine import run

    # As `looped run --sets` does: compiled loops kept on disk (here in a fresh folder, so that the
    # first call is cold), which lets the runner compile the smaller shapes it compacts to.
    was = executables.folder()
    executables.enable(tempfile.mkdtemp(prefix="looped-bench-"))
    instances = gcd_instances(longest=longest or LONGEST[spread], spread=spread)
    programs = [p for p, _, _ in instances]
    steps = [s for _, s, _ in instances]
    started = time.perf_counter()
    run(programs, backend=backend)
    first_s = time.perf_counter() - started
    quiet = 0
    for _ in range(10):  # warm: the shapes the batch compacts to are compiled (two runs in a row compile none)
        compiled = len(runner._compile_times)
        run(programs, backend=backend)
        quiet = quiet + 1 if len(runner._compile_times) == compiled else 0
        if quiet == 2:
            break
    run(programs[:1], backend=backend)
    key = lambda r: (r.status, r.steps, r.memory)  # noqa: E731
    single, batched, same = [], [], True
    for _ in range(repeats):
        t = time.perf_counter()
        alone = [run([p], backend=backend)[0] for p in programs]
        single.append(time.perf_counter() - t)
        for _ in range(4):  # a timing that included a compilation (of a shape the batch compacted to) is redone
            compiled = len(runner._compile_times)
            t = time.perf_counter()
            together = run(programs, backend=backend)
            seconds = time.perf_counter() - t
            if len(runner._compile_times) == compiled:
                break
        batched.append(seconds)
        same &= [key(r) for r in alone] == [key(r) for r in together]
        same &= [r.steps for r in together] == steps and all(r.status == "halted" for r in together)
    executables.enable(was) if was else executables.disable()
    total = sum(steps)
    single_s, batched_s = sorted(single)[len(single) // 2], sorted(batched)[len(batched) // 2]
    return {"program": "programs/gcd.asm", "instances": len(programs), "backend": backend, "spread": spread,
            "steps_min": min(steps), "steps_max": max(steps), "steps_total": total,
            "inputs": [list(ab) for _, _, ab in instances],
            "bound_total_over_longest": total / max(steps),
            "one_at_a_time_s": single_s, "batched_s": batched_s, "batched_cold_first_call_s": first_s,
            "one_at_a_time_instr_per_s": total / single_s, "batched_instr_per_s": total / batched_s,
            "ratio": single_s / batched_s, "ratio_from_minima": min(single) / min(batched),
            "threshold": UNEVEN_THRESHOLDS[spread], "must_show": single_s / batched_s >= UNEVEN_THRESHOLDS[spread],
            "identical_results": bool(same),
            "timing": f"medians (and minima) of {repeats} interleaved repeats through engine.run; compilation "
                      "excluded (batched_cold_first_call_s includes it)",
            "note": "no schedule can beat bound_total_over_longest on one device: the longest instance's "
                    "steps run one after another whatever the batch"}


def main(quick: bool = False, max_batch: int | None = None, steps: int | None = None, backend: str = "fast",
         only_uneven: bool = False, spread: str = "even") -> dict:
    if only_uneven:
        spreads = SPREADS if spread == "all" else (spread,)
        uneven = {s: uneven_batch(1 if quick else 3, backend, spread=s) for s in spreads}
        return emit("batch_throughput_uneven", {
            "uneven_batch": uneven[spreads[0]] if len(spreads) == 1 else uneven,
            "must_show": {f"uneven_{s}_{UNEVEN_THRESHOLDS[s]:g}x": u["must_show"] for s, u in uneven.items()}})
    steps = steps or (200 if quick else 400)
    max_batch = max_batch or (256 if quick else 4096)
    repeats = 3
    sizes = [b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096) if b <= max_batch]
    pool = programs(max(sizes), steps)
    curve = [throughput(pool[:b], steps, backend, repeats if b <= 256 else 1) for b in sizes]
    versus = batch_vs_single(64, steps, backend, repeats=3 if quick else 7)
    uneven = uneven_batch(1 if quick else 3, backend)

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
        "uneven_batch": uneven,
        "must_show": {"batch64_10x": versus["ratio"] >= 10, "uneven_batch_5x": uneven["ratio"] >= 5},
        "note": "batch sizes up to --max-batch (default 4096, quick 256)",
    }, plot)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--max-batch", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--backend", default="fast")
    ap.add_argument("--only-uneven", action="store_true", help="only the uneven gcd batch")
    ap.add_argument("--spread", choices=SPREADS + ("all",), default="even",
                    help="step counts of the uneven batch: evenly spread (default), log-uniform, or one "
                         "straggler (28,800 steps) beside short ones; all: each of them")
    args = ap.parse_args()
    main(args.quick, args.max_batch, args.steps, args.backend, args.only_uneven, args.spread)
