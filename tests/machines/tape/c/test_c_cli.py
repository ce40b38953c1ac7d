"""C through the transformer: `looped run FILE.c`, `looped cc` followed by `looped tape`, and
`looped trace FILE.c`, against gcc. The default suite runs gcd.c (one card width: one compiled machine); every program of
tests/c/ both ways is slow-marked (benchmarks/c_programs.py gives their steps and seconds)."""

import json
import os

import pytest

from looped.cli.shell import main
from looped.machines.tape.c.oracle import gcc_available, run_gcc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
PROGRAMS = os.path.join(ROOT, "tests", "c")
NAMES = sorted(f[:-2] for f in os.listdir(PROGRAMS) if f.endswith(".c"))

pytestmark = pytest.mark.skipif(not gcc_available(), reason="gcc is the oracle")


def source_and_input(name):
    path = os.path.join(PROGRAMS, name + ".c")
    data = b""
    if os.path.exists(os.path.join(PROGRAMS, name + ".input")):
        with open(os.path.join(PROGRAMS, name + ".input"), "rb") as f:
            data = f.read()
    with open(path) as f:
        return path, f.read(), data


def json_lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def check_run(name, capsys, tmp_path):
    path, source, data = source_and_input(name)
    gcc = run_gcc(source, data)
    input_file = tmp_path / "input.bin"
    input_file.write_bytes(data)
    assert main(["run", path, "--json", "--input-file", str(input_file), "--max-steps", "2000000"]) == 0
    (line,) = json_lines(capsys)
    assert line["status"] == "halted"
    assert line["output"].encode("utf-8", "surrogateescape") == gcc.output
    assert line["exit_code"] % 256 == gcc.exit_code
    return line


def check_cc_then_tape(name, capsys, tmp_path, steps):
    path, source, data = source_and_input(name)
    gcc = run_gcc(source, data)
    tape = tmp_path / (name + ".tape")
    assert main(["cc", path, "-o", str(tape)]) == 0
    input_file = tmp_path / "input.bin"
    input_file.write_bytes(data)
    capsys.readouterr()
    assert main(["tape", str(tape), "--bits", "32", "--json", "--input-file", str(input_file),
                 "--max-steps", "2000000"]) == 0
    (line,) = json_lines(capsys)
    assert line["status"] == "halted" and line["steps"] == steps
    assert line["output"].encode("utf-8", "surrogateescape") == gcc.output
    assert line["memory"][3] % 256 == gcc.exit_code  # main's value: cell 3


def test_gcd_both_ways(capsys, tmp_path):
    line = check_run("gcd", capsys, tmp_path)
    assert line["exit_code"] == 21
    check_cc_then_tape("gcd", capsys, tmp_path, line["steps"])


@pytest.mark.slow
def test_input_both_ways(capsys, tmp_path):
    line = check_run("echo_upper", capsys, tmp_path)
    check_cc_then_tape("echo_upper", capsys, tmp_path, line["steps"])


def test_trace_names_the_c_line_of_each_step(capsys):
    path = os.path.join(PROGRAMS, "gcd.c")
    assert main(["trace", path, "--max-steps", "40"]) == 3  # stopped at the step limit
    lines = json_lines(capsys)
    steps = [row for row in lines if "step" in row and "ip" in row]
    assert len(steps) == 40 and steps[0]["step"] == 1
    with open(path) as f:
        text = f.read().splitlines()
    for row in steps[1:]:
        assert row["loc"].startswith(path + ":")
        line = int(row["loc"].split(":")[-2])
        assert row["source"] == text[line - 1].strip()
    assert any(row["source"] == "while (b != 0) {" for row in steps)
    assert lines[-1]["status"] == "step_limit" and lines[-1]["steps"] == 40


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_program_through_the_transformer(name, capsys, tmp_path):
    line = check_run(name, capsys, tmp_path)
    check_cc_then_tape(name, capsys, tmp_path, line["steps"])
