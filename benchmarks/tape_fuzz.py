"""The tape machine's differential fuzz: random tapes that modify their own code and do I/O
(looped/machines/tape/random_tapes.py), run on the transformer and compared with the oracle.

    python benchmarks/tape_fuzz.py [--count 1020] [--steps 256] [--quick]

Tapes are split evenly over 8-, 16- and 20-bit words. Every tape is run three ways, each compared
with the oracle after `--steps` steps (status, steps, output, the whole memory, IP, fault message):

* `batched`: all tapes of a word size as one batch on the fast backend (kernels/batched.py);
* `fast`: the same tapes on cards padded to 400 tokens, at most 8 on the device at once (the
  runner's slots), so that the fast backend evaluates each card on its own (kernels/fast.py);
* `dense`: the tapes of a word size as one batch on the dense backend (the layer formula); it
  costs O(n^2 d) a head and O(n d h) an MLP per card, about 100x fast's work, so by default it
  runs every `--dense-every`-th tape (1: all of them).

Each tape runs at least 200 steps on the oracle, reading input, writing output and rewriting a
cell that is fetched as an instruction within them. Output cells are few (16), so the runs also
pause and resume many times. Prints JSON with the mismatch count. The fuzz itself is
looped.machines.tape.check.fuzz; tests/machines/tape/test_tape_fuzz.py runs the same, slow-marked.
"""

from __future__ import annotations

import argparse
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())


def main(argv=None) -> dict:
    from benchmarks import plots
    from benchmarks.common import emit
    from looped.machines.tape.check import fuzz

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1020, help="tapes in all (default 1020)")
    ap.add_argument("--steps", type=int, default=256, help="steps per tape (default 256)")
    ap.add_argument("--backends", default="batched,fast,dense")
    ap.add_argument("--dense-every", type=int, default=4, help="dense runs every K-th tape (default 4; 1: all)")
    ap.add_argument("--quick", action="store_true", help="60 tapes")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    report = fuzz(60 if args.quick else args.count, args.steps, tuple(args.backends.split(",")),
                  dense_every=args.dense_every)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    report["command"] = "python benchmarks/tape_fuzz.py" + (" " + " ".join(argv) if argv else "")
    return emit("tape_fuzz", report, plots.of("tape_fuzz", report))


if __name__ == "__main__":
    main(sys.argv[1:])
