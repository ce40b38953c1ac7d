"""Reliability as a script: seeded random SUBLEQ programs on every backend against the oracle, and a
long soak. Prints the mismatch counts as JSON (0 everywhere is the contract).

    python benchmarks/fuzz.py [--seed S] [--programs 10000] [--pallas-programs 400] [--backends fast,native] [--quick]

For each backend (dense, fast, pallas, native; `--backends`) `--programs` random programs are spread evenly over the word
sizes 8, 16, 20 and 32 (float32 up to 20 bits, float64 at 32). Programs have 2 to 12 data cells
(full-range values), 2 to 24 instructions with random jumps, so that some halt after a few steps
and others loop until the step limit; each word size runs as one `engine.run` batch (cards padded
to the widest, the runner refilling its slots as programs finish), exactly as `looped run --sets`
does. A program matches when its status, step count, final program counter and every memory cell
equal the oracle's (looped/machines/subleq/oracle.py) after at most `--max-steps` steps.

Pallas runs in interpret mode on a CPU, where it is about a hundred times slower than fast: it gets
`--pallas-programs` programs (default 400) instead of `--programs`, and no soak unless asked for.

The soak runs programs that never halt for `--soak-steps` (default 10^5) steps at every word size
and compares the final state with the oracle's (fast, and dense at 8 bits; `--soak-backends`).

The seed decides everything; the default is not used by any test, and `--seed` gives programs
nobody has seen.
"""

from __future__ import annotations

import argparse
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks import plots
from benchmarks.common import emit

WORD_SIZES = (8, 16, 20, 32)


def random_programs(seed: int, count: int, bits: int):
    import numpy as np

    from looped.machines.subleq.random_programs import random_program

    rng = np.random.default_rng([seed, bits])
    return [random_program(rng, bits, n_cells=int(rng.integers(2, 13)), n_code=int(rng.integers(2, 25)))
            for _ in range(count)]


def compare(programs, results, max_steps: int) -> dict:
    from looped.machines.subleq import oracle

    mismatches, halted, worst, first = 0, 0, 0.0, None
    for i, (program, result) in enumerate(zip(programs, results)):
        expected = oracle.run(program, max_steps=max_steps)
        same = (result.status == expected.status and result.steps == expected.steps
                and result.pc == expected.pc and list(result.memory) == expected.memory)
        if not same:
            mismatches += 1
            first = i if first is None else first
        halted += result.status == "halted"
        worst = max(worst, result.health)
    return {"programs": len(programs), "mismatches": mismatches, "halted": halted,
            "step_limit": len(programs) - halted, "worst_health": worst, "first_mismatch": first}


def fuzz(backend: str, count: int, seed: int, max_steps: int) -> list[dict]:
    from looped.engine import run
    from looped.runner import NumericalHealthError

    rows = []
    per_size = -(-count // len(WORD_SIZES))
    for bits in WORD_SIZES:
        programs = random_programs(seed, per_size, bits)
        started = time.perf_counter()
        try:
            results = run(programs, backend=backend, max_steps=max_steps)
            row = compare(programs, results, max_steps)
        except NumericalHealthError as err:  # counted as a failure of every program
            row = {"programs": len(programs), "mismatches": len(programs), "error": str(err)}
        row.update(backend=backend, bits=bits, seconds=round(time.perf_counter() - started, 2))
        print(row, file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def soak(backend: str, bits: int, steps: int, seed: int, count: int = 4) -> dict:
    """`count` programs that never halt (checked with the oracle), run for `steps` steps."""
    from looped.machines.subleq import oracle
    from looped.engine import run
    from looped.machines.subleq.random_programs import long_random_programs

    programs = long_random_programs(seed + bits, count, bits, min_steps=2000, n_cells=10, n_code=20)
    programs = [p for p in programs if oracle.run(p, max_steps=steps).status == "step_limit"] or programs
    started = time.perf_counter()
    results = run(programs, backend=backend, max_steps=steps)
    seconds = time.perf_counter() - started
    row = compare(programs, results, steps)
    row.update(backend=backend, bits=bits, steps_each=steps, seconds=round(seconds, 2),
               instr_per_s=round(len(programs) * steps / seconds))
    print(row, file=sys.stderr, flush=True)
    return row


def main(seed: int = 20251128, programs: int = 10_000, pallas_programs: int = 400, max_steps: int = 200,
         soak_steps: int = 100_000, soak_backends: tuple = ("fast", "dense"), quick: bool = False,
         backends: tuple | None = None) -> dict:
    """`backends`: default every backend that can run here (native needs a C++ compiler)."""
    import kernels

    backends = tuple(backends or kernels.available_backends())
    if quick:
        programs, pallas_programs, soak_steps = 1000, 80, 10_000
    started = time.perf_counter()
    rows = []
    for backend in backends:
        rows += fuzz(backend, pallas_programs if backend == "pallas" else programs, seed, max_steps)
    soaks = []
    for backend in soak_backends:
        for bits in (WORD_SIZES if backend in ("fast", "native") else (8,)):
            soaks.append(soak(backend, bits, soak_steps, seed))
    by_backend = {}
    for row in rows:
        entry = by_backend.setdefault(row["backend"], {"programs": 0, "mismatches": 0})
        entry["programs"] += row["programs"]
        entry["mismatches"] += row["mismatches"]
    total = sum(r["mismatches"] for r in rows) + sum(s["mismatches"] for s in soaks)
    data = {
        "seed": seed, "max_steps": max_steps, "word_sizes": list(WORD_SIZES),
        "mismatches": total, "by_backend": by_backend, "rows": rows, "soak": soaks,
        "seconds": round(time.perf_counter() - started, 1),
        "note": f"pallas runs in interpret mode on CPU: {pallas_programs} programs instead of {programs}",
        "must_show": {"zero_mismatches": total == 0,
                      "1e4_each": all(by_backend[b]["programs"] >= 10_000 for b in by_backend if b != "pallas")},
    }
    return emit("fuzz", data, plots.of("fuzz", data))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20251128)
    ap.add_argument("--programs", type=int, default=10_000, help="per backend (fast, dense), over the four word sizes")
    ap.add_argument("--pallas-programs", type=int, default=400)
    ap.add_argument("--backends", default="", help="comma-separated (default: every available backend)")
    ap.add_argument("--max-steps", type=int, default=200)
    ap.add_argument("--soak-steps", type=int, default=100_000)
    ap.add_argument("--soak-backends", default="fast,dense", help="comma-separated; 'none' for no soak")
    ap.add_argument("--quick", action="store_true", help="1,000 programs, 80 on pallas, a 10^4-step soak")
    args = ap.parse_args()
    soak_backends = () if args.soak_backends == "none" else tuple(args.soak_backends.split(","))
    main(args.seed, args.programs, args.pallas_programs, args.max_steps, args.soak_steps, soak_backends, args.quick,
         tuple(b for b in args.backends.split(",") if b) or None)
