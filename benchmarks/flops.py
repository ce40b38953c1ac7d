"""Achieved FLOP/s of the kernels against the machine's measured float32 matmul peak.

FLOPs per instruction are counted from the compiled kernel (XLA's cost analysis of one vmapped
step: every dot, elementwise op and reduction the backend evaluates) and, for dense, also from the
layer formula by hand. The peak is the median rate of a large jnp matmul (precision HIGHEST).

    python benchmarks/flops.py [--quick]
"""

from __future__ import annotations

import argparse
import sys

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks import plots
from benchmarks.common import emit, median_time, step_loop


def matmul_peak(size: int, repeats: int = 5) -> dict:
    import jax
    import jax.numpy as jnp

    from kernels.common import PRECISION

    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
    f = jax.jit(lambda a: jnp.matmul(a, a, precision=PRECISION))
    t = median_time(lambda: f(a).block_until_ready(), repeats=repeats)
    return {"size": size, "seconds": t, "gflops": 2 * size**3 / t / 1e9}


def dense_formula_flops(stack, n: int) -> int:
    """Multiply-adds x 2 of the layer formula as written (every token a query)."""
    total = 0
    for lay in stack.layers:
        d = lay.d
        for h in lay.heads:
            k = h.wq.shape[1]
            total += 2 * n * d * (2 * k + d) + 2 * n * n * (k + d)
        total += 2 * n * d * lay.mlp.hidden * 2
    return total


def step_flops(backend: str, n: int, bits: int, batch: int) -> float:

    _, f, X0 = step_loop(backend, n, bits, batch=batch, steps=1)
    cost = f.lower(X0).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost.get("flops", 0.0)) / batch


def achieved(backend: str, n: int, bits: int, batch: int, repeats: int) -> dict:
    from looped.machine import build_machine

    steps = max(4, min(32, 20000 // (n * batch) + 4)) if backend != "dense" else 4
    run, _, _ = step_loop(backend, n, bits, batch=batch, steps=steps)
    t = median_time(run, repeats=repeats) / steps / batch  # seconds per card-instruction
    flops = step_flops(backend, n, bits, batch)
    out = {"backend": backend, "n": n, "batch": batch, "us_per_instruction": t * 1e6,
           "flops_per_instruction_xla": flops, "gflops_achieved": flops / t / 1e9}
    if backend == "dense":
        formula = dense_formula_flops(build_machine(n, bits).stack, n)
        out.update(flops_per_instruction_formula=formula, gflops_achieved_formula=formula / t / 1e9)
    return out


def main(quick: bool = False, bits: int = 16) -> dict:
    repeats = 3 if quick else 5
    peak = matmul_peak(1024 if quick else 2048, repeats)
    cases = [("dense", 256, 1), ("dense", 750, 1), ("fast", 750, 1), ("fast", 4096, 1), ("fast", 64, 64)]
    if quick:
        cases = [("dense", 256, 1), ("fast", 750, 1), ("fast", 64, 64)]
    rows = [achieved(b, n, bits, B, repeats) for b, n, B in cases]
    for r in rows:
        r["fraction_of_peak"] = r["gflops_achieved"] / peak["gflops"]
    data = {"bits": bits, "matmul_peak": peak, "kernels": rows,
            "note": "fast evaluates far fewer FLOPs than dense; its low fraction of peak "
                    "is memory traffic and per-op overhead, not arithmetic"}
    return emit("flops", data, plots.of("flops", data))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
