"""The disassembler listing: readable, complete, and re-assemblable (no JAX)."""

from pathlib import Path

import numpy as np
import pytest

from looped.machines.subleq import oracle
from looped.assembler import assemble, assemble_file
from looped.machines.subleq.disasm import format_program
from looped.machines.subleq.program import Instruction, Program
from looped.machines.subleq.random_programs import random_program

PROGRAMS = Path(__file__).resolve().parents[3] / "programs"
ALL = sorted(PROGRAMS.glob("*.asm"))

SRC = """
.bits 8
.data
x: 5
arr: 1, 2, 3
.code
start:  mov x, arr+2
        jgt x, done
        dec x
        halt
        inc x
done:   halt
"""


def test_listing_shows_data_constants_scratch_and_code():
    text = format_program(assemble(SRC, "t.asm"))
    lines = text.splitlines()
    assert lines[0].startswith("; t.asm: 8-bit SUBLEQ")
    assert ".bits 8" in lines and ".data" in lines and ".code" in lines
    assert any(line.startswith("x: 5 ") for line in lines)
    assert any(line.startswith("arr: 1, 2, 3 ") and "mem[1..3]" in line for line in lines)
    assert any("constant 0 (#0" in line for line in lines)
    assert any("constant -1 (#-1" in line for line in lines)
    assert any("constant 1 (#1" in line for line in lines)
    assert any(line.startswith("__T: 0") and "scratch #T" in line for line in lines)
    code = lines[lines.index(".code") + 1 :]
    assert code[0] == "start:"
    assert code[1].split(";")[0].strip() == "subleq arr+2, __T"
    assert "0: mov x, arr+2  (line 7)" in code[1]
    assert any(line.split(";")[0].strip() == "jmp done" for line in code)  # jgt's jump
    assert any(line.split(";")[0].strip() == "jmp halt" for line in code)  # mid halt
    assert code[-2] == "done:"
    assert code[-1].split(";")[0].strip() == "halt" and "halt column" in code[-1]


def test_synthesized_labels_for_unnamed_targets():
    text = format_program(assemble(SRC, "t.asm"))
    # jgt's first instruction skips over its jump to a place without a user label
    assert "__L" in text
    assert "subleq 0, x, __L" in text


def _offset_map(old, new):
    """The memory offsets of `old` as they appear in `new`, checked to be consistent."""
    mapping = {}
    for a, b in zip(old.code, new.code):
        for x, y in ((a.a, b.a), (a.b, b.b)):
            assert mapping.setdefault(x, y) == y
    assert len(set(mapping.values())) == len(mapping)
    return mapping


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_round_trip_of_every_program(path):
    old = assemble_file(path)
    new = assemble(format_program(old), "listing.asm")
    assert new.bits == old.bits
    assert [i.c for i in new.code] == [i.c for i in old.code]
    mapping = _offset_map(old, new)
    for x, y in mapping.items():
        assert old.memory[x] == new.memory[y]
    s_old, s_new = oracle.run(old), oracle.run(new)
    assert s_old.steps == s_new.steps
    out_old, out_new = old.outputs(s_old.memory), new.outputs(s_new.memory)
    assert {k: out_new[k] for k in out_old} == out_old
    assert new.code_labels.items() >= {k: v for k, v in old.code_labels.items()}.items()


def test_round_trip_is_exact_without_scratch():
    old = assemble_file(PROGRAMS / "giannou_linear_search.asm")
    new = assemble(format_program(old), "listing.asm")
    assert new.memory == old.memory
    assert [(i.a, i.b, i.c) for i in new.code] == [(i.a, i.b, i.c) for i in old.code]
    assert dict(new.code_labels) == dict(old.code_labels)


@pytest.mark.parametrize("seed", range(5))
def test_hand_built_random_programs_round_trip_exactly(seed):
    old = random_program(np.random.default_rng(seed), bits=8)
    new = assemble(format_program(old), "listing.asm")
    assert new.memory == old.memory
    assert [(i.a, i.b, i.c) for i in new.code] == [(i.a, i.b, i.c) for i in old.code]


def test_program_without_cell_names():
    program = Program(bits=4, memory=(3, 0, -1),
                      code=(Instruction(0, 0, 1), Instruction(1, 2, 1)), cells={})
    text = format_program(program)
    assert "__m0: 3" in text and "__m1: 0" in text
    new = assemble(text, "listing.asm")
    assert [(i.a, i.b, i.c) for i in new.code][:1] == [(0, 0, 1)]


def test_empty_program():
    text = format_program(assemble("", "e.asm"))
    assert "(no data labels)" in text
    assert text.rstrip().endswith("loops on itself)")
    assert len(assemble(text).code) == 1


def test_aliases_are_listed_as_standalone_labels():
    text = format_program(assemble(".data\nfirst:\nsecond: 4, 5\n", "t.asm"))
    assert "first:\nsecond: 4, 5" in text
