"""Classic SUBLEQ tapes without the transformer: the tape parser (located errors), the dialect on
the oracle (public tapes and their documented output), the Harvard -> tape translation of every
library program, and the random tapes of the fuzz."""

import glob
from pathlib import Path

import pytest

from looped.machines.subleq import oracle
from looped.machines.tape import oracle as tape_oracle
from looped.assembler import assemble_file
from looped.errors import AsmError, LoopedError
from looped.machines.tape.random_tapes import interesting_tapes, qualities
from looped.machines.tape.assemble import to_tape
from looped.machines.tape.program import TapeProgram, format_tape, load_tape, max_memory, parse_tape

ROOT = Path(__file__).resolve().parents[3]
TAPES = ROOT / "tapes"

# Public tapes and what they are documented to do: (file, input, output, steps, status).
PUBLIC = [
    ("hello.tape", b"", b"Hello, world!\n", 71, "halted"),  # Rosetta Code, "Execute Subleq"
    ("hello_esolang.tape", b"", b"Hello, World!\n", 167, "halted"),  # esolangs.org wiki, Subleq
    ("hi.tape", b"", b"Hi", 3, "halted"),  # the interface spec's example
    ("cat.tape", b"meow\n", b"meow\n", 23, "halted"),
    ("cat.tape", b"", b"", 3, "halted"),
    ("reverse.tape", b"Hello, world!", b"!dlrow ,olleH", 173, "halted"),
    ("reverse.tape", b"x" * 33, b"", 227, "fault"),  # the 33rd byte is stored past the memory
]


# ---- the parser -------------------------------------------------------------------------------------


def test_integers_separated_by_whitespace_or_commas_with_comments():
    tape = parse_tape("1, 2,3\t-4 ; a comment 5\n# 6 7\n+8,\n\n  9 #x", "t.tape")
    assert tape.memory == (1, 2, 3, -4, 8, 9) and tape.size == 6 and tape.bits == 16 and tape.isa == "tape"


@pytest.mark.parametrize("text, bits, where, words", [
    ("1 2 x", 16, "t.tape:1:5", "expected an integer, got 'x'"),
    ("1 2\n 3 0x10", 16, "t.tape:2:4", "expected an integer, got '0x10'"),
    ("1 2 3.5", 16, "t.tape:1:5", "expected an integer"),
    ("# only a comment\n", 16, "t.tape:1:1", "empty tape"),
    ("0 0\n40000", 16, "t.tape:2:1", "value 40000 does not fit in 16-bit words (expected -32768 .. 32767"),
    ("128", 8, "t.tape:1:1", "does not fit in 8-bit words"),
    ("-129", 8, "t.tape:1:1", "does not fit in 8-bit words"),
    ("1 2 3 4 5 6 7 8 9", 4, "t.tape:1:15", "value 8 does not fit in 4-bit words"),
    ("1 2 3 4 5 6 7 0 0", 4, "t.tape:1:1", "a memory of 9 cells does not fit 4-bit addresses (at most 8 cells; use --bits 5"),
    ("0 " + "9" * 5000, 16, "t.tape:1:3", "value 99999999999999999999... does not fit in 16-bit words"),
])
def test_malformed_tapes_are_located_errors(text, bits, where, words):
    with pytest.raises(AsmError) as err:
        parse_tape(text, "t.tape", bits)
    assert str(err.value).startswith(f"{where}: error: ") and words in str(err.value)


def test_the_word_size_bounds_values_and_memory():
    assert parse_tape("127 -128", bits=8).memory == (127, -128)
    assert max_memory(8) == 128 and max_memory(16) == 32768
    with pytest.raises(AsmError, match="word size 3 is not supported"):
        parse_tape("0", bits=3)


def test_memory_size_pads_with_zeros_and_refuses_less_than_the_tape():
    tape = parse_tape("1 2 3")
    assert tape.with_memory_size(6).memory == (1, 2, 3, 0, 0, 0)
    with pytest.raises(LoopedError, match="smaller than the tape"):
        tape.with_memory_size(2)
    with pytest.raises(AsmError, match="does not fit 8-bit addresses"):
        parse_tape("1 2 3", bits=8).with_memory_size(129)


def test_load_tape_errors_name_the_file(tmp_path):
    with pytest.raises(AsmError, match="no such file"):
        load_tape(str(tmp_path / "missing.tape"))
    binary = tmp_path / "b.tape"
    binary.write_bytes(b"1 2\n\xff\xfe")
    with pytest.raises(AsmError) as err:
        load_tape(str(binary))
    assert str(err.value).startswith(f"{binary}:2:1: error: not a text file")


def test_tape_files_as_editors_save_them(tmp_path):
    """A byte-order mark, CRLF line ends and a comment that is not UTF-8 (an old Latin-1 remark)
    read as the tape; a byte that is not UTF-8 outside a comment is an error at its place."""
    path = tmp_path / "hi.tape"
    path.write_bytes(b"\xef\xbb\xbf9 -1 3\r\n10 -1 6  # caf\xe9\r\n0 0 -1 ; \xff\r\n72 105\r\n")
    assert load_tape(str(path)).memory == (9, -1, 3, 10, -1, 6, 0, 0, -1, 72, 105)
    path.write_bytes(b"1 2 3\n4 5\xe9 6\n")
    with pytest.raises(AsmError) as err:
        load_tape(str(path))
    assert str(err.value).startswith(f"{path}:2:4: error: not a text file")


def test_format_tape_reads_back():
    text = format_tape([1, -2, 3, 4, 5], {0: "first", 3: "data"}, header="a header")
    assert text.startswith("# a header\n") and "# first" in text and "# data" in text
    assert parse_tape(text).memory == (1, -2, 3, 4, 5)


# ---- the dialect, on the oracle -----------------------------------------------------------------------


@pytest.mark.parametrize("name, data, output, steps, status", PUBLIC)
def test_public_tapes_give_their_documented_output(name, data, output, steps, status):
    state = tape_oracle.run(load_tape(str(TAPES / name)).with_input(data), 100_000)
    assert (bytes(state.output), state.steps, state.status) == (output, steps, status)


def test_the_spec_example_final_memory():
    state = tape_oracle.run(load_tape(str(TAPES / "hi.tape")))
    assert state.memory == [0, -1, 3, 10, -1, 6, 0, 0, -1, 72, 105]


def test_dialect_details():
    run = lambda text, data=b"", bits=16, steps=100: tape_oracle.run(  # noqa: E731
        parse_tape(text, bits=bits).with_input(data), steps)
    # input: one byte per read, -1 once exhausted; stored modulo the word size
    state = run("-1 12 3 -1 13 6 -1 14 9 0 0 -1 0 0 0", b"\xc8")
    assert state.memory[12:] == [200, -1, -1] and state.status == "halted" and state.input_pos == 1
    assert run("-1 3 -1 0", b"\xc8", bits=8).memory[3] == -56
    # output: mem[A] modulo 256
    assert bytes(run("3 -1 -1 -3").output) == b"\xfd"
    # subtraction wraps at the word size; <= 0 jumps
    state = run("4 3 -1 -128 1", bits=8)  # -128 - 1 wraps to 127 > 0: no jump; IP 3 > 5 - 3 halts
    assert state.memory[3] == 127 and state.steps == 1 and state.status == "halted" and state.ip == 3
    assert run("4 3 -1 -127 1", bits=8).ip == -1
    # halting: IP < 0, or IP > size - 3 (falling off the end)
    assert run("0 0 -1").steps == 1 and run("1 0 3 0").status == "halted"
    assert tape_oracle.run(parse_tape("5 5")).steps == 0  # too small to hold an instruction
    # faults: an address outside the memory, other than the -1 cases; the step counts, IP stays
    state = run("0 0 3 -1 -1 0")
    assert state.status == "fault" and state.steps == 2 and state.ip == 3
    assert state.message == ("fault at step 2, IP 3: input into mem[-1]: address -1 is outside the memory (0 .. 5)")
    state = run("7 -1 0")
    assert state.status == "fault" and "output of mem[7]" in state.message
    assert run("-2 0 0").status == "fault" and run("0 3 0").status == "fault"


# ---- Harvard programs as tapes ----------------------------------------------------------------------------

LIBRARY = sorted(glob.glob(str(ROOT / "programs" / "*.asm")))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: Path(p).name)
def test_every_library_program_runs_as_a_tape_on_the_oracle(path):
    program = assemble_file(path)
    if program.isa != "subleq":
        pytest.skip("not a SUBLEQ program")
    translation = to_tape(program)
    harvard = oracle.run(program, 100_000)
    tape = tape_oracle.run(translation.tape, 100_000)
    assert harvard.halted and tape.status == "halted"
    assert translation.data(tape.memory) == harvard.memory
    # the same steps, one more when the program ends by running off its last instruction
    assert harvard.steps <= tape.steps <= harvard.steps + 1
    assert parse_tape(translation.text, bits=program.bits).memory == translation.tape.memory


def test_a_program_too_large_for_its_words_is_refused():
    program = assemble_file(str(ROOT / "programs" / "gcd.asm"))
    import dataclasses

    with pytest.raises(LoopedError, match="needs 73 cells, more than 6-bit addresses reach"):
        to_tape(dataclasses.replace(program, bits=6))


# ---- the fuzz's tapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [8, 16, 20])
def test_random_tapes_modify_themselves_do_io_and_run_long(bits):
    tapes = interesting_tapes(seed=bits, count=5, bits=bits)
    for tape in tapes:
        q = qualities(tape, 200)
        assert q["steps"] >= 200 and q["inputs"] and q["outputs"] and q["self_modifying"]
        assert isinstance(tape, TapeProgram) and tape.size <= max_memory(bits)
