"""Classic SUBLEQ tapes: instructions per second against memory size, one tape and a batch of 64.

    python benchmarks/tape_speed.py [--quick]

The tape is a two-instruction loop (`mem[M-2] -= mem[M-3]`, then an unconditional jump back)
whose operands sit at the top of the memory, on a memory of M cells (16-bit words), run through
looped.machines.tape.engine as `looped tape` runs it (fast backend, default 64 output cells). Each figure
is a steady-state rate from the medians of interleaved repeats after a warm-up run (compilation,
encoding and decoding excluded; `end_to_end_instructions_per_second` includes the last two).
Writes benchmarks/results/tape_speed.json and .png.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

SIZES = (64, 256, 1024, 4096, 16384)
BATCH_SIZES = (64, 256, 1024, 4096)
QUICK_SIZES = (64, 256, 1024, 4096)
QUICK_BATCH_SIZES = (64, 256, 1024)


def loop_tape(size: int):
    """`M-3 M-2 3` (mem[M-2] -= mem[M-3]: with mem[M-3] = 1 the cell counts down through every
    word value), then `M-1 M-1 0` (mem[M-1] = 0: jump to 0). Never halts."""
    from looped.machines.tape.program import TapeProgram

    memory = [0] * size
    memory[0:6] = [size - 3, size - 2, 3, size - 1, size - 1, 0]
    memory[size - 3] = 1
    return TapeProgram(memory=tuple(memory), bits=16, file=f"<loop {size}>")


def rate(size: int, batch: int, repeats: int) -> dict:
    """Steady-state rate: runs of K and 3K steps timed in interleaved repeats; the rate is
    batch * 2K / (t(3K) - t(K)), so encoding, transfers and decoding (the same in both) drop out.
    The end-to-end rate of the 3K run is reported beside it."""
    from looped.machines.tape import engine as tape_engine

    tapes = [loop_tape(size)] * batch
    steps = int(max(40, min(6000, 8e6 / (batch * (size + 100)))))  # runs long enough to time

    def timed(k):
        started = time.perf_counter()
        results = tape_engine.run(tapes, max_steps=k)
        assert all(r.status == "step_limit" and r.steps == k for r in results)
        return time.perf_counter() - started

    timed(steps)  # compile and warm up
    short, long = [], []
    for _ in range(repeats):
        short.append(timed(steps))
        long.append(timed(3 * steps))
    t1, t3 = statistics.median(short), statistics.median(long)
    return {"memory": size, "batch": batch, "steps": [steps, 3 * steps], "seconds": [round(t1, 4), round(t3, 4)],
            "instructions_per_second": round(batch * 2 * steps / max(t3 - t1, 1e-9)),
            "end_to_end_instructions_per_second": round(batch * 3 * steps / t3)}


def main(argv=None) -> dict:
    from benchmarks.common import emit

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="memories up to 4096 cells, fewer repeats")
    args = ap.parse_args(argv)
    repeats = 3 if args.quick else 5
    single = [rate(m, 1, repeats) for m in (QUICK_SIZES if args.quick else SIZES)]
    batch = [rate(m, 64, repeats) for m in (QUICK_BATCH_SIZES if args.quick else BATCH_SIZES)]

    def plot(plt):
        fig, ax = plt.subplots(figsize=(6, 4))
        for rows, label in ((single, "one tape"), (batch, "64 tapes in one batch")):
            ax.loglog([r["memory"] for r in rows], [r["instructions_per_second"] for r in rows], "o-", label=label)
        ax.set_xlabel("memory cells (16-bit words)")
        ax.set_ylabel("instructions per second (all tapes)")
        ax.set_title("classic SUBLEQ tapes on the looped transformer (fast, CPU)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        return fig

    return emit("tape_speed", {"command": "python benchmarks/tape_speed.py" + (" --quick" if args.quick else ""),
                               "one_tape": single, "batch_of_64": batch}, plot)


if __name__ == "__main__":
    main(sys.argv[1:])
