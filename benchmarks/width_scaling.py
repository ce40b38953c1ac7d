"""Cost per instruction vs card width n for each backend (batch of 1), the fitted growth exponent
of `fast` for n in 256..4096 (log-log least squares), and fast vs dense on a ~750-column card.

The widths of one backend are timed in interleaved rounds, and each point is the minimum over the
rounds (medians are recorded too): on a shared machine, interference only ever adds time, and a
burst that lands on one width alone would bend the fitted slope.

    python benchmarks/width_scaling.py [--quick] [--bits 16]
"""

from __future__ import annotations

import argparse
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

import statistics

from benchmarks.common import emit, interleaved_samples, interleaved_times, log_log_slope, step_loop

WIDTHS = [64, 128, 256, 512, 750, 1024, 2048, 4096]
LIMITS = {"fast": 4096, "pallas": 1024, "dense": 1024}  # dense is O(n^2): ~20 ms/instr at 750
QUICK_LIMITS = {"fast": 4096, "pallas": 256, "dense": 750}


def per_instruction(backend: str, widths: list[int], bits: int, repeats: int) -> list[dict]:
    """One point per width: minimum and median µs per instruction over interleaved rounds."""
    runs, points = {}, {}
    for n in widths:
        steps = max(4, min(64, int(40000 / n))) if backend != "dense" else max(2, min(32, int(8000 / n)))
        t0 = time.perf_counter()
        run, _, _ = step_loop(backend, n, bits, batch=1, steps=steps)
        run()
        runs[n] = run
        points[n] = {"n": n, "steps_timed": steps, "compile_s": time.perf_counter() - t0}
    for n, times in interleaved_samples(runs, repeats).items():
        steps = points[n]["steps_timed"]
        points[n]["us_per_instruction"] = min(times) / steps * 1e6
        points[n]["us_per_instruction_median"] = statistics.median(times) / steps * 1e6
    return [points[n] for n in widths]


def fast_vs_dense(n: int, bits: int, repeats: int) -> dict:
    steps = 8
    runs = {b: step_loop(b, n, bits, batch=1, steps=steps)[0] for b in ("fast", "dense")}
    t = interleaved_times(runs, repeats=repeats)
    us = {b: t[b] / steps * 1e6 for b in t}
    return {"n": n, "us_per_instruction": us, "ratio_dense_over_fast": us["dense"] / us["fast"],
            "timing": f"medians of {repeats} interleaved repeats of {steps} instructions, batch 1"}


def main(quick: bool = False, bits: int = 16) -> dict:
    repeats = 5 if quick else 9
    limits = QUICK_LIMITS if quick else LIMITS
    curves = {}
    for backend, limit in limits.items():
        curves[backend] = per_instruction(backend, [n for n in WIDTHS if n <= limit], bits, repeats)
    fit = [p for p in curves["fast"] if 256 <= p["n"] <= 4096]
    exponent = log_log_slope([p["n"] for p in fit], [p["us_per_instruction"] for p in fit])
    exponent_median = log_log_slope([p["n"] for p in fit], [p["us_per_instruction_median"] for p in fit])
    ratio = fast_vs_dense(750, bits, repeats=5 if quick else 7)

    def plot(plt):
        fig, ax = plt.subplots(figsize=(6, 4))
        for backend, pts in curves.items():
            ax.loglog([p["n"] for p in pts], [p["us_per_instruction"] for p in pts], "o-", label=backend)
        ax.set_xlabel("card width n (tokens)")
        ax.set_ylabel("µs per instruction (batch 1)")
        ax.set_title(f"cost per instruction; fast exponent {exponent:.2f} (n 256..4096)")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        return fig

    return emit("width_scaling", {
        "bits": bits,
        "curves": curves,
        "fast_exponent_256_4096": exponent,
        "fast_exponent_256_4096_from_medians": exponent_median,
        "timing": f"minimum of {repeats} interleaved rounds per width (medians recorded too), batch 1",
        "fast_vs_dense": ratio,
        "must_show": {"fast_exponent_le_1.2": exponent <= 1.2, "fast_20x_dense_at_750": ratio["ratio_dense_over_fast"] >= 20},
    }, plot)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bits", type=int, default=16)
    args = ap.parse_args()
    main(args.quick, args.bits)
