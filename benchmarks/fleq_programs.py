"""FLEQ programs on the transformer: instructions per second, and error against iteration count.

    python benchmarks/fleq_programs.py [--quick]

* Throughput: FLEQ instructions per second (through engine.run, as `looped run` does; compile
  excluded by a warm-up run) for one program and for batches of 8 and 64 different inputs, for the
  calculator (1x1 values), inverse (4x4) and mlp_backprop (3x3 machine).
* Error against iterations: inverse.asm with k = 1 .. 20 Newton-Schulz steps and
  power_iteration.asm with k = 1 .. 40 steps on random 4x4 matrices of their domains (one batch
  each), against NumPy.

Prints JSON, writes benchmarks/results/fleq_programs.json and fleq_programs.png.
"""

from __future__ import annotations

import argparse
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

import numpy as np

from benchmarks.common import ROOT, emit

FLEQ = ROOT / "programs" / "fleq"


def random_spd(rng, n=4):
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q @ np.diag(rng.uniform(0.5, 5, n)) @ q.T


def random_dominant(rng, n=4):
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    others = rng.uniform(-1, 1, n - 1)
    top = rng.uniform(1.5, 3) * np.max(np.abs(others)) * rng.choice([-1, 1])
    return q @ np.diag(np.concatenate([[top], others])) @ q.T


def throughput(path, settings: list[dict], batches=(1, 8, 64)) -> dict:
    from looped import engine
    from looped.assembler import assemble_file

    program = assemble_file(path)
    out = {}
    for B in batches:
        runs = [program.with_settings(s) for s in (settings * B)[:B]]
        engine.run(runs)  # compile
        started = time.perf_counter()
        results = engine.run(runs)
        seconds = time.perf_counter() - started
        steps = sum(r.steps for r in results)
        out[str(B)] = {"instr_per_s": steps / seconds, "steps": steps, "seconds": seconds}
    return out


def inverse_errors(rng, count: int, max_k: int) -> dict:
    from looped import engine
    from looped.assembler import assemble_file

    program = assemble_file(FLEQ / "inverse.asm")
    matrices = [random_spd(rng) for _ in range(count)]
    runs = [program.with_settings({"A": A.tolist(), "k": k}) for k in range(1, max_k + 1) for A in matrices]
    results = engine.run(runs)
    worst = []
    for i, k in enumerate(range(1, max_k + 1)):
        errors = []
        for j, A in enumerate(matrices):
            exact = np.linalg.inv(A)
            got = np.array(results[i * count + j].outputs["Ainv"])
            errors.append(np.abs(got - exact).max() / np.abs(exact).max())
        worst.append(max(errors))
    return {"k": list(range(1, max_k + 1)), "worst_relative_error": worst}


def power_errors(rng, count: int, max_k: int) -> dict:
    from looped import engine
    from looped.assembler import assemble_file

    program = assemble_file(FLEQ / "power_iteration.asm")
    matrices = [random_dominant(rng) for _ in range(count)]
    ks = list(range(1, max_k + 1, 3))
    runs = [program.with_settings({"A": A.tolist(), "k": k}) for k in ks for A in matrices]
    results = engine.run(runs)
    eig, vec = [], []
    for i, _ in enumerate(ks):
        e_err, v_err = [], []
        for j, A in enumerate(matrices):
            w, V = np.linalg.eigh(A)
            top = np.argmax(np.abs(w))
            r = results[i * count + j].outputs
            v = np.array(r["v"])
            e_err.append(abs(r["eig"] - w[top]) / abs(w[top]))
            v_err.append(min(np.abs(v - V[:, top]).max(), np.abs(v + V[:, top]).max()))
        eig.append(max(e_err))
        vec.append(max(v_err))
    return {"k": ks, "worst_eigenvalue_relative_error": eig, "worst_vector_entry_error": vec}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer matrices and batch sizes")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    batches = (1, 8) if args.quick else (1, 8, 64)
    calc = [{"x": float(x), "y": float(y)} for x, y in 10 ** rng.uniform(-2, 2, (64, 2))]
    data = {
        "command": "python benchmarks/fleq_programs.py" + (" --quick" if args.quick else ""),
        "throughput": {
            "calculator": throughput(FLEQ / "calculator.asm", calc, batches),
            "inverse_4x4": throughput(FLEQ / "inverse.asm", [{"A": random_spd(rng).tolist()} for _ in range(64)],
                                      batches),
            "mlp_backprop": throughput(FLEQ / "mlp_backprop.asm", [{}], batches[:2]),
        },
        "inverse_error_vs_iterations": inverse_errors(rng, 4 if args.quick else 8, 20),
        "power_iteration_error_vs_iterations": power_errors(rng, 4 if args.quick else 8, 40),
        "note": "FLEQ batches run in one vectorised pass that is batch-invariant (kernels/invariant.py: "
                "fixed-order sums, no dot), so that a result never depends on its batch; the gain of a "
                "batch over one card is in `throughput` (and benchmarks/fleq_batch.py).",
    }

    def plot(plt):
        fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
        for name, curve in data["throughput"].items():
            sizes = [int(b) for b in curve]
            axes[0].plot(sizes, [curve[b]["instr_per_s"] for b in curve], "o-", label=name)
        axes[0].set_xscale("log")
        axes[0].set_xlabel("batch size")
        axes[0].set_ylabel("FLEQ instructions / s")
        axes[0].legend(fontsize=8)
        axes[0].set_title("throughput (engine.run, fast)")
        inv = data["inverse_error_vs_iterations"]
        axes[1].semilogy(inv["k"], np.maximum(inv["worst_relative_error"], 1e-17), "o-")
        axes[1].axhline(1e-3, color="k", ls="--", lw=0.8, label="goal 1e-3")
        axes[1].set_xlabel("Newton-Schulz steps")
        axes[1].set_ylabel("worst error / largest entry of A^-1")
        axes[1].set_title("inverse.asm, 4x4 SPD")
        axes[1].legend(fontsize=8)
        pw = data["power_iteration_error_vs_iterations"]
        axes[2].semilogy(pw["k"], np.maximum(pw["worst_eigenvalue_relative_error"], 1e-17), "o-", label="eigenvalue")
        axes[2].semilogy(pw["k"], np.maximum(pw["worst_vector_entry_error"], 1e-17), "s-", label="eigenvector entry")
        axes[2].axhline(1e-3, color="k", ls="--", lw=0.8)
        axes[2].set_xlabel("power iteration steps")
        axes[2].set_title("power_iteration.asm, 4x4")
        axes[2].legend(fontsize=8)
        return fig

    return emit("fleq_programs", data, plot)


if __name__ == "__main__":
    main()
