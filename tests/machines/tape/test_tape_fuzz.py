"""Slow checks of the tape machine (run with `python3 -m pytest -q -m slow tests/test_tape*.py`):

* the differential fuzz: 1,020 random tapes that modify their own code and do I/O, 256 steps
  each, 8-, 16- and 20-bit words, batched (kernels/batched.py), fast (kernels/fast.py, one card at
  a time) and dense (every 4th tape) against the oracle: 0 mismatches;
* the public tapes step for step on every backend;
* every library program that fits, as a tape, to the same results as on the SUBLEQ machine;
* a tape of 4,096 cells.
"""

import dataclasses
import glob
from pathlib import Path

import pytest

from looped import engine
from looped.machines.subleq import oracle
from looped.machines.tape import engine as tape_engine
from looped.machines.tape import oracle as tape_oracle
from looped.assembler import assemble_file
from looped.errors import LoopedError
from looped.machines.tape.assemble import to_tape
from looped.machines.tape.check import final_mismatches, fuzz, stepped, stepped_mismatches
from looped.machines.tape.program import load_tape, parse_tape

ROOT = Path(__file__).resolve().parents[3]
TAPES = ROOT / "tapes"

pytestmark = pytest.mark.slow


def test_differential_fuzz_of_1020_self_modifying_io_tapes():
    report = fuzz(count=1020, steps=256, dense_every=4)
    assert report["count"] >= 1000
    assert report["mismatches"] == 0, report["examples"]
    for bits in (8, 16, 20):
        for backend, tapes in (("batched", 340), ("fast", 340), ("dense", 85)):
            run = report["runs"][f"{bits}-bit {backend}"]
            assert run["tapes"] == tapes and run["mismatches"] == 0 and run["output_bytes"] > 1000


@pytest.mark.parametrize("backend, width", [("fast", 400), ("fast", None), ("dense", None), ("pallas", None)])
def test_public_tapes_step_for_step_on_every_backend(backend, width):
    """fast at width 400 with fewer than 16 cards: kernels/fast.py per card; fast at the tapes'
    own width: kernels/batched.py; dense: the layer formula; pallas: fast's hot parts as Pallas
    kernels (interpreted on a CPU)."""
    tapes = [dataclasses.replace(load_tape(str(TAPES / name)).with_input(data), output_capacity=16)
             for name, data in [("hello.tape", b""), ("hello_esolang.tape", b""), ("cat.tape", b"abc"),
                                ("reverse.tape", b"Hello!"), ("reverse.tape", b"y" * 33)]]
    if width:
        from looped.machines.tape.isa import TAPE

        assert TAPE.machine_key(tapes, width)[0] == width
    records = stepped(tapes, 230, backend) if width is None else _stepped_wide(tapes, 230, width)
    assert stepped_mismatches(tapes, records, 230) == []


def _stepped_wide(tapes, n_steps, width):
    """looped.machines.tape.check.stepped on cards padded to `width` tokens."""
    import numpy as np

    from looped.machines.tape.isa import STOP_CODE, TAPE

    key = TAPE.machine_key(tapes, width)
    cards, X = TAPE.encode(tapes, key)
    _, loop = engine.machine_loop("tape", key, "fast")
    X, halt, total, out = np.asarray(X, np.float32), np.full(len(tapes), STOP_CODE, np.int32), 0, []
    for _ in range(n_steps):
        state = loop.run(X, halt, max_steps=1)
        X = np.asarray(state.X)
        total = total + np.asarray(state.steps)
        out.append((total, TAPE.decode_memory(cards, X)))
    return out


def library_programs():
    out = []
    for path in sorted(glob.glob(str(ROOT / "programs" / "*.asm"))):
        program = assemble_file(path)
        if program.isa != "subleq":
            continue
        try:
            out.append((program, to_tape(program)))
        except LoopedError:  # too large for its word size
            continue
    return out


def test_every_library_program_runs_as_a_tape_like_on_the_subleq_machine():
    programs = library_programs()
    assert len(programs) >= 20
    for bits in sorted({p.bits for p, _ in programs}):
        group = [(p, t) for p, t in programs if p.bits == bits]
        harvard = engine.run([p for p, _ in group], backend="fast", max_steps=100_000)
        tapes = [t.tape for _, t in group]
        results = tape_engine.run(tapes, backend="fast", max_steps=100_000)
        assert final_mismatches(tapes, results, 100_000) == []
        for (program, translation), h, r in zip(group, harvard, results):
            assert h.status == r.status == "halted", program.file
            assert translation.data(r.memory) == h.memory == oracle.run(program).memory, program.file
            assert h.steps <= r.steps <= h.steps + 1, program.file


def test_a_tape_of_4096_cells():
    """reverse.tape on a memory of 4,096 cells (the buffer grows past the tape), beside a tape
    that touches the last cell; both compared with the oracle."""
    data = bytes(range(32, 127)) * 3
    reverse = dataclasses.replace(load_tape(str(TAPES / "reverse.tape")).with_memory_size(4096).with_input(data))
    far = parse_tape("4095 4094 3  4094 -1 6  4093 4093 -1").with_memory_size(4096)
    far = dataclasses.replace(far, memory=far.memory[:4093] + (0, 7, -65))  # mem[4094] = 7 + 65 = 72: 'H'
    results = tape_engine.run([reverse, far], backend="fast", max_steps=100_000)
    assert results[0].output == data[::-1] and results[0].status == "halted" and len(results[0].memory) == 4096
    assert results[1].output == b"H" and results[1].memory[4094] == 72
    assert final_mismatches([reverse, far], results, 100_000) == []
    assert tape_oracle.run(reverse).steps == results[0].steps


def test_engine_trace_records_every_step():
    """looped.engine.trace with the tape machine's observer (memory, IP, output, flags per step)."""
    from looped.machines.tape.check import trace_mismatches

    tapes = [dataclasses.replace(load_tape(str(TAPES / name)).with_input(data), output_capacity=16)
             for name, data in [("hello.tape", b""), ("reverse.tape", b"abc"), ("fault.tape", b"")]]
    _, traced, steps = engine.trace(tapes, 80, backend="fast")
    assert trace_mismatches(tapes, traced, steps, 80) == []
