"""Compile time and cold-start time of `looped run`: the CLI in a fresh subprocess (import, build,
compile, run, print) and, in-process, the first call (build + compile) against a warm call.

    python benchmarks/cold_start.py [--quick] [--program programs/gcd.asm]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks.common import ROOT, emit

CANDIDATES = ["programs/gcd.asm", "programs/fibonacci.asm", "programs/factorial.asm"]


def cli_command():
    exe = shutil.which("looped")
    if exe:
        return [exe]
    try:
        import looped.cli  # noqa: F401
    except Exception:
        return None
    return [sys.executable, "-m", "looped.cli"]


def main(quick: bool = False, program: str | None = None) -> dict:
    cmd = cli_command()
    path = next((ROOT / p for p in ([program] if program else CANDIDATES) if (ROOT / p).exists()), None)
    if cmd is None or path is None:
        msg = "skipped: the `looped` CLI or a program under programs/ is not available yet"
        print(msg, file=sys.stderr)
        return emit("cold_start", {"skipped": msg})
    repeats = 2 if quick else 3
    cold = []
    for _ in range(repeats):
        t = time.perf_counter()
        proc = subprocess.run(cmd + ["run", str(path), "--json"], capture_output=True, text=True, cwd=ROOT)
        cold.append(time.perf_counter() - t)
        if proc.returncode != 0:
            return emit("cold_start", {"error": proc.stderr[-2000:], "command": " ".join(cmd)})
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import jax, looped.engine"], check=True, cwd=ROOT)
    import_s = time.perf_counter() - t

    from looped.assembler import assemble_file
    from looped.engine import _loop_for, run

    program_obj = assemble_file(path)
    t = time.perf_counter()
    run([program_obj])
    first = time.perf_counter() - t
    warm = statistics.median(_timed(lambda: run([program_obj])) for _ in range(repeats))
    return emit("cold_start", {
        "program": str(path.relative_to(ROOT)), "command": " ".join(cmd + ["run", str(path.relative_to(ROOT)), "--json"]),
        "cli_cold_start_s": statistics.median(cold), "cli_cold_start_runs_s": cold,
        "python_import_jax_and_engine_s": import_s,
        "in_process_first_run_s": first, "in_process_warm_run_s": warm,
        "compile_and_build_s": first - warm,
        "cache_info": str(_loop_for.cache_info()),
    })


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--program")
    args = ap.parse_args()
    main(args.quick, args.program)
