"""One command for a GPU machine (under 8 minutes): the exactness tests, then the benchmarks, with
matmul precision HIGHEST; figures go to $OUT (if set) and benchmarks/results/.

    python benchmarks/gpu_check.py            # on the GPU machine
    python benchmarks/gpu_check.py --quick    # a short run (also works on CPU, as a dry run)

It records the device, checks that the Pallas kernels run compiled (interpret=False) on a GPU, runs
tests/kernels/test_kernels.py, tests/kernels/test_batched.py, tests/test_batching.py, tests/test_sharding.py (which forces 8 CPU devices
in a subprocess), tests/test_exactness.py, tests/test_machine.py and tests/machines/subleq/test_programs.py, then benchmarks/run_all.py --quick (or the full set without
--quick), and writes gpu_check.json.
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-tests", action="store_true")
    args = ap.parse_args()
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
                                "tests/test_batching.py", "tests/test_sharding.py", "tests/test_exactness.py",
                                "tests/test_machine.py", "tests/machines/subleq/test_programs.py"],
                               capture_output=True, text=True, env=env, cwd=ROOT)
        report["tests"] = {"returncode": tests.returncode, "seconds": time.perf_counter() - t,
                           "tail": tests.stdout[-3000:] + tests.stderr[-2000:]}
        print(tests.stdout[-3000:], tests.stderr[-2000:], flush=True)

    t = time.perf_counter()
    bench = subprocess.run([sys.executable, "benchmarks/run_all.py"] + (["--quick"] if args.quick else []),
                           capture_output=True, text=True, env=env, cwd=ROOT)
    report["benchmarks"] = {"returncode": bench.returncode, "seconds": time.perf_counter() - t,
                            "stderr_tail": bench.stderr[-3000:]}
    results = Path(env.get("LOOPED_BENCH_RESULTS", ROOT / "benchmarks" / "results"))
    latest = results / "latest.json"
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
    ok = report.get("tests", {}).get("returncode", 0) == 0 and bench.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
