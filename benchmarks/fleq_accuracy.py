"""Accuracy of the FLEQ calculator, measured through the transformer.

    python benchmarks/fleq_accuracy.py [--inputs 10000] [--batch 500] [--backend fast]

Runs programs/fleq/calculator.asm on `--inputs` random (x, y) with |x|, |y| log-uniform in
[1e-6, 1e6] and random signs, in batches through `engine.run` (many cards per call), and reports
the largest relative error of every output against float64 NumPy (the target: 1e-4 on every
output). `root` is judged on the inputs with x > 0 (for x < 0 the program leaves it exactly 0,
which is checked too). Then `--zero-y` inputs with y = 0 must each fault (x / 0 has no value).
The blocks' own errors are benchmarks/fleq_faults.py's. Prints JSON, writes
benchmarks/results/fleq_accuracy.json and a plot of relative error against |x y| (root: x).
"""

from __future__ import annotations

import argparse
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

import numpy as np

from benchmarks.common import ROOT, emit

CALCULATOR = ROOT / "programs" / "fleq" / "calculator.asm"
TARGET = 1e-4
OUTPUTS = ("sum", "diff", "prod", "quot", "root")


def random_inputs(count: int, rng, decades: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    magnitude = lambda: 10.0 ** rng.uniform(-decades, decades, count)  # noqa: E731
    sign = lambda: rng.choice([-1.0, 1.0], count)  # noqa: E731
    return sign() * magnitude(), sign() * magnitude()


def run_batches(settings: list[dict], batch: int, backend: str) -> list:
    from looped import engine
    from looped.assembler import assemble_file

    program = assemble_file(CALCULATOR)
    results = []
    for start in range(0, len(settings), batch):
        results += engine.run([program.with_settings(s) for s in settings[start : start + batch]], backend=backend)
    return results


def relative(got, want) -> np.ndarray:
    got, want = np.asarray(got, float), np.asarray(want, float)
    return np.abs(got - want) / np.abs(want)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=10_000)
    ap.add_argument("--zero-y", type=int, default=20)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--backend", default="fast")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x, y = random_inputs(args.inputs, rng)
    started = time.perf_counter()
    results = run_batches([{"x": float(a), "y": float(b)} for a, b in zip(x, y)], args.batch, args.backend)
    seconds = time.perf_counter() - started
    statuses = np.array([r.status for r in results])
    halted = statuses == "halted"
    got = {name: np.array([r.outputs[name] if r.status == "halted" else np.nan for r in results]) for name in OUTPUTS}
    positive = x > 0
    with np.errstate(invalid="ignore"):
        exact = {"sum": x + y, "diff": x - y, "prod": x * y, "quot": x / y, "root": np.sqrt(np.abs(x))}
    errors = {name: relative(got[name], want) for name, want in exact.items()}
    errors["root"] = np.where(positive, errors["root"], np.nan)
    table = {name: float(np.nanmax(e)) for name, e in errors.items()}

    zx = random_inputs(args.zero_y, rng)[0]
    zero = run_batches([{"x": float(a), "y": 0.0} for a in zx], args.batch, args.backend) if args.zero_y else []
    zero_faults = [r.fault["block"] for r in zero if r.status == "fault"]
    data = {
        "command": "python benchmarks/fleq_accuracy.py" + (f" --inputs {args.inputs}" if args.inputs != 10_000 else ""),
        "backend": args.backend,
        "inputs": args.inputs,
        "domain": "|x|, |y| log-uniform in [1e-6, 1e6], random signs; root judged where x > 0",
        "statuses": {s: int((statuses == s).sum()) for s in set(statuses.tolist())},
        "max_relative_error": table,
        "target": TARGET,
        "all_halted": bool(halted.all()),
        "root_zero_for_negative_x": bool(np.all(got["root"][~positive & halted] == 0.0)),
        "all_within_target": bool(halted.all()) and all(v <= TARGET for v in table.values()),
        "y_zero": {"runs": len(zero), "faults": len(zero_faults), "blocks": sorted(set(zero_faults)),
                   "all_fault": len(zero_faults) == len(zero)},
        "calculator_seconds": seconds,
        "steps": int(sum(r.steps for r in results)),
    }

    def plot(plt):
        fig, ax = plt.subplots(figsize=(9, 5))
        for name in OUTPUTS:
            scale = np.abs(x) if name == "root" else np.abs(x * y)
            e = errors[name]
            ok = np.isfinite(e)
            ax.loglog(scale[ok], np.maximum(e[ok], 1e-18), ".", ms=2,
                      label=f"{name} (worst {table[name]:.1e}{', exact: shown at 1e-18' if table[name] == 0 else ''})")
        ax.axhline(TARGET, color="k", lw=0.8, ls="--", label="target 1e-4")
        ax.set_xlabel("|x y| (root: x)")
        ax.set_ylabel("relative error (floored at 1e-18)")
        ax.set_title(f"calculator.asm on the transformer: {args.inputs} inputs, |x|, |y| in [1e-6, 1e6]")
        ax.legend(fontsize=8, markerscale=4)
        return fig

    return emit("fleq_accuracy", data, plot)


if __name__ == "__main__":
    main()
