"""Every program in programs/ runs through the transformer and matches the oracle."""

import pathlib

import pytest

from looped import engine
from looped.machines.subleq import oracle
from looped.assembler import assemble_file
from looped.machines.subleq.card import card_width

PROGRAMS = sorted(pathlib.Path("programs").glob("*.asm"))


def test_there_are_enough_programs():
    assert len(PROGRAMS) >= 15


def check_against_oracle(programs, backend):
    by_bits: dict[int, list] = {}
    for program in programs:
        by_bits.setdefault(program.bits, []).append(program)
    for group in by_bits.values():
        # One batch per word size: programs of different sizes share a card width.
        for program, result in zip(group, engine.run(group, backend=backend, max_steps=20_000)):
            expected = oracle.run(program, max_steps=20_000)
            assert result.status == expected.status == "halted", program.file
            assert result.memory == expected.memory, program.file
            assert result.outputs == program.outputs(expected.memory)
            # Both run the same expanded instructions, so step counts agree for every program;
            # tests/machines/subleq/test_programs_oracle.py checks the macro-free ones against hand-derived counts.
            assert result.steps == expected.steps, program.file


def test_every_program_matches_the_oracle():
    check_against_oracle([assemble_file(path) for path in PROGRAMS], backend="fast")


def test_small_programs_match_the_oracle_on_the_dense_layers():
    programs = [assemble_file(path) for path in PROGRAMS]
    check_against_oracle([p for p in programs if card_width(p) <= 64], backend="dense")


@pytest.mark.slow
def test_every_program_matches_the_oracle_on_the_dense_layers():
    check_against_oracle([assemble_file(path) for path in PROGRAMS], backend="dense")
