"""Differential checks of the tape machine against the oracle (looped/machines/tape/oracle.py), shared by
the tests and benchmarks/tape_fuzz.py. Each function returns a list of mismatches (sentences);
an empty list means the transformer did exactly what the oracle did.

* `final_mismatches`: results of looped.machines.tape.engine.run against oracle runs (status, steps,
  output, whole memory, IP, fault message).
* `trace_mismatches`: a trace of looped.engine.trace (the state after every step) against the
  oracle's states step for step (memory, IP, output, input consumed, and the stop flags).
* `fuzz`: the differential fuzz of random self-modifying I/O tapes on every backend.
* `stepped` runs a batch one instruction at a time through the runner's own loop (the compiled
  functions `looped tape` uses, so a test that also runs tapes to the end compiles one machine),
  and `stepped_mismatches` compares every step with the oracle.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from looped.machines.tape import oracle as tape_oracle


def final_mismatches(tapes: Sequence, results: Sequence, max_steps: int) -> list[str]:
    out = []
    for i, (tape, result) in enumerate(zip(tapes, results)):
        want = tape_oracle.run(tape, max_steps)
        got = {"status": result.status, "steps": result.steps, "output": bytes(result.output),
               "memory": list(result.memory), "message": result.message}
        expected = {"status": want.status, "steps": want.steps, "output": bytes(want.output),
                    "memory": list(want.memory), "message": want.message}
        if want.status in ("fault", "step_limit"):
            got["ip"], expected["ip"] = result.ip, want.ip
        diff = [k for k in expected if got[k] != expected[k]]
        if diff:
            out.append(f"tape {i} ({tape.file}, {tape.bits} bits): {', '.join(diff)} differ: "
                       + "; ".join(f"{k}: machine {_short(got[k])} oracle {_short(expected[k])}" for k in diff))
    return out


def trace_mismatches(tapes: Sequence, traced: Sequence[dict], steps: np.ndarray, n_steps: int) -> list[str]:
    """`traced`, `steps`: what engine.trace returned for `tapes` (memories and steps) after
    `n_steps` loop iterations. The first difference of each tape is reported."""
    out = []
    for i, tape in enumerate(tapes):
        record = traced[i]
        states = [tape_oracle.start(tape.memory, tape.bits)]
        for state in tape_oracle.trace(tape, n_steps):
            states.append(state)
        for t in range(n_steps):
            want = states[min(t + 1, len(states) - 1)]
            problem = _step_problem(record, t, want, int(steps[t, i]))
            if problem:
                out.append(f"tape {i} ({tape.file}, {tape.bits} bits) after step {t + 1}: {problem}")
                break
    return out


def stepped(tapes: Sequence, n_steps: int, backend: str):
    """The decoded states (looped.machines.tape.isa.MachineTape) of a batch after each of `n_steps` loop
    iterations, with the step counts: a list of (steps [B], states). The output cells must hold
    every byte written within `n_steps` (nothing empties them here)."""
    from looped import engine
    from looped.machines.tape.isa import STOP_CODE, TAPE

    key = TAPE.machine_key(tapes)
    cards, X = TAPE.encode(tapes, key)
    machine, loop = engine.machine_loop("tape", key, backend)
    X = np.asarray(X, dtype=machine.dtype)
    halt = np.full(len(tapes), STOP_CODE, np.int32)
    total = np.zeros(len(tapes), np.int64)
    out = []
    for _ in range(n_steps):
        state = loop.run(X, halt, max_steps=1)
        X = np.asarray(state.X)
        total = total + np.asarray(state.steps)
        out.append((total.copy(), TAPE.decode_memory(cards, X)))
    return out


def stepped_mismatches(tapes: Sequence, records, n_steps: int) -> list[str]:
    """`records` from `stepped` against the oracle, every tape at every step."""
    traced = []
    for i in range(len(tapes)):
        states = [record[1][i] for record in records]
        traced.append({
            "memory": [s.memory for s in states], "ip": [s.ip for s in states],
            "stop": [s.stop for s in states], "halted": [s.halted for s in states],
            "fault": [s.fault for s in states], "input_pos": [s.input_pos for s in states],
            "output_count": [len(s.output) for s in states], "output": [list(s.output) for s in states],
        })
    steps = np.array([record[0] for record in records])
    return trace_mismatches(tapes, traced, steps, n_steps)


def _step_problem(record: dict, t: int, want, steps: int) -> str:
    if steps != want.steps:
        return f"steps {steps} (oracle {want.steps})"
    memory = [int(v) for v in record["memory"][t]]
    if memory != want.memory:
        cells = [k for k in range(len(memory)) if memory[k] != want.memory[k]]
        return f"memory differs at {cells[:8]}: machine {[memory[k] for k in cells[:8]]} oracle " \
               f"{[want.memory[k] for k in cells[:8]]}"
    stopped = want.status != "running"
    if bool(record["stop"][t]) != stopped:
        return f"stop flag {int(record['stop'][t])} (oracle status {want.status})"
    if bool(record["halted"][t]) != (want.status == "halted") or bool(record["fault"][t]) != (want.status == "fault"):
        return f"halt/fault flags {int(record['halted'][t])}/{int(record['fault'][t])} (oracle {want.status})"
    if want.status != "halted" and int(record["ip"][t]) != want.ip:
        return f"IP {int(record['ip'][t])} (oracle {want.ip})"
    count = int(record["output_count"][t])
    written = bytes(int(b) for b in record["output"][t][:count])
    if written != bytes(want.output):
        return f"output {written!r} (oracle {bytes(want.output)!r})"
    if int(record["input_pos"][t]) != want.input_pos:
        return f"input consumed {int(record['input_pos'][t])} (oracle {want.input_pos})"
    return ""


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:76] + "..."


# ---- the differential fuzz (tests/machines/tape/test_tape_fuzz.py, benchmarks/tape_fuzz.py) ----------------------------

WORD_SIZES = (8, 16, 20)
SLOTS = 8  # cards on the device at once in the per-card ("fast") runs
WIDE = 400  # card width of the per-card runs: above batched.preferred's 384, so fast.py is used


def fuzz(count: int = 1020, steps: int = 256, backends=("batched", "fast", "dense"), seed: int = 0,
         sizes=(24, 64), output_cells: int = 16, dense_every: int = 1) -> dict:
    """Random self-modifying I/O tapes (`count`, split over WORD_SIZES), each run `steps` steps on
    the transformer `backends` ways ("batched": one batch, kernels/batched.py; "fast": cards of
    WIDE tokens, SLOTS at a time, kernels/fast.py; "dense": one batch on the dense backend, every
    `dense_every`-th tape) and compared with the oracle. Returns a report with the mismatch count."""
    import time

    from looped.machines.tape import engine as tape_engine
    from looped.machines.tape.random_tapes import interesting_tapes

    per_bits = -(-count // len(WORD_SIZES))
    report = {"count": 0, "steps": steps, "word_sizes": list(WORD_SIZES), "dense_every": dense_every,
              "runs": {}, "mismatches": 0, "examples": []}
    for bits in WORD_SIZES:
        tapes = interesting_tapes(seed + bits, per_bits, bits, min_steps=200, sizes=sizes,
                                  output_capacity=output_cells)
        report["count"] += len(tapes)
        statuses = {}
        for backend in backends:
            started = time.perf_counter()
            chosen = tapes[::dense_every] if backend == "dense" else tapes
            if backend == "fast":
                results = tape_engine.run(chosen, backend="fast", max_steps=steps, n=WIDE, slots=SLOTS)
            else:
                results = tape_engine.run(chosen, backend="fast" if backend == "batched" else "dense",
                                          max_steps=steps)
            problems = final_mismatches(chosen, results, steps)
            report["runs"][f"{bits}-bit {backend}"] = {
                "tapes": len(chosen), "mismatches": len(problems), "seconds": round(time.perf_counter() - started, 2),
                "instructions": int(sum(r.steps for r in results)),
                "output_bytes": int(sum(len(r.output) for r in results)),
            }
            report["mismatches"] += len(problems)
            report["examples"] += problems[:3]
            for r in results:
                statuses[r.status] = statuses.get(r.status, 0) + 1
        report["runs"][f"{bits}-bit statuses"] = statuses
    return report
