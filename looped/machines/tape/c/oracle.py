"""The two references a compiled C program is checked against: gcc (the C oracle: the same source
built by the host compiler and run natively) and the plain tape interpreter (the tape oracle,
looped/machines/tape/oracle.py). Tests and benchmarks only; `looped run` uses neither.

gcc builds with -fwrapv (signed overflow wraps, as on the tape) and -O0, against the host's real
<stdio.h>. A program's exit status is main's value mod 256; the tape's exit_code is the whole value.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

GCC_FLAGS = ["-std=c99", "-O0", "-fwrapv", "-w"]


@dataclass
class Outcome:
    output: bytes
    exit_code: int | None  # tape: main's value; gcc: the exit status (0 .. 255)
    status: str = "halted"
    steps: int = 0


def gcc_available() -> bool:
    return shutil.which("gcc") is not None


def run_gcc(source: str, data: bytes = b"", timeout: float = 10.0, workdir: str | None = None) -> Outcome:
    """Build `source` with gcc and run it on `data`."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = os.path.join(tmp, "prog.c")
        exe = os.path.join(tmp, "prog")
        with open(path, "w") as f:
            f.write(source)
        built = subprocess.run(["gcc", *GCC_FLAGS, "-o", exe, path], capture_output=True, text=True)
        if built.returncode != 0:
            raise RuntimeError("gcc failed: " + built.stderr[:2000])
        try:
            done = subprocess.run([exe], input=data, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(b"", None, "timeout")
        status = "halted" if done.returncode >= 0 else f"signal {-done.returncode}"
        return Outcome(done.stdout, done.returncode if done.returncode >= 0 else None, status)


def run_tape(compiled, data: bytes = b"", max_steps: int = 10_000_000) -> Outcome:
    """Run a compiled program on the plain tape interpreter."""
    from looped.machines.tape import oracle
    from looped.machines.tape.program import TapeProgram

    tape = TapeProgram(memory=tuple(compiled.words), bits=compiled.bits, input=bytes(data))
    state = oracle.run(tape, max_steps)
    code = state.memory[compiled.exit_address] if state.status == "halted" else None
    return Outcome(bytes(state.output), code, state.status, state.steps)


def same(tape: Outcome, gcc: Outcome) -> bool:
    """Byte-identical output and main's value (mod 256, as the process exit status)."""
    return (tape.status == "halted" and gcc.status == "halted" and tape.output == gcc.output
            and tape.exit_code % 256 == gcc.exit_code)
