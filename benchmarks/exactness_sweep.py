"""How wide a word each float type runs exactly: random programs over the full value range, run in
float32 and float64 at each word size, compared with the oracle after a fixed number of steps.

    python benchmarks/exactness_sweep.py [--quick]

Prints JSON: for each dtype and word size, the mismatching programs and the worst health figure
(distance of the corrected rows from {-1, 0, 1} before correction; the runner refuses above 0.2).
"""

from __future__ import annotations

import argparse
import sys

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks import plots
from benchmarks.common import emit

STEPS = 150


def sweep(dtype_name: str, bits_list, count: int) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import kernels
    from looped.machines.subleq import oracle
    from looped.machines.subleq.card import decode_memory, encode
    from looped.machines.subleq.isa import subleq_stack
    from looped.layout import subleq_layout
    from looped.machine import inverse_temperature
    from looped.machines.subleq.random_programs import long_random_programs
    from looped.runner import Loop

    if dtype_name == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.float32 if dtype_name == "float32" else jnp.float64
    rows = []
    for bits in bits_list:
        programs = long_random_programs(bits, count, bits, min_steps=STEPS, n_cells=12, n_code=20)
        n = 1 + len(programs[0].memory) + len(programs[0].code)
        layout = subleq_layout(0, 0, bits, n)
        step = kernels.make_step("fast", subleq_stack(layout), inverse_temperature(n, bits), dtype)
        loop = Loop(step, pc_token=0, pc_rows=layout["pc"].slice, health_bound=float("inf"), width=layout.n)  # measure, don't stop
        cards = [encode(p, subleq_layout(len(p.memory), len(p.code), bits, n)) for p in programs]
        state = loop.run(jnp.asarray(np.stack([c.X for c in cards]), dtype), [c.halt_token for c in cards],
                         max_steps=STEPS)
        X = np.asarray(state.X)
        wrong = sum(list(decode_memory(c.layout, X[i], len(p.memory))) != oracle.run(p, STEPS).memory
                    for i, (p, c) in enumerate(zip(programs, cards)))
        rows.append({"dtype": dtype_name, "bits": bits, "programs": count, "mismatches": int(wrong),
                     "worst_health": float(np.max(np.asarray(state.worst)))})
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main(quick: bool = False) -> dict:
    count = 16 if quick else 64
    f32 = sweep("float32", [16, 18, 20, 21, 22, 23, 24], count)
    f64 = sweep("float64", [32, 40, 48, 50, 52], count)
    exact = lambda rows: max((r["bits"] for r in rows if r["mismatches"] == 0 and r["worst_health"] < 0.2),  # noqa: E731
                             default=None)
    data = {"steps": STEPS, "rows": f32 + f64, "largest_exact_bits": {"float32": exact(f32), "float64": exact(f64)}}
    return emit("exactness_sweep", data, plots.of("exactness_sweep", data))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
