"""The size guard (looped/memory_guard.py) and the cache bound (looped/cache_bound.py): an
oversized machine is refused before anything is built, with a located error naming the size and
the limit (exit 2); nothing in programs/ is refused by the default budget; under a process memory
limit the command ends cleanly, never with a traceback."""

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from looped import memory_guard
from looped.assembler import assemble, assemble_file
from looped.errors import AsmError

ROOT = Path(__file__).resolve().parent.parent
HUGE = ".isa fleq\n.data\nA: .zeros 3000, 3000\n.code\n        halt\n"


def test_oversized_machine_is_refused_in_well_under_a_second():
    program = assemble(HUGE, "huge.asm")
    started = time.perf_counter()
    with pytest.raises(AsmError) as info:
        memory_guard.check_programs([program])
    assert time.perf_counter() - started < 1.0
    text = str(info.value)
    assert text.startswith("huge.asm:3:1: error: the machine for this program needs about")
    assert "more than the memory budget of" in text and "--max-memory" in text


def test_nothing_in_programs_is_refused_by_the_default_budget():
    paths = sorted(ROOT.glob("programs/*.asm")) + sorted(ROOT.glob("programs/fleq/**/*.asm"))
    assert len(paths) > 30
    for path in paths:
        memory_guard.check_programs([assemble_file(str(path))])


def test_parse_size():
    assert memory_guard.parse_size("512M") == 512 << 20
    assert memory_guard.parse_size("2G") == 2 << 30
    assert memory_guard.parse_size("1.5GB") == 3 << 29
    for bad in ("", "lots", "-1G", "0"):
        with pytest.raises(ValueError):
            memory_guard.parse_size(bad)


def _run(args, tmp_path, limit=None):
    def preexec():
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "LOOPED_CACHE_DIR": ""}
    env.pop("LOOPED_MAX_MEMORY", None)
    return subprocess.run([sys.executable, "-m", "looped", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, preexec_fn=preexec)


def test_the_command_refuses_zeros_3000_by_3000(tmp_path):
    path = tmp_path / "huge.asm"
    path.write_text(HUGE)
    result = _run(["run", str(path)], tmp_path)
    assert result.returncode == 2
    assert f"{path}:3:1: error: the machine for this program needs about" in result.stderr
    assert "Traceback" not in result.stderr


def test_under_a_process_memory_limit_no_traceback(tmp_path):
    """A 300x300 value under a 3 GB address-space limit: refused by the budget (derived from the
    limit), and, with the budget lifted, stopped by "out of memory": exit 1 or 2, never a traceback."""
    path = tmp_path / "big.asm"
    path.write_text(".isa fleq\n.data\nA: .zeros 300, 300\n.code\n        halt\n")
    refused = _run(["run", str(path)], tmp_path, limit=3 << 30)
    assert refused.returncode == 2 and "memory budget" in refused.stderr, refused.stderr[-2000:]
    lifted = _run(["run", str(path), "--max-memory", "1T"], tmp_path, limit=3 << 30)
    assert lifted.returncode == 1 and "out of memory" in lifted.stderr, lifted.stderr[-2000:]
    for result in (refused, lifted):
        assert "Traceback" not in result.stderr


def test_cache_bound_evicts_the_oldest(tmp_path):
    from looped import cache_bound

    for k in range(5):
        path = tmp_path / "loops" / f"{k}.pkl"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1000 + k, 1000 + k))
    freed = cache_bound.bound(str(tmp_path), 2500)
    assert freed == 3000
    assert sorted(p.name for p in (tmp_path / "loops").iterdir()) == ["3.pkl", "4.pkl"]
