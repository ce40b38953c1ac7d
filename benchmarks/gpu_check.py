"""One command for a GPU machine (at most 8 minutes): the exactness tests, then aggregate
throughput at large batches, with matmul precision HIGHEST; figures go to $OUT (if set) and
benchmarks/results/.

    python benchmarks/gpu_check.py            # on the GPU machine
    python benchmarks/gpu_check.py --quick    # a short run (also works on CPU, as a dry run)
    python benchmarks/gpu_check.py --all-benchmarks   # and benchmarks/run_all.py (longer)

It records the device, checks that the Pallas kernels run compiled (interpret=False) on a GPU, runs
tests/kernels/test_kernels.py, tests/kernels/test_batched.py, tests/kernels/test_cuda_lowering.py,
tests/test_batching.py, tests/test_exactness.py, tests/test_machine.py and
tests/machines/subleq/test_programs.py, then measures aggregate instructions/s (issue 21): SUBLEQ at
batch 16,384 on 32- and 100-column cards (fast and pallas), FLEQ calculators (programs/fleq/
calculator.asm, float64) and classic SUBLEQ tapes, each result checked against its oracle for a
sample of the batch; writes gpu_check.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # (run as a script: the repository's packages, benchmarks included)
    sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--all-benchmarks", action="store_true", help="also benchmarks/run_all.py (longer than 8 minutes)")
    ap.add_argument("--throughput-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.throughput_only:
        print(json.dumps(throughput(args.quick)))
        return 0
    out_dir = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    env = dict(os.environ, JAX_DEFAULT_MATMUL_PRECISION="highest", PYTHONPATH=str(ROOT))
    if out_dir:
        env["LOOPED_BENCH_RESULTS"] = str(out_dir / "results")
    report: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
    t0 = time.perf_counter()

    probe = subprocess.run([sys.executable, "-c", (
        "import jax, json; from kernels import pallas; "
        "print(json.dumps({'backend': jax.default_backend(), 'devices': [str(d) for d in jax.devices()], "
        "'pallas_interpret': pallas.interpret_mode(), 'jax': jax.__version__}))")],
        capture_output=True, text=True, env=env, cwd=ROOT)
    report["device"] = json.loads(probe.stdout) if probe.returncode == 0 else {"error": probe.stderr[-2000:]}
    print("device:", report["device"], flush=True)

    if not args.skip_tests:
        t = time.perf_counter()
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "tests/kernels/test_kernels.py", "tests/kernels/test_batched.py",
                                "tests/kernels/test_cuda_lowering.py", "tests/test_batching.py", "tests/test_exactness.py",
                                "tests/test_machine.py", "tests/machines/subleq/test_programs.py"],
                               capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)
        report["tests"] = {"returncode": tests.returncode, "seconds": time.perf_counter() - t,
                           "tail": tests.stdout[-3000:] + tests.stderr[-2000:]}
        print(tests.stdout[-3000:], tests.stderr[-2000:], flush=True)

    t = time.perf_counter()
    measured = subprocess.run([sys.executable, __file__, "--throughput-only"] + (["--quick"] if args.quick else []),
                              capture_output=True, text=True, env=env, cwd=ROOT)
    try:
        report["throughput"] = json.loads(measured.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        report["throughput"] = {"error": measured.stderr[-3000:]}
    report["throughput_seconds"] = time.perf_counter() - t
    print("throughput:", json.dumps(report["throughput"], indent=2), flush=True)
    bench = None
    results = Path(env.get("LOOPED_BENCH_RESULTS", ROOT / "benchmarks" / "results"))
    latest = results / "latest.json"
    if args.all_benchmarks:
        t = time.perf_counter()
        bench = subprocess.run([sys.executable, "benchmarks/run_all.py"] + (["--quick"] if args.quick else []),
                               capture_output=True, text=True, env=env, cwd=ROOT)
        report["benchmarks"] = {"returncode": bench.returncode, "seconds": time.perf_counter() - t,
                                "stderr_tail": bench.stderr[-3000:]}
        if latest.exists():
            report["figures"] = json.loads(latest.read_text()).get("must_show")
    report["total_seconds"] = time.perf_counter() - t0
    text = json.dumps(report, indent=2)
    print(text)
    for d in filter(None, [out_dir, ROOT / "benchmarks" / "results"]):
        d.mkdir(parents=True, exist_ok=True)
        (d / "gpu_check.json").write_text(text + "\n")
        if d == out_dir and latest.exists() and results != d / "results":
            shutil.copy(latest, d / "latest.json")
    ok = (report.get("tests", {}).get("returncode", 0) == 0 and "error" not in report["throughput"]
          and report["throughput"].get("all_agree", False) and (bench is None or bench.returncode == 0))
    return 0 if ok else 1


# ---- aggregate throughput (run in a process of its own, with the check's environment) -------------


def _timed_run(run, items, repeats: int = 2) -> tuple[float, list]:
    """The best of `repeats` timed runs after a warm-up run (compilation excluded)."""
    results = run(items)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        results = run(items)
        best = min(best, time.perf_counter() - started)
    return best, results


def subleq_rate(columns: int, bits: int, cells: int, code: int, batch: int, steps: int, backend: str) -> dict:
    from looped.engine import run
    from looped.machines.subleq import oracle
    from looped.machines.subleq.random_programs import long_random_programs

    distinct = long_random_programs(0, min(batch, 256), bits, min_steps=steps, n_cells=cells, n_code=code)
    programs = (distinct * -(-batch // len(distinct)))[:batch]
    seconds, results = _timed_run(lambda ps: run(ps, backend=backend, max_steps=steps, n=columns), programs)
    agree = all((r.steps, r.memory) == ((e := oracle.run(p, max_steps=steps)).steps, e.memory)
                for p, r in zip(programs[:64], results[:64]))
    executed = sum(r.steps for r in results)
    return {"columns": columns, "bits": bits, "batch": batch, "steps_each": steps, "backend": backend,
            "seconds": seconds, "aggregate_instr_per_s": executed / seconds, "oracle_agrees_on_64": agree}


def fleq_rate(batch: int) -> dict:
    import numpy as np

    from looped.assembler import assemble_file
    from looped.engine import run
    from looped.machines.fleq import oracle

    base = assemble_file(ROOT / "programs" / "fleq" / "calculator.asm")
    rng = np.random.default_rng(0)
    programs = [base.with_settings({"x": float(rng.uniform(0.5, 100)), "y": float(rng.uniform(0.5, 100))})
                for _ in range(batch)]
    seconds, results = _timed_run(run, programs)
    agree = all(r.steps == oracle.run(p).steps for p, r in zip(programs[:16], results[:16]))
    executed = sum(r.steps for r in results)
    return {"program": "programs/fleq/calculator.asm", "batch": batch, "seconds": seconds,
            "aggregate_instr_per_s": executed / seconds, "oracle_steps_agree_on_16": agree}


def tape_rate(batch: int, memory: int, steps: int) -> dict:
    from benchmarks.tape_speed import loop_tape
    from looped.machines.tape import engine as tape_engine

    tapes = [loop_tape(memory)] * batch
    seconds, results = _timed_run(lambda ts: tape_engine.run(ts, max_steps=steps), tapes)
    agree = all(r.status == "step_limit" and r.steps == steps for r in results)
    return {"memory": memory, "batch": batch, "steps_each": steps, "seconds": seconds,
            "aggregate_instr_per_s": batch * steps / seconds, "every_tape_ran_its_steps": agree}


def throughput(quick: bool) -> dict:
    import jax

    batch = 256 if quick else 16384
    backends = ["fast"] + (["pallas"] if jax.default_backend() != "cpu" else [])
    out = {"subleq": [_guarded(subleq_rate, c, b, cells, code, batch, steps, backend)
                      for c, b, cells, code, steps in ((32, 8, 8, 20, 200), (100, 16, 24, 72, 200))
                      for backend in backends],
           "fleq": _guarded(fleq_rate, 64 if quick else 4096),
           "tape": _guarded(tape_rate, 64 if quick else batch, 64, 200)}
    out["all_agree"] = (all(r.get("oracle_agrees_on_64") for r in out["subleq"])
                        and out["fleq"].get("oracle_steps_agree_on_16", False)
                        and out["tape"].get("every_tape_ran_its_steps", False))
    return out


def _guarded(measure, *args) -> dict:
    """A measurement, or the error it raised (so that one failing part does not hide the others)."""
    try:
        return measure(*args)
    except Exception as err:  # noqa: BLE001 (reported in the JSON, and the check fails)
        return {"error": f"{type(err).__name__}: {str(err)[:500]}"}


if __name__ == "__main__":
    sys.exit(main())
