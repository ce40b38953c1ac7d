"""Every C program of tests/c/ through the looped transformer, as `looped run FILE.c` runs it:
steps, tape cells and seconds per program, and whether the output and main's value are gcc's.

    python benchmarks/c_programs.py [--only NAME,NAME] [--backend fast] [--limit 60]

Seconds are wall-clock for the transformer's run of one program (compiling the C and gcc's run
are not counted; the machine's first compilation for a card width is, reported apart as
`first_run_seconds` when it happens). A program is within the goal when its run takes at most
`--limit` seconds (60). Also the step counts of tests/c/gcd.c and tests/c/multiply.c against the
hand-written programs/gcd.asm and programs/multiply.asm on the same inputs (the must-show: at
most 3x). Prints JSON; saves benchmarks/results/c_programs.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = os.path.join(ROOT, "tests", "c")


def asm_steps(name: str) -> int:
    """Steps of a hand-written SUBLEQ program of programs/ on the SUBLEQ oracle (its defaults)."""
    from looped.assembler import assemble_file
    from looped.machines.subleq import oracle

    program = assemble_file(os.path.join(ROOT, "programs", name))
    return oracle.run(program).steps


def main(argv=None) -> dict:
    from benchmarks.common import emit
    from looped.machines.tape import engine
    from looped.machines.tape.c.compiler import compile_c
    from looped.machines.tape.c.oracle import Outcome, run_gcc, run_tape, same
    from looped.machines.tape.c.cli import tape_text
    from looped.machines.tape.program import TapeProgram, parse_tape

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated program names (default: all)")
    ap.add_argument("--backend", default="fast")
    ap.add_argument("--limit", type=float, default=60.0, help="seconds a program may take (default 60)")
    args = ap.parse_args(argv)
    names = sorted(f[:-2] for f in os.listdir(PROGRAMS) if f.endswith(".c"))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    rows = []
    for name in names:
        path = os.path.join(PROGRAMS, name + ".c")
        source = open(path).read()
        data = b""
        if os.path.exists(os.path.join(PROGRAMS, name + ".input")):
            data = open(os.path.join(PROGRAMS, name + ".input"), "rb").read()
        compiled = compile_c(source, path)
        # `looped cc` writes these very words: its tape text parses back to them (so `looped cc`
        # then `looped tape` runs the same tape as `looped run`)
        same_tape = list(parse_tape(tape_text(compiled), "cc.tape", compiled.bits).memory) == compiled.words
        tape = TapeProgram(memory=tuple(compiled.words), bits=compiled.bits, input=data)
        t0 = time.perf_counter()
        engine.run([tape], backend=args.backend, max_steps=1)  # the machine for this width, compiled
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        (result,) = engine.run([tape], backend=args.backend, max_steps=50_000_000)
        seconds = time.perf_counter() - t0
        code = result.memory[compiled.exit_address] if result.status == "halted" else None
        gcc = run_gcc(source, data)
        oracle = run_tape(compiled, data)
        row = {"program": name, "cells": len(compiled.words), "steps": result.steps, "seconds": round(seconds, 2),
               "steps_per_second": round(result.steps / seconds) if seconds else None,
               "first_run_seconds": round(warm, 2), "status": result.status, "exit_code": code,
               "matches_gcc": same(Outcome(result.output, code, result.status, result.steps), gcc),
               "matches_oracle_steps": oracle.steps == result.steps, "cc_tape_is_the_same": same_tape,
               "within_limit": seconds <= args.limit}
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    compare = {}
    for name, asm in (("gcd", "gcd.asm"), ("multiply", "multiply.asm")):
        source = open(os.path.join(PROGRAMS, name + ".c")).read()
        c_steps = run_tape(compile_c(source, name + ".c")).steps
        a_steps = asm_steps(asm)
        compare[name] = {"c_steps": c_steps, "asm_steps": a_steps, "ratio": round(c_steps / a_steps, 2)}
    report = {
        "command": "python benchmarks/c_programs.py" + (" " + " ".join(argv) if argv else ""),
        "backend": args.backend, "limit_seconds": args.limit, "programs": rows,
        "all_match_gcc": all(r["matches_gcc"] for r in rows),
        "all_within_limit": all(r["within_limit"] for r in rows),
        "slowest": max(rows, key=lambda r: r["seconds"])["program"] if rows else None,
        "steps_vs_handwritten": compare,
        "load_average": os.getloadavg(),
    }
    return emit("c_programs", report)


if __name__ == "__main__":
    main(sys.argv[1:])
