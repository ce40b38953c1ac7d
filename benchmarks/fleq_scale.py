"""FLEQ at scale: the transformer's cost per instruction against the plain interpreter, N = 2 .. 64.

    python benchmarks/fleq_scale.py [--sizes 2,4,8,16,32,64] [--repeats 5] [--replot]

The program is the Newton-Schulz inverse of programs/fleq/linalg/generate.py (the same text for
every N; an N x N machine: W = H = N slots and rows). Each N runs in its own fresh process, so
that its peak memory (the process's peak RSS) and its first run (build the weights, trace,
compile, run; nothing cached: from Python the compiled-loop cache is off) are its own. In that
process, side by side:

* the transformer: `engine.run` of the program on the default backend (`fast`), after the first
  run, the fastest of `repeats` runs (medians recorded too), divided by the instructions executed;
* the interpreter: looped/machines/fleq/oracle.py on the same program, its runs interleaved with
  the transformer's (one of each per round: a shared machine's load hits both alike);
* their ratio, the first run, and the peak RSS.

`import jax` in a fresh process (median of 3) is measured in the same run: the first run of the
32 x 32 machine is held to at most 10x that. The growth of the cost per instruction from N = 8
to N = 64 is stated as the slope of log(time) against log(N).

Prints JSON, writes benchmarks/results/fleq_scale.json and fleq_scale.png.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks.common import ROOT, emit, interleaved_samples, log_log_slope

GOALS = {"8": 20.0, "32": 100.0, "64": 200.0}  # the most the ratio may be (issue 20)
PEAK_GOAL_GB = {"64": 4.0}
FIRST_RUN_GOAL = 10.0  # first run of the 32 x 32 machine, in units of `import jax`


def program_source(N: int) -> str:
    sys.path.insert(0, str(ROOT / "programs" / "fleq" / "linalg"))
    from generate import inverse

    return inverse(N)


def measure_one(N: int, repeats: int) -> dict:
    """In this (fresh) process: first run, steady per-instruction time, interpreter, peak RSS."""
    import resource

    started = time.perf_counter()
    from looped import engine
    from looped.assembler import assemble
    from looped.machines.fleq import oracle

    program = assemble(program_source(N), f"inverse_{N}x{N}")
    imported = time.perf_counter() - started
    started = time.perf_counter()
    result = engine.run([program])[0]
    first = time.perf_counter() - started
    assert result.status == "halted", result.status
    again = engine.run([program])[0]
    expected = oracle.run(program)
    steps = again.steps
    assert expected.steps == steps
    # Interleaved (one run of each per round), so that the load of a shared machine hits both
    # alike; the minimum is the figure least disturbed by it (the median is kept too).
    samples = interleaved_samples({"transformer": lambda: engine.run([program]), "interpreter": lambda: oracle.run(program)},
                                  repeats)
    runs, oracle_runs = samples["transformer"], samples["interpreter"]
    per_instruction, per_oracle = min(runs) / steps, min(oracle_runs) / steps
    error = float(abs(again.memory - expected.memory).max())
    from looped.machines.fleq.isa import FLEQ

    key = FLEQ.machine_key([program])
    layout = FLEQ.layout(key)
    heads, hidden, _ = FLEQ.machine_size(layout)
    return {
        "N": N, "steps": steps, "machine_key": list(key), "d": layout.d, "n": layout.n,
        "estimated_heads": heads, "estimated_hidden": hidden,
        "transformer_s_per_instruction": per_instruction, "interpreter_s_per_instruction": per_oracle,
        "ratio": per_instruction / per_oracle, "first_run_s": first, "imports_s": imported,
        "transformer_median_s_per_instruction": statistics.median(runs) / steps,
        "interpreter_median_s_per_instruction": statistics.median(oracle_runs) / steps,
        "ratio_of_medians": statistics.median(runs) / statistics.median(oracle_runs),
        "steady_run_s": min(runs), "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "max_abs_difference_to_interpreter": error,
    }


def in_subprocess(N: int, repeats: int) -> dict:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "fleq_scale.py"), "--one", str(N), "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"N": N, "error": (proc.stderr or proc.stdout)[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def import_jax_seconds(repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import jax"], check=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def plot(rows):
    def draw(plt):
        ok = [r for r in rows if "error" not in r]
        Ns = [r["N"] for r in ok]
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        left.loglog(Ns, [r["transformer_s_per_instruction"] * 1e3 for r in ok], "o-", label="transformer (fast)")
        left.loglog(Ns, [r["interpreter_s_per_instruction"] * 1e3 for r in ok], "s-", label="interpreter (oracle)")
        left.set_xlabel("N (N x N inverse machine)")
        left.set_ylabel("ms per instruction")
        left.set_xticks(Ns, [str(n) for n in Ns])
        left.legend()
        left.set_title("cost per instruction")
        right.loglog(Ns, [r["ratio"] for r in ok], "o-", label="ratio transformer / interpreter")
        right.loglog(Ns, [r["first_run_s"] for r in ok], "^-", label="first run (s)")
        right.loglog(Ns, [r["peak_rss_gb"] for r in ok], "v-", label="peak RSS (GB)")
        for N, goal in GOALS.items():
            right.plot([int(N)], [goal], "rx")
        for PEAK_N, goal in PEAK_GOAL_GB.items():
            right.plot([int(PEAK_N)], [goal], "gx")
        for ax in (left, right):
            ax.xaxis.set_minor_formatter(plt.NullFormatter())
        right.set_xticks(Ns, [str(n) for n in Ns])
        right.set_xlabel("N")
        right.legend(fontsize=8)
        right.set_title("ratio (red x: goals), first run, peak memory (green x: goal)")
        fig.tight_layout()
        return fig

    return draw


def main(sizes, repeats: int) -> dict:
    jax_s = import_jax_seconds()
    rows = [in_subprocess(N, repeats) for N in sizes]
    by_N = {str(r["N"]): r for r in rows if "error" not in r}
    checks = {}
    for N, goal in GOALS.items():
        if N in by_N:
            checks[f"ratio_{N}x{N}_at_most_{goal:g}"] = by_N[N]["ratio"] <= goal
    for N, goal in PEAK_GOAL_GB.items():
        if N in by_N:
            checks[f"peak_{N}x{N}_at_most_{goal:g}_GB"] = by_N[N]["peak_rss_gb"] <= goal
    if "32" in by_N:
        checks[f"first_run_32x32_at_most_{FIRST_RUN_GOAL:g}x_import_jax"] = by_N["32"]["first_run_s"] <= FIRST_RUN_GOAL * jax_s
    growth = None
    if "8" in by_N and "64" in by_N:
        pairs = [(int(N), r["transformer_s_per_instruction"]) for N, r in by_N.items() if 8 <= int(N) <= 64]
        growth = log_log_slope([p[0] for p in pairs], [p[1] for p in pairs])
    data = {
        "program": "Newton-Schulz inverse (programs/fleq/linalg/generate.py inverse(N))",
        "backend": "fast (default)",
        "import_jax_s": jax_s,
        "first_run_32x32_over_import_jax": by_N["32"]["first_run_s"] / jax_s if "32" in by_N else None,
        "growth_exponent_8_to_64": growth,
        "rows": rows,
        "checks": checks,
    }
    return emit("fleq_scale", data, plot(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,4,8,16,32,64")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--one", type=int, default=None, help="(internal) measure one N in this process")
    parser.add_argument("--replot", action="store_true", help="redraw the plot from the saved JSON")
    args = parser.parse_args()
    if args.replot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from benchmarks.common import RESULTS

        figure = plot(json.loads((RESULTS / "fleq_scale.json").read_text())["rows"])(plt)
        figure.savefig(RESULTS / "fleq_scale.png", dpi=110, bbox_inches="tight")
    elif args.one is not None:
        print(json.dumps(measure_one(args.one, args.repeats)))
    else:
        main([int(s) for s in args.sizes.split(",")], args.repeats)
