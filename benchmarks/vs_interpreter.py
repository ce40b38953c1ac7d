"""The transformer against a plain Python SUBLEQ interpreter on the same programs: instructions/s
of both, and their ratio, for small and wide cards, a batch of 64 and one card at a time (issue 12).

    python benchmarks/vs_interpreter.py [--backend fast,native] [--quick] [--seed 0] [--one-card 64]

On an AVX-512 CPU the native kernel is also built for AVX2 (-march=x86-64-v3) and measured in
the same run, in a second process (`native-avx2`: the code an AVX2-only machine gets), so that
one run gives both vector paths; the must-shows are judged on each (`must_show`: the best
evaluator here; `must_show_avx2`: the best of fast and the AVX2 build).

Cases (64 random programs each, none halts before its step count, so every program runs exactly
that many instructions on both sides; the counts are checked, not assumed):
- small: 32-column cards (8 cells + 2 constants, 20 instructions + halt, scratchpad), 8-bit, 400 steps;
- wide: 100-column cards (24 cells + 2 constants, 72 instructions + halt, scratchpad), 16-bit, 2,000 steps.

The transformer runs through `looped.engine.run` (what `looped run` calls), as one batch of the
64 cards and as 64 calls of one card; its time is the whole call (encoding, the runner, decoding),
compiling excluded (a warm-up call with the same shapes first). The interpreter is the tightest
plain-Python loop over lists (`interpret`), about 3x faster than the oracle (looped/machines/subleq/oracle.py).
Timings are medians of interleaved rounds (interpreter, batch, one card, one call's fixed cost),
so that load drifts on a shared machine hit all alike; a round repeats the short ones (about 0.1 s)
and takes their median. Every final memory, pc and step count is compared between the two.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks.common import emit

# name: (columns, bits, steps, user cells, instructions); columns = 1 + (cells + 2) + (instructions + 1)
CASES = {
    "small": (32, 8, 400, 8, 20),
    "wide": (100, 16, 2000, 24, 72),
}
PROGRAMS = 64
# Issue 12's "must show": the transformer's instructions/s over the interpreter's, at least.
THRESHOLDS = {("batch", "small"): 0.2, ("batch", "wide"): 0.05,
              ("one_card", "small"): 0.025, ("one_card", "wide"): 0.012}


def interpret(memory: list, code: list, halt: int, max_steps: int, bits: int):
    """SUBLEQ as looped/machines/subleq/oracle.py defines it (Harvard: `code` [(a, b, c)] indexes instructions,
    a and b index `memory`): mem[b] = wrap(mem[b] - mem[a]) to `bits`-bit two's complement, then
    go to c when the new mem[b] <= 0, else to the next instruction; stop at pc == halt or after
    `max_steps`. Memory values must be in range (as every program's are), so one wrap suffices.
    Returns (memory, pc, steps executed); `memory` is changed in place."""
    m, pc, mod = memory, 0, 1 << bits
    hi, lo = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    for steps in range(max_steps):
        if pc == halt:
            return m, pc, steps
        a, b, c = code[pc]
        v = m[b] - m[a]
        if v > 0:
            if v > hi:  # wraps to a negative value: jump
                m[b] = v - mod
                pc = c
            else:
                m[b] = v
                pc += 1
        elif v < lo:  # wraps to a positive value: next
            m[b] = v + mod
            pc += 1
        else:
            m[b] = v
            pc = c
    return m, pc, max_steps


def interpreter_inputs(programs) -> list:
    """(memory, code, halt) per program: the interpreter's plain lists, built once."""
    return [(list(p.memory), [(i.a, i.b, i.c) for i in p.code], p.halt_index) for p in programs]


def case_programs(case: str, seed: int) -> list:
    from looped.machines.subleq.card import card_width
    from looped.machines.subleq.random_programs import long_random_programs

    columns, bits, steps, cells, code = CASES[case]
    programs = long_random_programs(seed, PROGRAMS, bits, min_steps=steps, n_cells=cells, n_code=code)
    assert {card_width(p) for p in programs} == {columns}
    return programs


def measure(case: str, backend: str, seed: int, one_card: int, rounds: int) -> dict:
    from looped.engine import run

    columns, bits, steps, _, _ = CASES[case]
    programs = case_programs(case, seed)
    singles = programs[:one_card]
    inputs = interpreter_inputs(programs)
    out = {}

    def interpreter():
        out["interpreter"] = [interpret(list(m), code, halt, steps, bits) for m, code, halt in inputs]

    def batch():
        out["batch"] = run(programs, backend=backend, max_steps=steps)

    def single():
        out["one_card"] = [run([p], backend=backend, max_steps=steps)[0] for p in singles]

    def overhead():  # one call that runs one instruction: the fixed cost of an engine.run call
        run(singles[:1], backend=backend, max_steps=1)

    fns = {"interpreter": interpreter, "batch": batch, "one_card": single, "overhead": overhead}
    t = time.perf_counter()
    batch(), overhead()  # compiles (or loads) the loop for 64 cards and for one card
    warmup_s = time.perf_counter() - t
    # Short functions run several times a round (about 0.1 s), each round giving its median: one
    # burst of other work on the machine then spoils one run, not the round.
    inner = {}
    for k, fn in fns.items():
        t = time.perf_counter()
        fn()
        inner[k] = max(1, min(50, round(0.1 / (time.perf_counter() - t))))
    samples = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times = []
            for _ in range(inner[k]):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            samples[k].append(statistics.median(times))
    seconds = {k: statistics.median(v) for k, v in samples.items()}

    # Exactly the same instructions on both sides: final memory, pc and step count, card by card.
    interpreted = out["interpreter"]
    agree = {
        mode: all(r.memory == m and r.pc == pc and r.steps == s for r, (m, pc, s) in zip(out[mode], interpreted))
        for mode in ("batch", "one_card")
    }
    executed = {"interpreter": sum(s for _, _, s in interpreted),
                "batch": sum(r.steps for r in out["batch"]),
                "one_card": sum(r.steps for r in out["one_card"])}
    assert all(s == steps for _, _, s in interpreted), "a program halted before its step count"
    interp_ips = executed["interpreter"] / seconds["interpreter"]
    overhead_s = seconds["overhead"]
    modes = {}
    for mode, calls in (("batch", 1), ("one_card", len(singles))):
        ips = executed[mode] / seconds[mode]
        ratio = ips / interp_ips
        modes[mode] = {
            "cards_per_call": len(programs) if mode == "batch" else 1,
            "cards": len(programs) if mode == "batch" else len(singles),
            "seconds": seconds[mode],
            "us_per_card_instruction": 1e6 / ips,
            # the same without the fixed cost of each engine.run call (encode, dispatch, decode)
            "us_per_card_instruction_excl_call": 1e6 * max(seconds[mode] - calls * overhead_s, 0.0) / executed[mode],
            "instr_per_s": ips,
            "interpreter_instr_per_s": interp_ips,
            "ratio": ratio,
            "threshold": THRESHOLDS[(mode, case)],
            "must_show": ratio >= THRESHOLDS[(mode, case)],
            "results_agree": agree[mode],
        }
    return {
        "columns": columns, "bits": bits, "steps_each": steps, "programs": len(programs),
        "one_card_programs": len(singles), "one_card_subset": len(singles) < len(programs),
        "interpreter_instr_per_s": interp_ips, "engine_call_overhead_ms": 1e3 * overhead_s,
        "warmup_s": warmup_s, "batch": modes["batch"], "one_card": modes["one_card"],
        "seconds_samples": samples, "runs_per_sample": inner,
    }


def measure_cases(backend: str, seed: int, one_card: int, rounds: int) -> dict:
    """`measure` of every case (small: seed, wide: seed + 1) for one backend."""
    return {case: measure(case, backend, seed + i, one_card, rounds) for i, case in enumerate(CASES)}


# The AVX2 build measured beside the native one on an AVX-512 CPU (issue 21): its name here.
AVX2_BUILD = "native-avx2"
AVX2_MARCH = "x86-64-v3"


def vector_path(avx2_beside: bool) -> str:
    """Which vector code the native figures are of: the JSON's machine.native_target has the
    target's flags and code shape."""
    from benchmarks.common import cpu_info

    if os.environ.get("LOOPED_NATIVE_MARCH"):
        return f"native built for -march={os.environ['LOOPED_NATIVE_MARCH']} (LOOPED_NATIVE_MARCH)"
    if cpu_info()["avx512"]:
        return ("AVX-512 CPU: native is its -march=native build" +
                (f"; {AVX2_BUILD} is the -march={AVX2_MARCH} (AVX2) build, measured in a second process "
                 "in the same run" if avx2_beside else ""))
    return "AVX2-only CPU (no AVX-512): native is the AVX2 build; AVX-512 figures cannot be measured here"


def avx2_build_wanted(backends: list[str]) -> bool:
    """Whether to measure the AVX2 build beside the native one: on an AVX-512 CPU, when native is
    measured and its target is not chosen by hand."""
    from benchmarks.common import cpu_info

    return "native" in backends and cpu_info()["avx512"] and not os.environ.get("LOOPED_NATIVE_MARCH")


def measure_avx2_build(seed: int, one_card: int, rounds: int) -> dict:
    """`measure` of every case for native built with -march=x86-64-v3, in a second process (the
    target is fixed when a process first builds the kernel), on the same programs."""
    env = {**os.environ, "LOOPED_NATIVE_MARCH": AVX2_MARCH}
    args = [sys.executable, str(Path(__file__).resolve()), "--cases-only", "--backend", "native",
            "--seed", str(seed), "--one-card", str(one_card), "--rounds", str(rounds)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def default_backends() -> str:
    """The CPU evaluators this machine offers: `fast`, and `native` where a C++ compiler builds it."""
    import kernels

    return ",".join(b for b in ("fast", "native") if b in kernels.available_backends())


def main(quick: bool = False, backend: str | None = None, seed: int = 0, one_card: int | None = None) -> dict:
    """`backend`: one backend, or several separated by commas (each measured on the same programs;
    `best` then says which evaluator is fastest per case, and the must-shows are judged on it).
    Default: every CPU evaluator offered here (`default_backends`)."""
    backend = backend or default_backends()
    backends = [b.strip() for b in backend.split(",") if b.strip()]
    one_card = min(PROGRAMS, one_card or (16 if quick else PROGRAMS))
    rounds = 3 if quick else 5
    runs = {b: measure_cases(b, seed, one_card, rounds) for b in backends}
    avx2_beside = avx2_build_wanted(backends)
    if avx2_beside:
        runs[AVX2_BUILD] = measure_avx2_build(seed, one_card, rounds)
        backends = backends + [AVX2_BUILD]
    keys = [(mode, case) for case in CASES for mode in ("batch", "one_card")]
    ratios = {b: {f"{m}_{c}": runs[b][c][m]["ratio"] for m, c in keys} for b in backends}

    def judged(among):
        best = {f"{m}_{c}": max(among, key=lambda b: ratios[b][f"{m}_{c}"]) for m, c in keys}
        best_ratios = {k: ratios[b][k] for k, b in best.items()}
        return best, best_ratios, {f"{m}_{c}": best_ratios[f"{m}_{c}"] >= THRESHOLDS[(m, c)] for m, c in keys}

    best, best_ratios, must_show = judged(backends)
    avx2 = {}
    if avx2_beside:  # the AVX2 path: what an AVX2-only machine would run (fast, and the AVX2 build)
        best2, ratios2, shows2 = judged([b for b in backends if b != "native"])
        avx2 = {"best_avx2": {k: {"backend": best2[k], "ratio": ratios2[k]} for k in best2},
                "must_show_avx2": shows2}

    def plot(plt):
        labels = list(best_ratios)
        fig, ax = plt.subplots(figsize=(7, 1.2 + 0.9 * len(labels)))
        height = 0.8 / len(backends)
        for j, b in enumerate(backends):
            ys = [i + j * height for i in range(len(labels))]
            vals = [ratios[b][k] for k in labels]
            ax.barh(ys, vals, height=height, label=b)
            for y, v in zip(ys, vals):
                ax.text(v, y, f" {v:.3g}x", va="center", fontsize=7)
        for i, k in enumerate(labels):
            mode, case = k.rsplit("_", 1)
            ax.plot([THRESHOLDS[(mode, case)]] * 2, [i - height / 2, i + 0.8 - height / 2], color="black", lw=2)
        ax.set_yticks([i + 0.4 - height / 2 for i in range(len(labels))], labels)
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.legend(fontsize=7)
        ax.set_xlabel("transformer / Python interpreter, instructions/s (black: issue 12's bar)")
        return fig

    return emit("vs_interpreter", {
        "backends": backends, "quick": quick, "seed": seed, "vector_path": vector_path(avx2_beside),
        "ratios": ratios[backends[0]] if len(backends) == 1 else ratios,
        "best": {k: {"backend": best[k], "ratio": best_ratios[k]} for k in best}, "must_show": must_show, **avx2,
        "results_agree": all(runs[b][c][m]["results_agree"] for b in backends for m, c in keys),
        "cases": runs[backends[0]] if len(backends) == 1 else runs,
    }, plot)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default=None,
                    help="kernel backend(s) (kernels.BACKENDS), comma-separated, e.g. fast,native; "
                         "default: fast, and native where a C++ compiler builds it")
    ap.add_argument("--quick", action="store_true", help="3 rounds, 16 one-card programs")
    ap.add_argument("--seed", type=int, default=0, help="random programs' seed (small: seed, wide: seed + 1)")
    ap.add_argument("--one-card", type=int, default=None,
                    help="how many of the 64 programs run one at a time (default all; --quick: 16)")
    ap.add_argument("--cases-only", action="store_true",
                    help="(internal) print the cases' measurements of one backend as one JSON line, save nothing")
    ap.add_argument("--rounds", type=int, default=None, help="(internal, with --cases-only) rounds")
    args = ap.parse_args()
    if args.cases_only:
        one = min(PROGRAMS, args.one_card or PROGRAMS)
        print(json.dumps(measure_cases(args.backend, args.seed, one, args.rounds or (3 if args.quick else 5))))
    else:
        main(args.quick, args.backend, args.seed, args.one_card)
