"""The `looped` command line, against ../shared/spec/interfaces.md."""

import json
import subprocess
import sys

import pytest

from looped.cli.shell import build_parser, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_json_contract(capsys):
    code, out, err = run(capsys, "run", "programs/giannou_factorial.asm", "--json")
    assert code == 0
    (line,) = out.splitlines()
    result = json.loads(line)
    assert result["status"] == "halted" and result["steps"] == 68
    assert result["memory"]["n"] == 5040
    assert not any(name.startswith("#") for name in result["memory"])  # assembler's cells hidden


def test_run_set_and_arrays(capsys):
    code, out, _ = run(capsys, "run", "programs/giannou_reverse_list.asm", "--json",
                       "--set", "list=10,20,30,40,50,60,70")
    assert code == 0 and json.loads(out)["memory"]["list"] == [70, 60, 50, 40, 30, 20, 10]
    code, out, _ = run(capsys, "run", "programs/gcd.asm", "--json", "--set", "a=0x30", "--set", "b=0b10010")
    assert json.loads(out)["memory"]["g"] == 6


def test_run_step_limit_exits_3(capsys):
    code, out, _ = run(capsys, "run", "programs/giannou_factorial.asm", "--json", "--max-steps", "10")
    assert code == 3
    result = json.loads(out)
    assert result["status"] == "step_limit" and result["steps"] == 10


def test_sets_is_one_batch_in_input_order(capsys, tmp_path):
    sets = tmp_path / "inputs.jsonl"
    sets.write_text('{"a": 12, "b": 18}\n\n{"a": 35, "b": 14}\n{"a": 17, "b": 5}\n')
    code, out, _ = run(capsys, "run", "programs/gcd.asm", "--sets", str(sets), "--json")
    assert code == 0
    assert [json.loads(line)["memory"]["g"] for line in out.splitlines()] == [6, 7, 1]


def test_sets_with_a_step_limit_reports_each(capsys, tmp_path):
    sets = tmp_path / "inputs.jsonl"
    sets.write_text('{"n": 2}\n{"n": 7}\n')
    code, out, _ = run(capsys, "run", "programs/factorial.asm", "--sets", str(sets), "--json", "--max-steps", "100")
    statuses = [json.loads(line)["status"] for line in out.splitlines()]
    assert code == 3 and statuses == ["halted", "step_limit"]


@pytest.mark.parametrize("backend", ["dense", "fast"])
def test_backends_agree(capsys, backend):
    code, out, _ = run(capsys, "run", "programs/bubble_sort.asm", "--json", "--backend", backend)
    assert code == 0 and json.loads(out)["memory"]["arr"] == [-7, -3, 0, 2, 5, 9]


def test_human_output(capsys):
    code, out, _ = run(capsys, "run", "programs/multiply.asm")
    assert code == 0 and "halted after" in out and "product = 408" in out


def test_trace_json_lines(capsys):
    code, out, _ = run(capsys, "trace", "programs/giannou_reverse_list.asm")
    lines = [json.loads(line) for line in out.splitlines()]
    steps, final = lines[:-1], lines[-1]
    assert code == 0 and len(steps) == 24 and final["status"] == "halted" and final["steps"] == 24
    assert [s["step"] for s in steps] == list(range(1, 25))
    assert steps[0]["pc"] == 0 and steps[0]["instruction"].startswith("subleq ")
    assert all(s["next_pc"] == t["pc"] for s, t in zip(steps, steps[1:]))
    assert final["memory"]["list"] == [1, 2, 3, -4, -5, -6, -7]


def test_trace_stops_at_max_steps(capsys):
    code, out, _ = run(capsys, "trace", "programs/giannou_factorial.asm", "--max-steps", "3")
    lines = out.splitlines()
    assert code == 3 and len(lines) == 4 and json.loads(lines[-1])["status"] == "step_limit"


def test_disasm_source_and_export(capsys, tmp_path):
    code, out, _ = run(capsys, "disasm", "programs/gcd.asm")
    assert code == 0 and "subleq" in out
    path = tmp_path / "gcd.npz"
    assert run(capsys, "export", "programs/gcd.asm", "-o", str(path))[0] == 0
    code, out, _ = run(capsys, "disasm", str(path))
    assert code == 0 and "halt" in out and "subleq" in out and ".data" in out


def test_card_png(capsys, tmp_path):
    path = tmp_path / "card.png"
    code, _, _ = run(capsys, "card", "programs/gcd.asm", "-o", str(path))
    assert code == 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in ["--set", "--sets", "--max-steps", "--backend", "--json", "--quiet", "PROGRAM.asm"]:
        assert option in text
    run_parser = build_parser()._subparsers._group_actions[0].choices["run"]
    for action in run_parser._actions:
        assert action.help, f"{action.option_strings or action.dest} has no help"


# ---- errors: FILE:LINE:COL: error: ..., exit 2, no traceback, nothing runs ------------------------

ERRORS = [
    # (argv, location, fragment)
    (["run", "BAD.asm"], "BAD.asm:3:9:", "unknown label 'lopo' (did you mean 'loop'?)"),
    (["run", "programs/gcd.asm", "--set", "aa=3"], "--set:1:1:", "unknown data label 'aa' (did you mean 'a'?)"),
    (["run", "programs/giannou_reverse_list.asm", "--set", "list=1,2"], "--set:1:1:", "has 7 cells"),
    (["run", "programs/gcd.asm", "--set", "a=70000"], "--set:1:1:", "does not fit in 16 bits"),
    (["run", "programs/gcd.asm", "--set", "a=12", "--set", "b=x"], "--set:2:3:", "expected an integer"),
    (["run", "programs/gcd.asm", "--set", "a"], "--set:1:1:", "expected NAME=VALUE"),
    (["run", "programs/gcd.asm", "--sets", "SETS"], "SETS:2:", "unreadable line"),
    (["run", "missing.asm"], "missing.asm:1:1:", "no such file"),
]


@pytest.mark.parametrize("argv, where, fragment", ERRORS)
def test_errors_name_the_place_and_exit_2(capsys, tmp_path, monkeypatch, argv, where, fragment):
    (tmp_path / "BAD.asm").write_text("loop: inc x\n\n    jmp lopo\n.data\nx: 0\n")
    (tmp_path / "SETS").write_text('{"a": 1, "b": 2}\n{"a": 1,, }\n')
    argv = [str(tmp_path / a) if a in ("BAD.asm", "SETS") else a for a in argv]
    where = where.replace("BAD.asm", str(tmp_path / "BAD.asm")).replace("SETS", str(tmp_path / "SETS"))
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(where) and ": error: " in err and fragment in err
    assert "Traceback" not in err


def test_sets_errors_name_the_line(capsys, tmp_path):
    sets = tmp_path / "s.jsonl"
    sets.write_text('{"a": 1, "b": 2}\n[1, 2]\n')
    code, _, err = run(capsys, "run", "programs/gcd.asm", "--sets", str(sets))
    assert code == 2 and err.startswith(f"{sets}:2:1: error: expected a JSON object")
    sets.write_text('{"a": 1, "b": 2}\n{"b": 3, "zz": 1}\n')
    code, _, err = run(capsys, "run", "programs/gcd.asm", "--sets", str(sets))
    assert code == 2 and err.startswith(f"{sets}:2:10: error: unknown data label 'zz'")


def test_bad_arguments_exit_2(capsys):
    assert run(capsys, "run", "programs/gcd.asm", "--backend", "nope")[0] == 2
    assert run(capsys, "run", "programs/gcd.asm", "--max-steps", "-4")[0] == 2
    assert run(capsys, "frobnicate")[0] == 2


def test_console_script_error_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.asm"
    bad.write_text(".data\nx: 300\n.bits 8\n")
    proc = subprocess.run([sys.executable, "-m", "looped.cli", "run", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"{bad}:") and ": error: " in proc.stderr and "Traceback" not in proc.stderr


def test_bad_input_is_answered_before_jax_is_imported(tmp_path):
    # (importing JAX costs seconds: a missing file or a bad setting must not wait for it)
    check = ("import sys; from looped.cli.shell import main; code = main(sys.argv[1:]); "
             "print('jax' in sys.modules); sys.exit(code)")
    env = dict(__import__("os").environ, LOOPED_CACHE_DIR=str(tmp_path))  # (the cache is switched on, as for users)
    for args in (["run", "missing.asm"], ["run", "programs/gcd.asm", "--set", "q=1"], ["trace", "missing.asm"]):
        proc = subprocess.run([sys.executable, "-c", check, *args], capture_output=True, text=True, env=env)
        assert proc.returncode == 2 and proc.stdout.strip() == "False", (args, proc.stdout, proc.stderr)


def _assembler_cases():
    from tests.machines.subleq import test_assembler_errors  # the catalogue of every mistake a user can make in a program

    return test_assembler_errors.CASES


@pytest.mark.parametrize("source, line, col, fragment", _assembler_cases(),
                         ids=[c[3][:40] for c in _assembler_cases()])
def test_every_program_error_through_the_command(capsys, tmp_path, source, line, col, fragment):
    path = tmp_path / "prog.asm"
    path.write_text(source)
    for command in (["run", str(path), "--json"], ["export", str(path), "-o", str(tmp_path / "m.npz")]):
        code, out, err = run(capsys, *command)
        assert code == 2 and out == "", command
        assert err.startswith(f"{path}:{line}:{col}: error: ") and fragment in err
        assert "Traceback" not in err
    assert not (tmp_path / "m.npz").exists()  # nothing ran, nothing was written


def test_disasm_refuses_what_is_not_an_exported_machine(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("garbage")
    for path in (bad, tmp_path / "missing.npz"):
        code, out, err = run(capsys, "disasm", str(path))
        assert code == 2 and out == "" and err.startswith(f"{path}:1:1: error: ")


# ---- papercuts: version, python -m, empty programs, disassembling an exported machine ----------------


def test_version_and_python_dash_m(capsys):
    from looped import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"looped {__version__}"
    proc = subprocess.run([sys.executable, "-m", "looped", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"looped {__version__}"


@pytest.mark.parametrize("source", ["", "; nothing\n", ".data\nx: 5\n", ".bits 8\n.code\n"])
def test_a_program_without_instructions_is_a_located_error(capsys, tmp_path, source):
    path = tmp_path / "empty.asm"
    path.write_text(source)
    code, out, err = run(capsys, "run", str(path), "--json")
    assert code == 2 and out == ""
    assert err.startswith(f"{path}:1:1: error: the program has no instructions")
    path.write_text(".code\nhalt\n")  # a program that halts at once is one
    assert run(capsys, "run", str(path), "--json", "--backend", "dense")[0] == 0


@pytest.mark.parametrize("name, sets", [("gcd", ["a=1071", "b=462"])])
def test_an_exported_machine_disassembles_to_a_program_that_runs_the_same(capsys, tmp_path, name, sets):
    sets = [arg for s in sets for arg in ("--set", s)]
    machine = tmp_path / "m.npz"
    assert run(capsys, "export", f"programs/{name}.asm", *sets, "-o", str(machine))[0] == 0
    code, listing, _ = run(capsys, "disasm", str(machine))
    assert code == 0 and not any("@" in line.split(";")[0] or "#" in line.split(";")[0] for line in listing.splitlines())
    source = tmp_path / "listing.asm"
    source.write_text(listing)
    original = json.loads(run(capsys, "run", f"programs/{name}.asm", *sets, "--json")[1])
    again = json.loads(run(capsys, "run", str(source), "--json")[1])
    assert again["status"] == original["status"] and again["steps"] == original["steps"]
    assert {k: again["memory"][k] for k in original["memory"]} == original["memory"]
    from looped.assembler import assemble_file

    labels = dict(assemble_file(f"programs/{name}.asm").code_labels)
    assert dict(assemble_file(source).code_labels).items() >= labels.items()  # labels included


@pytest.mark.parametrize("name, value, expected", [
    ("LOOPED_XLA_VECTOR_BITS", "300", "LOOPED_XLA_VECTOR_BITS must be 128, 256 or 512, not '300'"),
    ("LOOPED_THREADS", "two", "LOOPED_THREADS must be a whole number of threads"),
    ("LOOPED_XLA_UNROLL_MAX", "-1", "LOOPED_XLA_UNROLL_MAX must be a whole number of loop iterations"),
])
def test_a_bad_kernel_setting_is_a_usage_error(capsys, monkeypatch, tmp_path, name, value, expected):
    """An environment variable of the kernels' with a value it cannot take: an error naming it
    (exit 2), no traceback, and no card is run."""
    sets = tmp_path / "pairs.jsonl"
    sets.write_text("".join(json.dumps({"a": 12 + i, "b": 18}) + "\n" for i in range(20)))  # (enough cards for two lanes)
    for setting in ("LOOPED_THREADS", "LOOPED_XLA_VECTOR_BITS", "LOOPED_XLA_UNROLL_MAX"):
        monkeypatch.delenv(setting, raising=False)
    monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "run", "programs/gcd.asm", "--sets", str(sets), "--json")
    assert code == 2
    assert err.startswith(f"error: {expected}")
    assert "Traceback" not in err and out == ""
