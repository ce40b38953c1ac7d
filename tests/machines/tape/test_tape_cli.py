"""`looped tape` and `looped assemble --tape`, against ../shared/spec/interfaces.md. The runs use
the dense backend on small cards (cheap to compile); the backends compute the same machine
(tests/machines/tape/test_tape_machine.py)."""

import json
from pathlib import Path

import pytest

from looped.cli import main

ROOT = Path(__file__).resolve().parents[3]
TAPES = ROOT / "tapes"
SMALL = ["--backend", "dense", "--output-cells", "8"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_contract_of_the_spec_example(capsys):
    code, out, err = run(capsys, "tape", TAPES / "hi.tape", "--json", *SMALL)
    assert code == 0
    (line,) = out.splitlines()
    assert json.loads(line) == {"status": "halted", "steps": 3, "output": "Hi",
                                "memory": [0, -1, 3, 10, -1, 6, 0, 0, -1, 72, 105]}


def test_plain_output_is_the_program_output(capsys):
    code, out, err = run(capsys, "tape", TAPES / "hello.tape", *SMALL)
    assert code == 0 and out == "Hello, world!\n" and err == ""


def test_input_text_file_and_memory(capsys, tmp_path):
    code, out, _ = run(capsys, "tape", TAPES / "cat.tape", "--input", "héllo", "--json", *SMALL)
    result = json.loads(out)
    assert code == 0 and result["output"] == "héllo" and result["steps"] == 6 * 4 + 3  # 6 bytes of UTF-8
    data = tmp_path / "in.bin"
    data.write_bytes(b"\x00\x01ab")
    code, out, _ = run(capsys, "tape", TAPES / "cat.tape", "--input-file", data, "--json", "--memory", "20", *SMALL)
    result = json.loads(out)
    assert code == 0 and result["output"] == "\x00\x01ab" and len(result["memory"]) == 20
    assert result["memory"][17:] == [0, 0, 0]


def test_sets_run_as_one_batch_in_order_each_as_alone(capsys, tmp_path):
    sets = tmp_path / "inputs.jsonl"
    sets.write_text('{"input": "abc"}\n\n{"input": ""}\n{}\n')
    code, out, _ = run(capsys, "tape", TAPES / "cat.tape", "--sets", sets, "--input", "zz", "--json", *SMALL)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["output"] for r in lines] == ["abc", "", "zz"]
    code, out, _ = run(capsys, "tape", TAPES / "cat.tape", "--input", "abc", "--json", *SMALL)
    assert json.loads(out) == lines[0]  # a result does not depend on its batch
    code, out, _ = run(capsys, "tape", TAPES / "cat.tape", "--sets", sets, *SMALL)
    assert out.startswith("instance 1: halted after") and "abc" in out


def test_fault_is_status_fault_exit_4_naming_step_and_ip(capsys, tmp_path):
    tape = tmp_path / "f.tape"
    tape.write_text("0 0 3  3 100 0\n")
    code, out, err = run(capsys, "tape", tape, "--json", *SMALL)
    result = json.loads(out)
    assert code == 4 and result["status"] == "fault" and result["steps"] == 2
    assert "step 2" in result["message"] and "IP 3" in result["message"]
    assert "fault at step 2, IP 3" in err


def test_step_limit_exit_3(capsys, tmp_path):
    tape = tmp_path / "loop.tape"
    tape.write_text("0 0 0\n")
    code, out, _ = run(capsys, "tape", tape, "--json", "--max-steps", "7", *SMALL)
    assert code == 3 and json.loads(out) == {"status": "step_limit", "steps": 7, "output": "", "memory": [0, 0, 0]}


def test_bits(capsys, tmp_path):
    tape = tmp_path / "w.tape"
    tape.write_text("3 4 -1 1 -128\n")  # mem[4] = -128 - 1 wraps to 127 in 8 bits
    code, out, _ = run(capsys, "tape", tape, "--bits", "8", "--json", *SMALL)
    assert code == 0 and json.loads(out)["memory"][4] == 127
    code, out, _ = run(capsys, "tape", tape, "--json", *SMALL)
    assert json.loads(out)["memory"][4] == -129


@pytest.mark.parametrize("text, args, message", [
    ("1 2 x\n", [], ":1:5: error: expected an integer, got 'x'"),
    ("1 2\n300\n", ["--bits", "8"], ":2:1: error: value 300 does not fit in 8-bit words"),
    ("", [], ":1:1: error: empty tape"),
    ("1 2 3\n", ["--memory", "2"], "error: --memory 2 is smaller than the tape (3 cells)"),
    ("1 2 3\n", ["--bits", "3"], "word size 3 is not supported"),
])
def test_malformed_tapes_and_arguments_exit_2(capsys, tmp_path, text, args, message):
    tape = tmp_path / "bad.tape"
    tape.write_text(text)
    code, out, err = run(capsys, "tape", tape, *args)
    assert code == 2 and out == "" and message in err


def test_bad_sets_lines_are_located(capsys, tmp_path):
    tape = TAPES / "cat.tape"
    sets = tmp_path / "s.jsonl"
    sets.write_text('{"input": "a"}\n{"input": 5}\n')
    code, _, err = run(capsys, "tape", tape, "--sets", sets)
    assert code == 2 and f"{sets}:2:2: error: \"input\" must be a string" in err
    sets.write_text('{"inptu": "a"}\n')
    code, _, err = run(capsys, "tape", tape, "--sets", sets)
    assert code == 2 and "unknown key 'inptu'" in err
    code, _, err = run(capsys, "tape", tmp_path / "missing.tape")
    assert code == 2 and "no such file" in err


def test_assemble_writes_a_tape_that_runs_like_the_program(capsys, tmp_path):
    out_file = tmp_path / "m.tape"
    code, _, err = run(capsys, "assemble", ROOT / "programs" / "multiply_raw.asm", "--tape", "-o", out_file,
                       "--set", "a=5", "--set", "b=9")
    assert code == 0 and "wrote" in err
    code, out, _ = run(capsys, "tape", out_file, "--json", *SMALL)
    result = json.loads(out)
    # 6 instructions (18 cells), then the data: a, b, product
    assert code == 0 and result["status"] == "halted" and result["memory"][18:21] == [5, 0, 45]
    code, out, _ = run(capsys, "assemble", ROOT / "programs" / "multiply_raw.asm", "--tape")
    assert code == 0 and out.startswith("# ") and "--bits 16" in out.splitlines()[0]
    assert out.split() != out_file.read_text().split()  # the settings are in the file


def test_assemble_writes_a_tape_without_tape_too_and_refuses_fleq(capsys):
    code, out, _ = run(capsys, "assemble", ROOT / "programs" / "gcd.asm")  # --tape is the default now
    assert code == 0 and out.startswith("# ") and "classic SUBLEQ tape" in out.splitlines()[0]
    code, _, err = run(capsys, "assemble", ROOT / "programs" / "fleq" / "calculator.asm", "--tape")
    assert code == 2 and "only SUBLEQ programs become tapes" in err
