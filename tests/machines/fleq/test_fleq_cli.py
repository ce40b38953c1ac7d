"""The `looped` command line on FLEQ programs, against ../shared/spec/fleq.md and interfaces.md."""

import json
import math

import numpy as np
import pytest

from looped.cli import main

CALC = "programs/fleq/calculator.asm"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_calculator_json_contract(capsys):
    code, out, err = run(capsys, "run", CALC, "--json", "--set", "x=12.5", "--set", "y=-0.25")
    assert code == 0, err
    (line,) = out.splitlines()
    result = json.loads(line)
    assert result["status"] == "halted" and result["steps"] > 0
    memory = result["memory"]
    want = {"sum": 12.25, "diff": 12.75, "prod": -3.125, "quot": -50.0, "root": math.sqrt(12.5)}
    for name, value in want.items():
        assert abs(memory[name] - value) <= 1e-6 * abs(value)
    assert not any(name.startswith("#") for name in memory)


def test_sets_batch_in_input_order_with_json_values(capsys, tmp_path):
    sets = tmp_path / "m.jsonl"
    rows = [{"A": [[1, 2, 0], [0, 1, 0], [0, 0, 1]], "c": 2}, {"A": [[0, 0, 0], [0, 0, 0], [0, 0, 0]], "k": 1},
            {"v": [3, 2, 1]}]
    sets.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code, out, err = run(capsys, "run", "programs/fleq/matrix_ops.asm", "--sets", str(sets), "--json")
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert len(results) == 3
    assert results[0]["memory"]["A"] == [[1, 2, 0], [0, 1, 0], [0, 0, 1]]
    np.testing.assert_allclose(results[0]["memory"]["cA"], [[2, 4, 0], [0, 2, 0], [0, 0, 2]], rtol=1e-9)
    assert results[1]["memory"]["P"] == [[0.0] * 3] * 3
    assert results[2]["memory"]["v"] == [3, 2, 1]
    assert results[1]["steps"] < results[0]["steps"]  # k = 1: one squaring


@pytest.mark.parametrize("argv, where, what", [
    (["--set", "x=[1, 2]"], "--set:1:", "expected a number"),
    (["--set", "x=NaN"], "--set:1:3:", "NaN"),
    (["--set", "y=-Infinity"], "--set:1:", "Infinity"),
    (["--set", "y=1e400"], "--set:1:", "finite"),
    (["--set", "y=[[1]"], "--set:1:", "bad JSON"),
    (["--set", "z=1"], "--set:1:1:", "unknown data label"),
])
def test_bad_settings_are_located_errors_and_nothing_runs(capsys, argv, where, what):
    code, out, err = run(capsys, "run", CALC, *argv)
    assert code == 2 and out == ""
    assert err.startswith(where) and what in err and "Traceback" not in err


def test_bad_lines_of_a_sets_file(capsys, tmp_path):
    sets = tmp_path / "bad.jsonl"
    sets.write_text('{"x": 1, "y": 2}\n{"x": NaN}\n')
    code, out, err = run(capsys, "run", CALC, "--sets", str(sets))
    assert code == 2 and out == "" and err.startswith(f"{sets}:2:7:")
    sets.write_text('{"x": [[1, 2], [3, 4]]}\n')
    code, out, err = run(capsys, "run", CALC, "--sets", str(sets))
    assert code == 2 and err.startswith(f"{sets}:1:2:") and "1x1" in err


@pytest.mark.parametrize("source, where, what", [
    (".isa fleq\n.data\nx: 1\n.code\n  fleq frob, x, x, x, x, halt\n", "5:8", "unknown function 'frob'"),
    (".isa fleq\n.data\nx: 1\nA: .zeros 2, 2\n.code\n  mov x, A\n", "6:7", "cannot write a 2x2 matrix into 'x'"),
    (".isa fleq\n.data\nA: [[1, 2], [3, 4]]\nv: [1, 2, 3]\n.code\n  matmul v, A, v\n", "6:", "matmul"),
    (".isa fleq\n.data\nx: 1\n", "1:1", "no instructions"),
])
def test_bad_programs_are_located_errors(capsys, tmp_path, source, where, what):
    path = tmp_path / "bad.asm"
    path.write_text(source)
    code, out, err = run(capsys, "run", str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"{path}:{where}") and what in err and "Traceback" not in err


def test_trace_and_step_limit(capsys):
    code, out, _ = run(capsys, "trace", CALC, "--max-steps", "4")
    assert code == 3
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["step"] for r in lines[:4]] == [1, 2, 3, 4]
    assert lines[0]["changed"] == {"sum": 5.0} and lines[-1]["status"] == "step_limit"


def test_export_and_disasm(capsys, tmp_path):
    code, _, _ = run(capsys, "export", CALC, "--set", "x=3", "-o", str(tmp_path / "c.npz"))
    assert code == 0
    code, out, _ = run(capsys, "disasm", str(tmp_path / "c.npz"))
    assert code == 0 and ".isa fleq" in out and "x: 3" in out
    code, out, _ = run(capsys, "disasm", CALC)
    assert code == 0 and "recip r, my" in out
