"""The classic SUBLEQ machine (looped/machines/tape/isa.py) against the oracle, step for step: public tapes
(self-modifying ones, ones that read input, a fault), random self-modifying tapes with I/O, and
library programs translated to tapes; on the fast backend (one batch: kernels/batched.py) and the
dense one; 8-, 16- and 20-bit words; output cells that fill up (the driver's pauses). (A batch
against a tape alone: tests/machines/tape/test_tape_cli.py.)

The default suite runs a sample; tests/machines/tape/test_tape_fuzz.py (slow) runs the full differential fuzz."""

import dataclasses
import glob
from pathlib import Path

import numpy as np
import pytest

from looped.machines.subleq import oracle
from looped.machines.tape import engine as tape_engine
from looped.machines.tape import oracle as tape_oracle
from looped.assembler import assemble_file
from looped.machines.tape.isa import TAPE
from looped.machines.tape.random_tapes import interesting_tapes
from looped.machines.tape.assemble import to_tape
from looped.machines.tape.check import final_mismatches, stepped, stepped_mismatches
from looped.machines.tape.program import load_tape, parse_tape

ROOT = Path(__file__).resolve().parents[3]
TAPES = ROOT / "tapes"
STEPS = 180  # steps checked one by one (every public tape below ends within them)
FINAL = 600  # then every tape runs to its end or this limit (the library programs below end within it)
CELLS = 32  # output cells (no tape below writes more within STEPS; the final runs empty them)
BATCH = 32  # at least: random tapes fill the batch up to this

PUBLIC = [("hello.tape", b""), ("hello_esolang.tape", b""), ("hi.tape", b""), ("cat.tape", b"meow\n"),
          ("reverse.tape", b"Hello, world!"), ("fault.tape", b""), ("reverse.tape", b"")]


# Published tapes beside the files in tapes/, with what they are documented to do: (source, tape,
# input, output, steps). They run in the fast batch below, step for step with the oracle.
ECHO = "15 15 3 -1 15 6 16 15 -1 15 -1 12 0 0 0 0 0"  # its last instruction zeroes cell 0, its own first operand
PUBLISHED = [
    ("esolangs.org Subleq: Hi, with its trailing cell", "9 -1 3 10 -1 6 0 0 -1 72 105 0", b"", b"Hi", 3),
    ("esolangs.org Subleq: Hi, halting by a jump to -8", "9 -1 3 10 -1 6 5 5 -8 72 105", b"", b"Hi", 3),
    ("howerj/subleq boot/hello-world: no newline", "15, 17, -1, 17, -1, -1, 16, 1, -1, 16, 3, -1, 15, 15, 0, 0, "
     "-1, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 0, 0", b"", b"Hello, world!", 66),
    ("howerj/subleq extra/self/echo: to a zero byte", ECHO, b"ab\x00cd", b"ab", 13),
    ("howerj/subleq extra/self/echo: to the end", ECHO, "h\u00e9llo\n".encode(), "h\u00e9llo\n".encode(), 38),
]


def published_tapes(cells=CELLS):
    return [dataclasses.replace(parse_tape(text, source).with_input(data), output_capacity=cells)
            for source, text, data, _, _ in PUBLISHED]


def public_tapes(cells=CELLS):
    return [dataclasses.replace(load_tape(str(TAPES / name)).with_input(data), output_capacity=cells)
            for name, data in PUBLIC]


def outputs_within(tape, steps):
    return len(tape_oracle.run(tape, steps).output)


def small_library(max_cells=128):
    """Library programs (16-bit) whose tapes hold at most `max_cells` cells and halt within FINAL
    steps (tests/machines/tape/test_tape_fuzz.py runs them all)."""
    out = []
    for path in sorted(glob.glob(str(ROOT / "programs" / "*.asm"))):
        program = assemble_file(path)
        if program.isa == "subleq" and program.bits == 16:
            tape = to_tape(program).tape
            if tape.size <= max_cells and tape_oracle.run(tape, FINAL).status == "halted":
                out.append(dataclasses.replace(tape, output_capacity=CELLS))
    return out


@pytest.fixture(scope="module")
def fast_batch():
    """One batch on the fast backend (kernels/batched.py), one compiled machine: every tape
    stepped one instruction at a time for STEPS steps, then all run to the end."""
    fixed = public_tapes() + published_tapes() + small_library()
    fuzz = [t for t in interesting_tapes(seed=7, count=40, bits=16, output_capacity=CELLS)
            if outputs_within(t, STEPS) <= CELLS]
    tapes = fixed + fuzz[: max(8, BATCH - len(fixed))]
    records = stepped(tapes, STEPS, "fast")
    results = tape_engine.run(tapes, backend="fast", max_steps=FINAL)
    return tapes, records, results


def test_public_and_random_tapes_match_the_oracle_step_for_step_on_fast(fast_batch):
    tapes, records, _ = fast_batch
    assert stepped_mismatches(tapes, records, STEPS) == []


def test_public_tapes_final_output_on_the_machine(fast_batch):
    tapes, _, results = fast_batch
    assert [r.output for r in results[:7]] == [b"Hello, world!\n", b"Hello, World!\n", b"Hi", b"meow\n",
                                               b"!dlrow ,olleH", b"", b""]
    assert [r.status for r in results[:7]] == ["halted"] * 5 + ["fault", "halted"]
    assert results[0].steps == 71 and results[0].memory[1] == 31
    assert results[5].steps == 2 and results[5].ip == 3 and "step 2, IP 3" in results[5].message
    assert final_mismatches(tapes, results, FINAL) == []


def test_published_tapes_give_their_documented_output_on_the_machine(fast_batch):
    _, _, results = fast_batch
    got = [(r.output, r.steps, r.status) for r in results[len(PUBLIC): len(PUBLIC) + len(PUBLISHED)]]
    assert got == [(output, steps, "halted") for _, _, _, output, steps in PUBLISHED]


def test_library_programs_as_tapes_on_the_machine(fast_batch):
    tapes, _, results = fast_batch
    library = [(t, r) for t, r in zip(tapes, results) if t.file.endswith(".asm")]
    assert len(library) >= 12
    for tape, result in library:
        program = assemble_file(tape.file)
        assert result.status == "halted", tape.file
        assert to_tape(program).data(result.memory) == oracle.run(program).memory, tape.file


def test_dense_matches_the_oracle_step_for_step():
    """(Small cards: the same machine as tests/machines/tape/test_tape_cli.py's batch of three.)"""
    tapes = [dataclasses.replace(t, output_capacity=8) for t in
             [load_tape(str(TAPES / "hi.tape")), load_tape(str(TAPES / "cat.tape")).with_input(b"ab"),
              load_tape(str(TAPES / "fault.tape"))]]
    records = stepped(tapes, 15, "dense")
    assert stepped_mismatches(tapes, records, 15) == []


@pytest.mark.parametrize("bits", [8, 20])
def test_other_word_sizes_and_full_output_cells_on_dense(bits):
    """Three output cells: every tape fills them and pauses many times; the driver empties them."""
    tapes = interesting_tapes(seed=100 + bits, count=2, bits=bits, sizes=(24, 32), input_len=(0, 6),
                              output_capacity=3)
    results = tape_engine.run(tapes, backend="dense", max_steps=200)
    assert final_mismatches(tapes, results, 200) == []
    assert sum(len(r.output) for r in results) > 12


def test_machine_shape_and_counts():
    tape = load_tape(str(TAPES / "hello.tape"))
    key = TAPE.machine_key([tape])
    layout = TAPE.layout(key)
    stack = TAPE.stack(layout)
    assert [lay.name for lay in stack.layers] == ["fetch", "unpack", "decode", "execute", "unpack operands",
                                                  "compute", "place", "write"]
    assert [len(lay.heads) for lay in stack.layers] == [2, 0, 0, 2, 0, 0, 0, 1]
    assert stack.health_layer == 0 and len(stack.corrected_rows) > 0
    # λ: the rule of looped/machines/tape/isa.py at the card's width and word size (2^-30 leak margin)
    import math

    n = layout.n
    assert TAPE.inverse_temperature(layout) == max(0.5 * (math.log(2 * n) + 46 * math.log(2)),
                                                   math.log(2 * n) + 30 * math.log(2))
    # float32 up to 20 bits, float64 above
    import jax.numpy as jnp

    assert TAPE.dtype(TAPE.layout(TAPE.machine_key([parse_tape("0 0 -1", bits=20)]))) == jnp.float32


def test_cards_of_different_memory_sizes_share_a_machine():
    small, large = parse_tape("0 0 -1"), parse_tape("0 0 -1", bits=16).with_memory_size(40)
    assert TAPE.machine_key([small])[:2] == TAPE.machine_key([small.with_memory_size(10)])[:2]
    key = TAPE.machine_key([small, large])
    cards, X = TAPE.encode([small, large], key)
    assert X.shape[0] == 2 and np.all(X[:, 0, TAPE.layout(key)["ind"].start] == 1)
