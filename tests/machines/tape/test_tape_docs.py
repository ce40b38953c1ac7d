"""Every console example of docs/tapes.md runs as shown: each `$ looped ...` line is run (tape runs
on the dense backend with 8 output cells, which compute the same as the defaults, cheaper to
compile for these small cards) and its standard output compared with the lines under it."""

import json
import re
import shlex
from pathlib import Path

from looped.cli import main

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "tapes.md"


def examples():
    out = []
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(), flags=re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, expected = chunk.partition("\n")
            out.append((command, expected))
    return out


def test_every_console_example_runs_as_shown(capsys, tmp_path, monkeypatch):
    found = examples()
    assert len(found) >= 7
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tapes").symlink_to(ROOT / "tapes")
    (tmp_path / "programs").symlink_to(ROOT / "programs")
    for command, expected in found:
        argv = shlex.split(command)
        assert argv[0] == "looped"
        if argv[1] == "tape":
            argv += ["--backend", "dense", "--output-cells", "8"]
        code = main(argv[1:])
        out = capsys.readouterr().out
        assert code in (0, 4), command
        if "--json" in argv:
            assert [json.loads(line) for line in out.splitlines()] == \
                   [json.loads(line) for line in expected.splitlines()], command
        else:
            assert out.rstrip("\n") == expected.rstrip("\n"), command
