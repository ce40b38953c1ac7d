"""FLEQ never answers silently wrong: every result is within its block's stated error, or a fault.

    python benchmarks/fleq_faults.py [--per-block 10000] [--per-program 40] [--backend fast]

Part 1, the blocks: for every function block, `--per-block` one-instruction programs (`OP c, a, b`
on scalars) with operands log-uniform in magnitude from 1e-9 to 1e9 and random signs (`scale`:
half of its b integers in [-80, 80], half any real), run through the transformer in batches of
`--batch` cards per engine call. Each result is compared with the exact float64 function: it is
*correct* when within the block's stated bound (looped/blocks/bounds.py, the bound docs/fleq.md
states), a *fault* when the machine reported one (status "fault"), else a *silent wrong answer*,
the defect this benchmark counts. Faults are counted per block.

Part 2, the programs: every program in programs/fleq with `--per-program` random settings
(benchmarks/fleq_domains.py): half inside the program's documented domain, half with its
real-valued inputs log-uniform in magnitude from 1e-9 to 1e9 (mostly outside it). Each run must
fault or meet the program's documented criterion (derived from its blocks' bounds) against the
plain float64 interpreter (looped/machines/fleq/oracle.py, the same program with exact blocks),
else it is a silent wrong answer. A run that reaches its step limit on both sides is counted
apart.

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

from benchmarks import fleq_domains
from benchmarks.common import ROOT, emit

UNARY = ("mov", "transpose", "recip", "rsqrt", "sigmoid", "exponent")


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


def run_block(fn: str, count: int, rng, backend: str, batch: int) -> dict:
    from looped import engine
    from looped.assembler import assemble
    from looped.blocks import bounds

    program = assemble(one_instruction(fn), f"<{fn}>")
    a, b = operands(fn, count, rng)
    programs = [program.with_settings({"a": float(x), "b": float(y)}) for x, y in zip(a, b)]
    started = time.perf_counter()
    results = []
    for start in range(0, count, batch):
        results += engine.run(programs[start : start + batch], backend=backend)
    seconds = time.perf_counter() - started
    faulted = np.array([r.status == "fault" for r in results])
    got = np.array([r.outputs["c"] for r in results])
    want = exact(fn, a, b)
    error = np.abs(got - want)
    allowed = np.array([bounds.allowed(fn, np.array([[x]]), np.array([[y]]), np.array([[w]]))[0, 0]
                        for x, y, w in zip(a, b, want)])
    within = error <= allowed
    silent = ~faulted & ~within
    examples = [{"a": float(a[i]), "b": float(b[i]), "got": float(got[i]), "exact": float(want[i]),
                 "allowed": float(allowed[i])} for i in np.flatnonzero(silent)[:5]]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(faulted, np.nan, error / np.abs(want))
        of_bound = np.where(faulted, np.nan, np.where(error == 0, 0.0, error / allowed))
    returned = ~faulted
    return {"programs": count, "faults": int(faulted.sum()), "correct": int((returned & within).sum()),
            "silent_wrong": int(silent.sum()), "silent_examples": examples, "seconds": seconds,
            "largest_error_over_stated_bound": float(np.nanmax(of_bound)) if returned.any() else None,
            "largest_relative_error_when_not_faulted": float(np.nanmax(relative)) if returned.any() else None,
            "largest_absolute_error_when_not_faulted": float(np.max(error[returned])) if returned.any() else None,
            "_plot": (np.abs(a * b) if fn in ("mul", "matmul") else np.abs(a), error, of_bound, faulted)}


# ---- part 2: the programs ---------------------------------------------------------------------------


def judge(domain, settings: dict, got: dict, want: dict) -> tuple[bool, float]:
    """(every output within the program's criterion, the largest error as a fraction of it)."""
    allowed = domain.check(settings, want)
    worst = 0.0
    for name, bound in allowed.items():
        g = np.asarray(got[name], float).reshape(want[name].shape)
        if not np.all(np.isfinite(want[name])):
            return False, np.inf
        error = np.abs(g - want[name])
        bound = np.broadcast_to(np.asarray(bound, float), error.shape)
        if np.any(error > bound):
            return False, float(np.max(np.where(bound > 0, error / bound, np.inf)))
        with np.errstate(divide="ignore", invalid="ignore"):
            worst = max(worst, float(np.max(np.where(error == 0, 0.0, error / bound), initial=0.0)))
    return True, worst


def run_program(path, domain, runs: int, rng, backend: str, max_steps: int, batch: int) -> dict:
    from looped import engine
    from looped.assembler import assemble_file
    from looped.machines.fleq import oracle

    base = assemble_file(str(path))
    plan = [(k % 2 == 0) for k in range(runs)]
    chosen = [fleq_domains.settings(domain, rng, inside) for inside in plan]
    programs = [base.with_settings(s) for s in chosen]
    started = time.perf_counter()
    results = []
    for start in range(0, runs, batch):
        results += engine.run(programs[start : start + batch], backend=backend, max_steps=max_steps)
    seconds = time.perf_counter() - started
    side = {True: "in_domain", False: "out_of_domain"}
    counts = {s: {"runs": 0, "faults": 0, "within": 0, "silent_wrong": 0, "both_step_limit": 0} for s in side.values()}
    examples, worst = [], 0.0
    for inside, settings, program, result in zip(plan, chosen, programs, results):
        c = counts[side[inside]]
        c["runs"] += 1
        if result.status == "fault":
            c["faults"] += 1
            continue
        with np.errstate(all="ignore"):
            state = oracle.run(program, max_steps=max_steps)
        if result.status == "step_limit" and state.status == "step_limit":
            c["both_step_limit"] += 1
            continue
        want = {name: np.asarray(program.value_of(state.memory, name), float) for name in domain.check(settings, {
            name: np.asarray(program.value_of(state.memory, name), float) for name in program.user_values})}
        ok, ratio = (False, np.inf) if result.status != state.status else judge(domain, settings, result.outputs, want)
        if ok:
            c["within"] += 1
            worst = max(worst, ratio)
        else:
            c["silent_wrong"] += 1
            if len(examples) < 3:
                examples.append({"in_domain": inside, "status": result.status, "oracle": state.status,
                                 "settings": settings, "error_over_criterion": ratio})
    return {**counts, "criterion": domain.criterion, "largest_error_over_criterion": worst,
            "silent_examples": examples, "seconds": seconds}


def run_programs(per_program: int, rng, backend: str, max_steps: int, batch: int, only=None) -> dict:
    out = {}
    for name, domain in fleq_domains.PROGRAMS.items():
        if only and name not in only:
            continue
        runs = min(per_program, domain.runs) if domain.runs else per_program
        out[name] = run_program(ROOT / "programs" / "fleq" / name, domain, runs, rng, backend, max_steps, batch)
        print(name, {k: v for k, v in out[name].items() if k != "silent_examples"}, file=sys.stderr, flush=True)
    return out


def main(argv=None) -> dict:
    from looped.blocks import bounds
    from looped.machines.fleq.program import FUNCTIONS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-block", type=int, default=10_000)
    ap.add_argument("--per-program", type=int, default=40)
    ap.add_argument("--max-steps", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--backend", default="fast")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--blocks", default=",".join(FUNCTIONS))
    ap.add_argument("--programs", default="", help="comma-separated program names (default: all)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    blocks = {}
    for fn in (args.blocks.split(",") if args.per_block else []):
        blocks[fn] = run_block(fn, args.per_block, rng, args.backend, args.batch)
        print(fn, {k: v for k, v in blocks[fn].items() if k not in ("_plot", "silent_examples")}, file=sys.stderr,
              flush=True)
    plots = {fn: r.pop("_plot") for fn, r in blocks.items()}
    only = set(args.programs.split(",")) if args.programs else None
    programs = run_programs(args.per_program, rng, args.backend, args.max_steps, args.batch // 10, only) \
        if args.per_program else {}
    silent = sum(r["silent_wrong"] for r in blocks.values()) + sum(
        r[s]["silent_wrong"] for r in programs.values() for s in ("in_domain", "out_of_domain"))
    data = {
        "command": "python benchmarks/fleq_faults.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:])),
        "backend": args.backend,
        "operands": "log-uniform magnitude 1e-9..1e9, random signs (scale: half its b integers in [-80, 80])",
        "stated_error": "looped/blocks/bounds.py (docs/fleq.md, Function blocks)",
        "mul_bound_at_1e4": float(bounds.mul_allowed(1e4, 1.0) / 1e4),
        "blocks": blocks,
        "faults_per_block": {fn: r["faults"] for fn, r in blocks.items()},
        "programs": programs,
        "silent_wrong_total": silent,
        "zero_silent_wrong": silent == 0,
    }

    def plot(plt):
        fig, axes = plt.subplots(1, 2, figsize=(15, 5.5))
        for fn, (x, error, of_bound, faulted) in plots.items():
            shown = ~faulted & (error > 0)  # exact results (error 0) have no place on a log scale
            if fn in bounds.EXACT:
                continue
            label = f"{fn}: {faulted.sum()} faulted, {(~faulted & (error == 0)).sum()} exact, {shown.sum()} shown"
            axes[0].loglog(x[shown], error[shown], ".", ms=1.5, label=label)
            axes[1].loglog(x[shown], of_bound[shown], ".", ms=1.5, label=label)
        exact = ", ".join(f"{fn} {plots[fn][3].sum()}" for fn in plots if fn in bounds.EXACT)
        for ax in axes:
            ax.set_xlabel("input magnitude (|a b| for mul and matmul, |a| otherwise)")
        axes[0].set_ylabel("|got - exact| of the results returned (below 1e-30 not shown)")
        axes[0].set_title(f"FLEQ blocks, {args.per_block} one-instruction programs each, operands 1e-9..1e9")
        axes[1].axhline(1.0, color="k", lw=1, ls="--", label="the stated bound (looped/blocks/bounds.py)")
        axes[1].set_ylabel("error / stated bound (at most 1: within it; below 1e-12 not shown)")
        axes[1].set_title("the same, against each block's stated bound")
        # sigmoid's far tail (values near e^-700) has errors down to 1e-310: off these axes
        axes[0].set_ylim(1e-30, None)
        axes[1].set_ylim(1e-12, 10)
        axes[0].legend(fontsize=7, markerscale=5)
        axes[1].legend(fontsize=7, markerscale=5, loc="lower left")
        fig.text(0.5, 0.005, f"exact blocks (error 0 always) and their faults: {exact}", ha="center", fontsize=8)
        return fig

    # the blocks (part 1) and the programs (part 2) may run as two commands, each its own file
    return emit("fleq_faults" if args.per_block else "fleq_faults_programs", data, plot if plots else None)


if __name__ == "__main__":
    main()
