"""Accuracy of the FLEQ calculator and of each function block, measured through the transformer.

    python benchmarks/fleq_accuracy.py [--inputs 10000] [--batch 1000] [--backend fast]

Runs programs/fleq/calculator.asm on `--inputs` random (x, y) with |x|, |y| log-uniform in
[1e-6, 1e6] and random signs (root: x > 0), in batches through `engine.run`, and reports the
largest relative error of every output against float64 NumPy (the target: 1e-4 on every output).
It also runs each function block once per input (programs/fleq/blocks.asm: one instruction per
block, no refinement) on |x|, |y| in [0.01, 100], inside the blocks' domains, to measure the
blocks' own errors (rsqrt on |x|; for x < 0 the run faults at rsqrt, its last instruction). Prints JSON, writes
benchmarks/results/fleq_accuracy.json and a plot of relative error against |x y| or |x|.
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
BLOCKS = ROOT / "programs" / "fleq" / "blocks.asm"
TARGET = 1e-4


def random_inputs(count: int, seed: int = 0, decades: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    magnitude = lambda: 10.0 ** rng.uniform(-decades, decades, count)  # noqa: E731
    sign = lambda: rng.choice([-1.0, 1.0], count)  # noqa: E731
    return sign() * magnitude(), sign() * magnitude()


def run_batches(path, settings: list[dict], batch: int, backend: str, fault_ok: bool = False) -> list[dict]:
    from looped import engine
    from looped.assembler import assemble_file

    program = assemble_file(path)
    outputs = []
    for start in range(0, len(settings), batch):
        runs = [program.with_settings(s) for s in settings[start : start + batch]]
        for result in engine.run(runs, backend=backend):
            # blocks.asm's last instruction, rsqrt, faults for x <= 0 (after the others have run)
            assert result.status == "halted" or (fault_ok and result.fault["block"] == "rsqrt"), result.fault
            outputs.append(result.outputs)
    return outputs


def relative(got, want) -> np.ndarray:
    got, want = np.asarray(got, float), np.asarray(want, float)
    return np.abs(got - want) / np.abs(want)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--backend", default="fast")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    x, y = random_inputs(args.inputs, args.seed)
    started = time.perf_counter()
    calc = run_batches(CALCULATOR, [{"x": float(a), "y": float(b)} for a, b in zip(x, y)], args.batch, args.backend)
    positive = np.abs(x)
    roots = run_batches(CALCULATOR, [{"x": float(a), "y": float(b)} for a, b in zip(positive, y)], args.batch,
                        args.backend)
    seconds = time.perf_counter() - started
    exact = {"sum": x + y, "diff": x - y, "prod": x * y, "quot": x / y}
    errors = {name: relative([o[name] for o in calc], want) for name, want in exact.items()}
    errors["root"] = relative([o["root"] for o in roots], np.sqrt(positive))

    x, y = random_inputs(args.inputs, args.seed, decades=2.0)  # the blocks' domains
    positive = np.abs(x)
    blocks = run_batches(BLOCKS, [{"x": float(a), "y": float(b)} for a, b in zip(x, y)], args.batch, args.backend,
                         fault_ok=True)
    positive_blocks = run_batches(BLOCKS, [{"x": float(a), "y": 1.0} for a in positive], args.batch, args.backend)
    sig_in = np.sign(x) * np.log10(np.abs(x)) * 10  # sigmoid inputs spread over [-20, 20]
    sig = run_batches(BLOCKS, [{"x": float(a), "y": 1.0} for a in sig_in], args.batch, args.backend, fault_ok=True)
    block_errors = {
        "add": relative([o["s"] for o in blocks], x + y),
        "sub": relative([o["d"] for o in blocks], x - y),
        "mul": relative([o["p"] for o in blocks], x * y),
        "matmul": relative([o["m"] for o in blocks], x * y),
        "recip": relative([o["r"] for o in blocks], 1 / x),
        "rsqrt": relative([o["q"] for o in positive_blocks], 1 / np.sqrt(positive)),
        "sigmoid (absolute)": np.abs(np.array([o["g"] for o in sig]) - 1 / (1 + np.exp(-sig_in))),
        "mov": relative([o["c"] for o in blocks], x),
        "transpose": relative([o["t"] for o in blocks], x),
    }
    table = {name: float(e.max()) for name, e in errors.items()}
    calc_x, calc_y = random_inputs(args.inputs, args.seed)
    data = {
        "command": "python benchmarks/fleq_accuracy.py" + (f" --inputs {args.inputs}" if args.inputs != 10_000 else ""),
        "backend": args.backend,
        "inputs": args.inputs,
        "domain": "|x|, |y| log-uniform in [1e-6, 1e6], random signs; root on |x| (blocks: [0.01, 100])",
        "max_relative_error": table,
        "target": TARGET,
        "all_within_target": all(v <= TARGET for v in table.values()),
        "blocks_max_error": {name: float(e.max()) for name, e in block_errors.items()},
        "calculator_seconds": seconds,
    }

    def plot(plt):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for name, e in errors.items():
            axes[0].loglog(np.abs(calc_x * calc_y) if name != "root" else np.abs(calc_x), np.maximum(e, 1e-18), ".",
                           ms=2, label=name)
        axes[0].axhline(TARGET, color="k", lw=0.8, ls="--", label="target 1e-4")
        axes[0].set_xlabel("|x y| (root: x)")
        axes[0].set_ylabel("relative error")
        axes[0].set_title(f"calculator.asm on the transformer ({args.inputs} inputs)")
        axes[0].legend(fontsize=8, markerscale=4)
        for name in ("mul", "matmul", "recip", "rsqrt"):
            axes[1].loglog(np.abs(x * y) if name in ("mul", "matmul") else np.abs(x),
                           np.maximum(block_errors[name], 1e-18), ".", ms=2, label=name)
        axes[1].set_xlabel("|x y| (mul, matmul) or |x| (recip, rsqrt)")
        axes[1].set_title("single function blocks, no refinement")
        axes[1].legend(fontsize=8, markerscale=4)
        return fig

    return emit("fleq_accuracy", data, plot)


if __name__ == "__main__":
    main()
