"""The transformer against plain interpreters on the same programs: the oracle (pure Python, one
program at a time) and a NumPy-vectorised batch interpreter (all programs in lock-step).

    python benchmarks/vs_interpreter.py [--quick]
"""

from __future__ import annotations

import argparse
import sys

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

import numpy as np

from benchmarks.common import emit, median_time

BITS = 8


def numpy_batch_interpreter(programs, max_steps: int):
    """SUBLEQ for a batch in lock-step with NumPy gathers/scatters: memory [B, M], code [B, C, 3]."""
    B = len(programs)
    M = max(len(p.memory) for p in programs)
    C = max(len(p.code) for p in programs)
    mem = np.zeros((B, M), np.int64)
    code = np.zeros((B, C, 3), np.int64)
    halt = np.array([p.halt_index for p in programs])
    for i, p in enumerate(programs):
        mem[i, : len(p.memory)] = p.memory
        code[i, : len(p.code)] = [(ins.a, ins.b, ins.c) for ins in p.code]
    pc = np.zeros(B, np.int64)
    steps = np.zeros(B, np.int64)
    rows = np.arange(B)
    mod, half = 1 << BITS, 1 << (BITS - 1)
    for _ in range(max_steps):
        active = pc != halt
        if not active.any():
            break
        a, b, c = code[rows, pc].T
        value = (mem[rows, b] - mem[rows, a] + half) % mod - half
        mem[rows, b] = np.where(active, value, mem[rows, b])
        pc = np.where(active, np.where(value <= 0, c, pc + 1), pc)
        steps += active
    return mem, pc, steps


def main(quick: bool = False) -> dict:
    from looped import oracle
    from looped.engine import run
    from looped.random_programs import long_random_programs

    count, steps = (64, 200) if quick else (64, 1000)
    progs = long_random_programs(2, count, BITS, min_steps=steps, n_cells=8, n_code=16)
    total = count * steps
    t_oracle = median_time(lambda: [oracle.run(p, max_steps=steps) for p in progs], repeats=3)
    t_numpy = median_time(lambda: numpy_batch_interpreter(progs, steps), repeats=3)
    t_fast = median_time(lambda: run(progs, backend="fast", max_steps=steps, n=32), repeats=3)
    # The three agree (the transformer's results against both interpreters).
    mem, pc, st = numpy_batch_interpreter(progs, steps)
    results = run(progs, backend="fast", max_steps=steps, n=32)
    agree = all(r.memory == list(mem[i, : len(p.memory)]) == oracle.run(p, max_steps=steps).memory
                for i, (p, r) in enumerate(zip(progs, results)))
    ips = {"oracle_python": total / t_oracle, "numpy_batch": total / t_numpy, "transformer_fast_batch": total / t_fast}

    def plot(plt):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.barh(list(ips), list(ips.values()))
        ax.set_xscale("log")
        ax.set_xlabel(f"instructions / s ({count} programs x {steps} steps)")
        return fig

    return emit("vs_interpreter", {
        "programs": count, "steps_each": steps, "bits": BITS, "instr_per_s": ips,
        "transformer_vs_oracle": ips["transformer_fast_batch"] / ips["oracle_python"],
        "transformer_vs_numpy": ips["transformer_fast_batch"] / ips["numpy_batch"],
        "results_agree": agree,
    }, plot)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
