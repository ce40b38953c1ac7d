"""The native backend's first run of every FLEQ program in programs/fleq (issue 20): build and
compile seconds, or its refusal, against the 60 s bound.

    python benchmarks/native_compile.py [--quick] [--limit 60]

Each program runs once through `looped.engine.run` with backend native (what `looped run
--backend native` does) on an empty native cache (a fresh LOOPED_CACHE_DIR), so its machine's C++
is generated and compiled then: `first_run_s` is the whole call, `compile_s` the C++ compiler's
part, `form` the code's form (kernels/native.py `choose_form`), `terms` the machine's weight terms.
A machine native declines is recorded with the refusal's message. Programs of one machine key
share one machine, compiled at the first of them (`machine_built_by`; the others' first runs
compile nothing). The run's status and step count
are checked against the FLEQ oracle (looped/machines/fleq/oracle.py). `--quick`: the 8x8 programs
and the top-level ones only.

Prints JSON, writes benchmarks/results/native_compile.json and native_compile.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks.common import ROOT, emit

FLEQ = ROOT / "programs" / "fleq"


def programs(quick: bool) -> list:
    paths = sorted(FLEQ.glob("*.asm")) + sorted((FLEQ / "linalg").glob("*.asm"))
    if quick:
        paths = [p for p in paths if p.parent == FLEQ or "8x8" in p.name]
    return paths


def first_run(path) -> dict:
    """One program's first native run on an empty cache, with the compiler's share timed."""
    from kernels import native
    from kernels.native_gen import literal_terms
    from kernels.native_tables import terms_of
    from kernels.plan import Plan
    from looped import engine
    from looped import machines as instruction_sets
    from looped.assembler import assemble_file
    from looped.machine import machine_for
    from looped.machines.fleq.oracle import run as oracle_run

    program = assemble_file(str(path))
    machine = machine_for(program.isa, instruction_sets.of([program]).machine_key([program], None))
    plan = Plan.of(machine.stack)
    row = {"program": str(path.relative_to(ROOT)), "machine_key": list(machine.key), "d": plan.d,
           "terms": terms_of(plan), "literal_terms": literal_terms(plan), "form": native.choose_form(plan)}
    compiled, build = [], native._build

    def timed_build(source, stem, *form):
        started = time.perf_counter()
        out = build(source, stem, *form)
        compiled.append((stem, len(source), time.perf_counter() - started))
        return out

    native._build = timed_build
    started = time.perf_counter()
    try:
        (result,) = engine.run([program], backend="native")
    except native.NativeUnavailable as refusal:
        row.update(declined=True, message=str(refusal), first_run_s=time.perf_counter() - started)
        return row
    finally:
        native._build = build
    want = oracle_run(program)
    row.update(declined=False, first_run_s=time.perf_counter() - started,
               compile_s=sum(s for stem, _, s in compiled if stem == "card"),
               source_bytes=sum(b for stem, b, _ in compiled if stem == "card"),
               status=result.status, steps=result.steps,
               agrees_with_oracle=(result.status, result.steps) == (want.status, want.steps))
    return row


def main(quick: bool = False, limit: float = 60.0) -> dict:
    # an empty native cache (and no stored compiled loops): every machine is compiled now
    os.environ["LOOPED_CACHE_DIR"] = tempfile.mkdtemp(prefix="looped-native-compile-")
    from kernels import native

    if not native.available():
        return emit("native_compile", {"skipped": "no C++ compiler: the native backend is not offered here"})
    native.available()  # (the one-layer probe is built before the clock starts)
    rows, built_by = [], {}
    for path in programs(quick):
        row = first_run(path)
        # programs of one machine key share one machine: its code is compiled by the first of them
        key = tuple(row["machine_key"])
        row["machine_built_by"] = built_by.setdefault(key, row["program"])
        row["within_limit"] = row["declined"] or row["first_run_s"] <= limit
        rows.append(row)
        print(f"{row['program']}: {row['form']}, {row['terms']:,} terms, first run {row['first_run_s']:.1f} s"
              + (f", compile {row['compile_s']:.1f} s" if not row["declined"] else f", declined: {row['message']}"),
              file=sys.stderr)

    def plot(plt):
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(rows) + 1.2))
        names = [r["program"].replace("programs/fleq/", "") for r in rows]
        ax.barh(names, [r["first_run_s"] for r in rows], label="first run")
        ax.barh(names, [r.get("compile_s", 0.0) for r in rows], label="of which C++ compile")
        ax.axvline(limit, color="black", lw=1)
        ax.invert_yaxis()
        ax.set_xlabel(f"seconds (black: the {limit:.0f} s bound)")
        ax.legend(fontsize=7)
        return fig

    return emit("native_compile", {
        "quick": quick, "limit_s": limit, "programs": rows,
        "must_show": all(r["within_limit"] for r in rows),
        "all_agree_with_oracle": all(r.get("agrees_with_oracle", True) for r in rows),
        "slowest_first_run_s": max(r["first_run_s"] for r in rows),
    }, plot)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the top-level and the 8x8 programs only")
    ap.add_argument("--limit", type=float, default=60.0, help="the bound on a first run, seconds")
    args = ap.parse_args()
    main(args.quick, args.limit)
