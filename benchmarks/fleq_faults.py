"""FLEQ never answers silently wrong: every result is within its block's stated error, or a fault.

    python benchmarks/fleq_faults.py [--per-block 10000] [--per-program 40] [--backend fast]

Part 1, the blocks: for every function block, `--per-block` one-instruction programs (`OP c, a, b`
on scalars) with operands log-uniform in magnitude from 1e-9 to 1e9 and random signs (`scale`:
half of its b integers in [-80, 80], half any real), run through the transformer as one batch per
block. Each result is compared with the exact float64 function: it is *correct* when within the
block's stated error (BLOCK_ERROR, docs/fleq.md), a *fault* when the machine reported one
(status "fault"), else a *silent wrong answer*, the defect this benchmark counts.

Part 2, the programs: every program in programs/fleq with `--per-program` random settings of its
inputs, half of them scaled into the program's documented domain and half with entries
log-uniform from 1e-9 to 1e9; each run must fault or agree with the plain float64 interpreter
(looped/machines/fleq/oracle.py) within 1e-4 of the output's size (the programs' loops compound
the blocks' errors: the contract's 1e-4), else it is a silent wrong answer. A run that reaches
its step limit on both sides counts as agreeing on the limit.

Prints JSON, writes benchmarks/results/fleq_faults.json and a plot of the error against the
input magnitude.
"""

from __future__ import annotations

import argparse
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

import numpy as np

from benchmarks.common import ROOT, emit

# Each block's stated error for one instruction (docs/fleq.md): |got - exact| <= rel * scale + abs,
# scale = |exact| (matmul: |a b|, and a floor of abs_a * |a| from the read-out's rounding).
BLOCK_ERROR = {
    "add": (0.0, 0.0), "sub": (0.0, 0.0), "mov": (0.0, 0.0), "transpose": (0.0, 0.0),
    "exponent": (0.0, 0.0), "scale": (0.0, 0.0),
    "mul": (5e-6, 5e-10), "matmul": (1e-6, 0.0), "sigmoid": (0.0, 1e-15),
    "recip": (3.75e-3, 1e-11), "rsqrt": (1.41e-3, 1e-11),
}
MATMUL_FLOOR = 1e-11  # times |a|: the read-out's rounding (looped/blocks/matmul.py)
UNARY = ("mov", "transpose", "recip", "rsqrt", "sigmoid", "exponent")
PROGRAM_TOLERANCE = 1e-4


def one_instruction(fn: str) -> str:
    operands = "c, a" if fn in UNARY else "c, a, b"
    return f".isa fleq\n.data\na: 1\nb: 1\nc: 0\n.code\n        {fn} {operands}\n"


def operands(fn: str, count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    magnitude = lambda: 10.0 ** rng.uniform(-9, 9, count)  # noqa: E731
    sign = lambda: rng.choice([-1.0, 1.0], count)  # noqa: E731
    a, b = sign() * magnitude(), sign() * magnitude()
    if fn == "scale":
        whole = rng.random(count) < 0.5
        b = np.where(whole, rng.integers(-80, 81, count).astype(float), b)
    return a, b


def exact(fn: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from looped.machines.fleq.program import apply_function

    return np.array([apply_function(fn, np.array([[x]]), np.array([[y]]))[0, 0] for x, y in zip(a, b)])


def allowed(fn: str, a, b, want) -> np.ndarray:
    rel, absolute = BLOCK_ERROR[fn]
    if fn == "matmul":
        return rel * np.abs(a * b) + MATMUL_FLOOR * np.abs(a)
    return rel * np.abs(want) + absolute


def run_block(fn: str, count: int, rng, backend: str) -> dict:
    from looped import engine
    from looped.assembler import assemble

    program = assemble(one_instruction(fn), f"<{fn}>")
    a, b = operands(fn, count, rng)
    programs = [program.with_settings({"a": float(x), "b": float(y)}) for x, y in zip(a, b)]
    started = time.perf_counter()
    results = engine.run(programs, backend=backend)
    seconds = time.perf_counter() - started
    faulted = np.array([r.status == "fault" for r in results])
    got = np.array([r.outputs["c"] for r in results])
    want = exact(fn, a, b)
    error = np.abs(got - want)
    within = error <= allowed(fn, a, b, want)
    silent = ~faulted & ~within
    examples = [{"a": float(a[i]), "b": float(b[i]), "got": float(got[i]), "exact": float(want[i])}
                for i in np.flatnonzero(silent)[:5]]
    relative = np.where(faulted, np.nan, error / np.maximum(np.abs(want), 1e-300))
    return {"programs": count, "faults": int(faulted.sum()), "correct": int((~faulted & within).sum()),
            "silent_wrong": int(silent.sum()), "silent_examples": examples, "seconds": seconds,
            "largest_relative_error_when_not_faulted": float(np.nanmax(relative)) if (~faulted).any() else None,
            "_plot": (np.abs(a * b) if fn in ("mul", "matmul") else np.abs(a), relative, faulted)}


# ---- part 2: the programs ---------------------------------------------------------------------------


def program_settings(program, rng, in_domain: bool) -> dict:
    """Random values for every user value: in-domain ones like the program's own data (its
    entries scaled by a factor in [0.5, 2] with their signs), or entries log-uniform in 1e-9..1e9."""
    out = {}
    for name, value in program.user_values.items():
        current = program.value_of(program.memory, name)
        if in_domain:
            new = current * rng.uniform(0.5, 2.0, current.shape)
        else:
            new = rng.choice([-1.0, 1.0], current.shape) * 10.0 ** rng.uniform(-9, 9, current.shape)
        h, w = value.shape
        out[name] = float(new[0, 0]) if (h, w) == (1, 1) else new[:, 0].tolist() if w == 1 else new.tolist()
    return out


def agrees(program, got: dict, want_memory, tolerance: float) -> bool:
    for name, value in got.items():
        machine = np.asarray(value, float)
        oracle = np.asarray(program.value_of(want_memory, name), float).reshape(machine.shape)
        if not np.all(np.isfinite(oracle)):
            return False
        scale = max(np.max(np.abs(oracle)), 1e-300)
        if np.max(np.abs(machine - oracle)) > tolerance * max(scale, 1.0):
            return False
    return True


def run_programs(per_program: int, rng, backend: str, max_steps: int) -> dict:
    from looped import engine
    from looped.assembler import assemble_file
    from looped.machines.fleq import oracle

    out = {}
    for path in sorted((ROOT / "programs" / "fleq").glob("*.asm")):
        base = assemble_file(str(path))
        runs = [base.with_settings(program_settings(base, rng, k % 2 == 0)) for k in range(per_program)]
        started = time.perf_counter()
        results = engine.run(runs, backend=backend, max_steps=max_steps)
        seconds = time.perf_counter() - started
        counts = {"runs": len(runs), "faults": 0, "agree": 0, "silent_wrong": 0, "both_step_limit": 0}
        examples = []
        for k, (program, result) in enumerate(zip(runs, results)):
            if result.status == "fault":
                counts["faults"] += 1
                continue
            with np.errstate(all="ignore"):
                state = oracle.run(program, max_steps=max_steps)
            if result.status == "step_limit" and state.status == "step_limit":
                counts["both_step_limit"] += 1
            elif result.status == state.status and agrees(program, result.outputs, state.memory, PROGRAM_TOLERANCE):
                counts["agree"] += 1
            else:
                counts["silent_wrong"] += 1
                if len(examples) < 3:
                    examples.append({"in_domain": k % 2 == 0, "status": result.status, "oracle": state.status})
        out[path.name] = {**counts, "silent_examples": examples, "seconds": seconds}
    return out


def main(argv=None) -> dict:
    from looped.machines.fleq.program import FUNCTIONS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-block", type=int, default=10_000)
    ap.add_argument("--per-program", type=int, default=40)
    ap.add_argument("--max-steps", type=int, default=20_000)
    ap.add_argument("--backend", default="fast")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--blocks", default=",".join(FUNCTIONS))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    blocks = {fn: run_block(fn, args.per_block, rng, args.backend) for fn in args.blocks.split(",")}
    plots = {fn: r.pop("_plot") for fn, r in blocks.items()}
    programs = run_programs(args.per_program, rng, args.backend, args.max_steps) if args.per_program else {}
    silent = sum(r["silent_wrong"] for r in blocks.values()) + sum(r["silent_wrong"] for r in programs.values())
    data = {
        "command": "python benchmarks/fleq_faults.py" + "".join(
            f" --{k.replace('_', '-')} {v}" for k, v in (("per_block", args.per_block), ("per_program", args.per_program))
            if v != {"per_block": 10_000, "per_program": 40}[k]),
        "backend": args.backend,
        "operands": "log-uniform magnitude 1e-9..1e9, random signs (scale: half its b integers in [-80, 80])",
        "stated_error": {fn: {"relative": rel, "absolute": ab} for fn, (rel, ab) in BLOCK_ERROR.items()},
        "blocks": blocks,
        "programs": programs,
        "silent_wrong_total": silent,
        "zero_silent_wrong": silent == 0,
    }

    def plot(plt):
        fig, ax = plt.subplots(figsize=(9, 5))
        for fn, (x, rel, faulted) in plots.items():
            if fn in ("add", "sub", "mov", "transpose", "exponent", "scale"):
                continue
            ok = ~faulted
            ax.loglog(x[ok], np.maximum(rel[ok], 1e-18), ".", ms=2, label=f"{fn} ({faulted.sum()} faults)")
        ax.set_xlabel("input magnitude (|a b| for mul and matmul, |a| otherwise)")
        ax.set_ylabel("relative error of results not faulted (floored at 1e-18)")
        ax.set_title("FLEQ blocks, one instruction each: results returned are within the stated error")
        ax.legend(fontsize=8, markerscale=4)
        return fig

    return emit("fleq_faults", data, plot)


if __name__ == "__main__":
    main()
