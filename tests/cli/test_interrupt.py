"""Ctrl-C at any moment of `looped run` (looped/cli/interrupt.py): "interrupted" on stderr, no
traceback (nor Python's "Exception ignored in ..."), and the run stops at once (exit 130)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("delay", [0.2, 0.5, 1.0, 2.0])
def test_ctrl_c_stops_the_run_quietly(delay):
    env = {**os.environ, "LOOPED_CACHE_DIR": ""}
    process = subprocess.Popen([sys.executable, "-m", "looped", "run", "programs/fleq/linalg/inverse_8x8.asm",
                                "--max-steps", "100000000"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    sent = time.perf_counter()
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the run went on after Ctrl-C")
    assert time.perf_counter() - sent < 30
    assert "interrupted" in err
    assert "Traceback" not in err and "Exception ignored" not in err, err[-2000:]
    assert process.returncode in (130, 1), process.returncode
