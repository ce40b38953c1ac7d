"""Plots of the benchmarks whose scripts print only JSON: each draws from the JSON the script emits
(so that a committed result can be drawn again without running it again).

    python benchmarks/plots.py            # redraw benchmarks/results/{name}.png from {name}.json

Each benchmark passes `plots.of(name, data)` to common.emit, which saves the PNG beside the JSON.
"""

from __future__ import annotations

import json
import sys

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())


def exactness_sweep(plt, data: dict):
    """Worst health figure and mismatches against word size, float32 and float64."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for dtype, colour in (("float32", "#1f77b4"), ("float64", "#d62728")):
        rows = [r for r in data["rows"] if r["dtype"] == dtype]
        bits = [r["bits"] for r in rows]
        ax.plot(bits, [max(r["worst_health"], 1e-12) for r in rows], "o-", color=colour, label=f"{dtype}: worst health")
        wrong = [r for r in rows if r["mismatches"]]
        if wrong:  # where results first go wrong
            r = wrong[0]
            ax.annotate(f"{r['mismatches']}/{r['programs']} wrong from {r['bits']} bits", (r["bits"], max(r["worst_health"], 1e-12)),
                        fontsize=8, textcoords="offset points", xytext=(-30, 8), color=colour)
    ax.axhline(0.2, color="black", linestyle="--", linewidth=1, label="health bound 0.2 (the run stops above it)")
    ax.set_yscale("log")
    ax.set_xlabel("word size N (bits)")
    ax.set_ylabel("largest distance from {-1, 0, 1}\nbefore error correction (0 drawn at 1e-12)")
    exact = data.get("largest_exact_bits", {})
    ax.set_title(f"Exactness by word size ({data['rows'][0]['programs']} random programs, {data['steps']} steps each)\n"
                 f"exact up to {exact.get('float32')} bits in float32, {exact.get('float64')} in float64", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def flops(plt, data: dict):
    """Achieved GFLOP/s of each kernel case against the measured matmul peak."""
    rows = data["kernels"]
    labels = [f"{r['backend']}\nn={r['n']}, batch {r['batch']}" for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(range(len(rows)), [r["gflops_achieved"] for r in rows], color=["#d62728" if r["backend"] == "dense"
                                                                          else "#1f77b4" for r in rows])
    for i, r in enumerate(rows):
        ax.text(i, r["gflops_achieved"], f"{r['us_per_instruction']:.3g} µs/instr", ha="center", va="bottom", fontsize=8)
    peak = data["matmul_peak"]["gflops"]
    ax.axhline(peak, color="black", linestyle="--", linewidth=1, label=f"float32 matmul peak {peak:.0f} GFLOP/s")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("achieved GFLOP/s (XLA's count)")
    ax.set_title(f"FLOP/s of the kernels ({data['bits']}-bit words); fast does far fewer FLOPs", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def fuzz(plt, data: dict):
    """Programs checked and mismatches per backend and word size, and the soaks."""
    rows = data["rows"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
    labels = [f"{r['backend']}\n{r['bits']}-bit" for r in rows]
    left.bar(range(len(rows)), [r["programs"] for r in rows], color="#2ca02c")
    for i, r in enumerate(rows):
        left.text(i, r["programs"], f"{r['mismatches']} wrong", ha="center", va="bottom", fontsize=7,
                  color="#d62728" if r["mismatches"] else "black")
    left.set_xticks(range(len(rows)))
    left.set_xticklabels(labels, fontsize=7)
    left.set_ylabel("random programs checked against the oracle")
    left.set_title(f"fuzz (seed {data['seed']}, up to {data['max_steps']} steps): {data['mismatches']} mismatches in all",
                   fontsize=10)
    soaks = data.get("soak", [])
    if soaks:
        steps = [s.get("steps_each", 0) * s.get("programs", 1) for s in soaks]
        right.bar(range(len(soaks)), steps, color="#9467bd")
        for i, s in enumerate(soaks):
            right.text(i, steps[i], f"{s.get('mismatches', 0)} wrong", ha="center", va="bottom", fontsize=7)
        right.set_xticks(range(len(soaks)))
        right.set_xticklabels([f"{s.get('backend')}\n{s.get('bits')}-bit" for s in soaks], fontsize=7)
        right.set_ylabel("instructions of never-halting programs")
        right.set_title("soaks", fontsize=10)
    else:
        right.axis("off")
    fig.tight_layout()
    return fig


def tape_fuzz(plt, data: dict):
    """Random self-modifying tapes checked per word size and backend."""
    runs = {name: r for name, r in data["runs"].items() if "tapes" in r}  # (not the status counts)
    fig, ax = plt.subplots(figsize=(9, 4))
    names = list(runs)
    ax.bar(range(len(names)), [runs[n]["tapes"] for n in names], color="#ff7f0e")
    for i, n in enumerate(names):
        ax.text(i, runs[n]["tapes"], f"{runs[n]['mismatches']} wrong", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n.replace(" ", "\n") for n in names], fontsize=8)
    ax.set_ylabel("tapes checked against the oracle")
    ax.set_title(f"tape fuzz: {data['count']} random self-modifying I/O tapes, {data['steps']} steps each: "
                 f"{data['mismatches']} mismatches", fontsize=10)
    return fig


PLOTS = {"exactness_sweep": exactness_sweep, "flops": flops, "fuzz": fuzz, "tape_fuzz": tape_fuzz}


def of(name: str, data: dict):
    """The plot function common.emit takes (plt -> figure) for benchmark `name`'s data."""
    return lambda plt: PLOTS[name](plt, data)


def redraw(names=None) -> list[str]:
    """Draw benchmarks/results/{name}.png from {name}.json again; the names drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.common import RESULTS

    drawn = []
    for name in names or PLOTS:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        fig = PLOTS[name](plt, json.loads(path.read_text()))
        fig.savefig(RESULTS / f"{name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        drawn.append(name)
    return drawn


if __name__ == "__main__":
    for name in redraw(sys.argv[1:] or None):
        print(f"wrote benchmarks/results/{name}.png")
