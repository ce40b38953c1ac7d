"""Shared helpers: timing (perf_counter, warm-up excluded, medians of repeats), programs, output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("LOOPED_BENCH_RESULTS", ROOT / "benchmarks" / "results"))


def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of fn() in seconds (fn must block until its result is ready)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleaved_times(fns: dict, repeats: int = 5, statistic=statistics.median) -> dict:
    """Median (or `statistic`) wall time of each fn, the repeats interleaved so that load drifts
    hit all alike."""
    samples = interleaved_samples(fns, repeats)
    return {k: statistic(v) for k, v in samples.items()}


def interleaved_samples(fns: dict, repeats: int = 5) -> dict:
    """Every wall time of each fn over `repeats` interleaved rounds (after one warm-up call)."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return times


def cpu_info() -> dict:
    """The CPU's model name and the vector extensions it offers (the native kernel's code, and
    XLA's, is built for them: AVX-512 and AVX2-only machines differ severalfold)."""
    from kernels.common import cpu_description

    cpu = cpu_description()
    model, flags = cpu["model"] or platform.processor() or "unknown", cpu["flags"]
    vector = sorted(f for f in flags if f.startswith(("avx", "sse", "fma", "amx", "neon", "asimd", "sve")))
    return {"cpu_model": model, "vector_flags": vector, "avx512": any(f.startswith("avx512") for f in flags),
            "l2_kib": _l2_kib()}


def _l2_kib() -> int | None:
    try:
        text = Path("/sys/devices/system/cpu/cpu0/cache/index2/size").read_text().strip()
        return int(text.rstrip("K")) if text.endswith("K") else int(text) // 1024
    except (OSError, ValueError):
        return None


def machine_info() -> dict:
    import jax

    info = cpu_info()  # (imports kernels, which sets XLA_FLAGS: kernels.common.prepare_xla_flags)
    return {
        **info,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(),
        "native_target": _native_target(),
    }


def _native_target() -> dict | None:
    try:
        from kernels import native

        return native.target_info()
    except Exception:  # noqa: BLE001 (a machine info field, never a reason to fail a benchmark)
        return None


def emit(name: str, data: dict, plot=None) -> dict:
    """Print JSON to stdout, save it under benchmarks/results/<name>.json, and a plot if given."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "machine": machine_info(), **data}
    text = json.dumps(data, indent=2)
    print(text)
    (RESULTS / f"{name}.json").write_text(text + "\n")
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = plot(plt)
        fig.savefig(RESULTS / f"{name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    return data


def step_loop(backend: str, n: int, bits: int, batch: int, steps: int, seed: int = 0):
    """A jitted function running `steps` instructions of `backend` on a batch of random cards of
    width n (the kernel's batch operations, as the runner uses them, in a fori_loop: the kernel's
    cost, no runner)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import kernels
    from looped.engine import batch_cards
    from looped.machine import build_machine
    from looped.machines.subleq.random_programs import long_random_programs

    machine = build_machine(n, bits)
    programs = long_random_programs(seed, batch, bits, min_steps=8)
    X0 = jnp.asarray(np.stack([c.X for c in batch_cards(programs, n)]), machine.dtype)
    ops = kernels.make_step(backend, machine.stack, machine.lam, machine.dtype).batched(batch, n)
    f = jax.jit(lambda X: ops.close(jax.lax.fori_loop(0, steps, lambda i, s: ops.advance(s)[0], ops.open(X))))
    return (lambda: f(X0).block_until_ready()), f, X0


def log_log_slope(xs, ys) -> float:
    import numpy as np

    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def add_path():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
