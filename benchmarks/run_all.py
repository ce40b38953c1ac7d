"""Run every benchmark and write benchmarks/results/latest.json (and one PNG per benchmark).

    python benchmarks/run_all.py [--quick] [--max-batch 4096]

The must-show figures of issues 4 and 11 are collected under "must_show" (ratios from this one
run). The fuzz (benchmarks/fuzz.py, about half an hour) runs on its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks import batch_throughput, cold_start, flops, vs_interpreter, width_scaling
from benchmarks.common import RESULTS, machine_info


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sizes and repeats (~2-3 minutes on 2 cores)")
    ap.add_argument("--max-batch", type=int, help="largest batch for batch_throughput (default 4096, quick 256)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = {"command": "python benchmarks/run_all.py" + (" --quick" if args.quick else ""), "machine": machine_info()}
    out["width_scaling"] = width_scaling.main(args.quick)
    out["batch_throughput"] = batch_throughput.main(args.quick, args.max_batch)
    out["vs_interpreter"] = vs_interpreter.main(args.quick)
    out["flops"] = flops.main(args.quick)
    out["cold_start"] = cold_start.main(args.quick)
    ws, bt, cs = out["width_scaling"], out["batch_throughput"], out["cold_start"]
    out["must_show"] = {
        "fast_vs_dense_at_750": ws["fast_vs_dense"]["ratio_dense_over_fast"],
        "fast_exponent_256_4096": ws["fast_exponent_256_4096"],
        "batch64_vs_one_at_a_time": bt["batch64_vs_one_at_a_time"]["ratio"],
        "uneven_gcd_batch_vs_one_at_a_time": bt["uneven_batch"]["ratio"],
        "warm_run_over_import_jax": cs.get("warm_over_import_jax"),
        "targets": {"fast_vs_dense_at_750": ">= 20", "fast_exponent_256_4096": "<= 1.2",
                    "batch64_vs_one_at_a_time": ">= 10", "uneven_gcd_batch_vs_one_at_a_time": ">= 5",
                    "warm_run_over_import_jax": "<= 2"},
    }
    out["total_seconds"] = time.perf_counter() - t0
    for name in ("width_scaling", "batch_throughput", "vs_interpreter", "flops", "cold_start"):
        out[name].pop("machine", None)  # recorded once, at the top
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"must_show": out["must_show"], "total_seconds": out["total_seconds"]}, indent=2))
    return out


if __name__ == "__main__":
    main()
