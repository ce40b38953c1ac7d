"""What one `looped run` costs, cold and warm, against the floor of importing JAX, in one run.

    python benchmarks/cold_start.py [--quick] [--program programs/gcd.asm] [--repeats 5]

* cold: `looped run PROGRAM --json` in a fresh process with an empty cache folder (LOOPED_CACHE_DIR
  pointing at a new temporary folder): it builds the machine, traces, compiles and stores the
  compiled loop;
* warm: the same command again with that folder filled: it loads the compiled loop (no weights
  built, nothing traced or compiled);
* import jax: `python -c "import jax"`, the floor any JAX program pays.

Warm calls and `import jax` are interleaved (one of each per round), so that load drifts hit both
alike; the figure to read is warm / import jax (medians; minima too). In-process, the first
`engine.run` against a warm call is also reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks.common import ROOT, emit

CANDIDATES = ["programs/gcd.asm", "programs/fibonacci.asm", "programs/factorial.asm"]


def cli_command():
    # `python -m looped` in the repository root runs this tree's code; an installed `looped` script
    # may belong to another checkout (an editable install elsewhere), and its figures would not be ours.
    return [sys.executable, "-m", "looped"]


def timed_process(cmd, env=None) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    return time.perf_counter() - started, proc


def main(quick: bool = False, program: str | None = None, repeats: int | None = None) -> dict:
    path = next((ROOT / p for p in ([program] if program else CANDIDATES) if (ROOT / p).exists()), None)
    repeats = repeats or (3 if quick else 7)
    cold_repeats = 1 if quick else 2
    run_cmd = cli_command() + ["run", str(path.relative_to(ROOT)), "--json"]
    import_cmd = [sys.executable, "-c", "import jax"]
    cold, warm, import_jax, outputs = [], [], [], set()
    folders = []
    try:
        for _ in range(cold_repeats):
            folder = tempfile.mkdtemp(prefix="looped-cold-")
            folders.append(folder)
            env = dict(os.environ, LOOPED_CACHE_DIR=folder)
            seconds, proc = timed_process(run_cmd, env)
            if proc.returncode != 0:
                return emit("cold_start", {"error": proc.stderr[-2000:], "command": " ".join(run_cmd)})
            cold.append(seconds)
            outputs.add(proc.stdout)
        env = dict(os.environ, LOOPED_CACHE_DIR=folders[-1])
        timed_process(import_cmd)  # warm the file system cache for both
        timed_process(run_cmd, env)
        for _ in range(repeats):
            seconds, _ = timed_process(import_cmd)
            import_jax.append(seconds)
            seconds, proc = timed_process(run_cmd, env)
            warm.append(seconds)
            outputs.add(proc.stdout)
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    from looped.assembler import assemble_file
    from looped.engine import run

    program_obj = assemble_file(path)
    started = time.perf_counter()
    run([program_obj])
    first = time.perf_counter() - started
    in_process_warm = statistics.median(_timed(lambda: run([program_obj])) for _ in range(repeats))
    median = statistics.median
    return emit("cold_start", {
        "program": str(path.relative_to(ROOT)), "command": " ".join(run_cmd),
        "cold_s": median(cold), "cold_runs_s": cold,
        "warm_s": median(warm), "warm_runs_s": warm,
        "import_jax_s": median(import_jax), "import_jax_runs_s": import_jax,
        "warm_over_import_jax": median(warm) / median(import_jax),
        "warm_over_import_jax_from_minima": min(warm) / min(import_jax),
        "cold_over_import_jax": median(cold) / median(import_jax),
        "cold_over_warm": median(cold) / median(warm),
        "same_output_every_call": len(outputs) == 1,
        "in_process_first_run_s": first, "in_process_warm_run_s": in_process_warm,
        "timing": f"medians of {repeats} interleaved rounds (warm run, import jax); cold: {cold_repeats} "
                  "runs, each with a new empty cache folder",
        "must_show": {"warm_within_2x_import_jax": median(warm) <= 2 * median(import_jax),
                      "cold_within_3x_warm": median(cold) <= 3 * median(warm)},  # issue 21
    })


def _timed(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--program")
    ap.add_argument("--repeats", type=int)
    args = ap.parse_args()
    main(args.quick, args.program, args.repeats)
