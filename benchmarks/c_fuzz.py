"""The C compiler's differential fuzz against gcc: random C programs (looped/machines/tape/c/
random_programs.py: expressions, loops, branches, arrays, pointers-free indexing, calls, a bounded
recursion, printf) compiled by `looped cc` and by gcc -fwrapv, compared byte for byte (output and
main's value mod 256).

    python benchmarks/c_fuzz.py [--count 1000] [--seed 0] [--transformer 8]

The tapes run on the plain tape interpreter (the tape oracle) for speed; `--transformer K` also runs
K programs through the looped transformer (`looped run`'s engine, one batch) and compares those
with gcc too: the first K (in seed order) whose tape has at most 1,500 cells and that halt within
10,000 steps, so that the batch finishes in minutes on our CPU. Prints JSON with the mismatch counts and the seeds of any mismatch.
"""

from __future__ import annotations

import argparse
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

MAX_STEPS = 3_000_000


def main(argv=None) -> dict:
    from benchmarks.common import emit
    from looped.machines.tape.c.compiler import compile_c
    from looped.machines.tape.c.oracle import Outcome, run_gcc, run_tape, same
    from looped.machines.tape.c.random_programs import random_program

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000, help="programs (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="first seed; program k uses seed + k (default 0)")
    ap.add_argument("--transformer", type=int, default=0, metavar="K",
                    help="also run K small programs through the transformer (default 0)")
    ap.add_argument("--backend", default="fast")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    mismatches, steps, cells, compiled_all = [], 0, [], []
    for k in range(args.count):
        seed = args.seed + k
        source = random_program(seed)
        compiled = compile_c(source, f"fuzz_{seed}.c")
        tape = run_tape(compiled, max_steps=MAX_STEPS)
        gcc = run_gcc(source)
        steps += tape.steps
        cells.append(len(compiled.words))
        if len(compiled_all) < args.transformer and len(compiled.words) <= 1500 and tape.steps <= 10_000:
            compiled_all.append((seed, source, compiled, gcc))
        if not same(tape, gcc):
            mismatches.append({"seed": seed, "tape": [tape.status, tape.exit_code], "gcc": [gcc.status, gcc.exit_code]})
    oracle_seconds = time.perf_counter() - started
    report = {
        "command": "python benchmarks/c_fuzz.py" + (" " + " ".join(argv) if argv else ""),
        "programs": args.count, "first_seed": args.seed, "mismatches": len(mismatches),
        "mismatch_seeds": mismatches[:20], "oracle_steps_total": steps,
        "tape_cells": {"min": min(cells), "mean": round(sum(cells) / len(cells)), "max": max(cells)},
        "oracle_seconds": round(oracle_seconds, 1),
    }
    if compiled_all:
        from looped.machines.tape import engine
        from looped.machines.tape.program import TapeProgram

        t0 = time.perf_counter()
        tapes = [TapeProgram(memory=tuple(c.words), bits=c.bits) for _, _, c, _ in compiled_all]
        results = engine.run(tapes, backend=args.backend, max_steps=MAX_STEPS)
        bad = []
        for (seed, _, compiled, gcc), result in zip(compiled_all, results):
            code = result.memory[compiled.exit_address] if result.status == "halted" else None
            if not same(Outcome(result.output, code, result.status, result.steps), gcc):
                bad.append(seed)
        report["transformer"] = {"programs": len(tapes), "seeds": [seed for seed, _, _, _ in compiled_all], "backend": args.backend, "mismatches": len(bad),
                                 "mismatch_seeds": bad, "steps_total": sum(r.steps for r in results),
                                 "seconds": round(time.perf_counter() - t0, 1)}
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    return emit("c_fuzz", report)


if __name__ == "__main__":
    main(sys.argv[1:])
