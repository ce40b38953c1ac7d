"""What every `looped` subcommand shares: exit codes, the argument parser that reports our way,
argument types, the common options (`--set`, `--max-steps`, `--backend`), `--set` value parsing
and the progress line. Holds no machine's code."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

from looped.errors import AsmError, LoopedError, SourceLoc

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_STEP_LIMIT, EXIT_FAULT = 0, 1, 2, 3, 4
DEFAULT_MAX_STEPS = 1_000_000


def exit_status(statuses) -> int:
    """4 when an instance faulted (it wins), 3 when one hit the step limit, else 0."""
    if "fault" in statuses:
        return EXIT_FAULT
    return EXIT_OK if all(s == "halted" for s in statuses) else EXIT_STEP_LIMIT


class UsageError(LoopedError):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: exit 2 with our format
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: error: {message}")


def parse_int(text: str) -> int:
    """An integer as in the assembly language: -12, 0x1f, 0b101 or 'A'."""
    text = text.strip()
    if len(text) == 3 and text[0] == text[2] == "'":
        return ord(text[1])
    negative = text.startswith("-")
    body = text[1:] if negative else text
    if body.lower().startswith(("0x", "0b")):
        value = int(body, 0)
    elif body.isdigit():
        value = int(body, 10)
    else:
        raise ValueError(text)
    return -value if negative else value


def parse_set(argument: str, number: int) -> tuple[str, object, SourceLoc]:
    """`NAME=VALUE` or `NAME=v1,v2,...`; the location is `--set:<argument number>:<column>`."""
    where = lambda col: SourceLoc("--set", number, col)  # noqa: E731
    name, eq, values = argument.partition("=")
    if not eq or not name.strip():
        raise AsmError(where(1), f"expected NAME=VALUE or NAME=v1,v2,..., got '{argument}'")
    parsed, col = [], len(name) + 2
    for item in values.split(","):
        try:
            parsed.append(parse_int(item))
        except ValueError:
            raise AsmError(where(col), f"expected an integer for '{name.strip()}', got '{item.strip()}'") from None
        col += len(item) + 1
    value = parsed[0] if len(parsed) == 1 and "," not in values else parsed
    return name.strip(), value, where(1)


def parse_set_json(argument: str, number: int) -> tuple[str, object, SourceLoc]:
    """`NAME=VALUE` with VALUE as JSON (a number, a list, a list of rows), for FLEQ programs; the
    location is `--set:<argument number>:<column>`, the column of the problem in the argument.
    NaN and infinities (which Python's json accepts) are refused here; shapes and ranges are
    checked by FleqProgram.with_settings."""
    where = lambda col: SourceLoc("--set", number, col)  # noqa: E731
    name, eq, text = argument.partition("=")
    if not eq or not name.strip():
        raise AsmError(where(1), f"expected NAME=VALUE with VALUE in JSON (a number, a list "
                                 f"[1, 2] or a list of rows [[1, 2], [3, 4]]), got '{argument}'")
    start = len(name) + 2  # column of the value's first character
    word = re.search(r"(?<![A-Za-z0-9_.])[+-]?(?:nan|inf(?:inity)?)(?![A-Za-z0-9_])", text, re.IGNORECASE)
    if word:  # nan, inf (not JSON words) read as what they mean
        raise AsmError(where(start + word.start()), f"{word.group()} is not a value for '{name.strip()}' "
                                                    f"(expected a finite number; NaN and infinities are refused)")
    if "," in text and not text.lstrip().startswith("["):  # NAME=v1,v2,... as for SUBLEQ: a list
        text = "[" + text + "]"
        start -= 1
    try:
        value = loads_finite(text)
    except NotFinite as err:
        shown = err.literal if len(err.literal) <= 24 else err.literal[:20] + "..."
        raise AsmError(where(start + max(0, text.find(err.literal))),
                       f"{shown} is not a value for '{name.strip()}' (expected a finite number; NaN "
                       f"and infinities are refused)") from None
    except RecursionError:
        raise AsmError(where(start), f"the value for '{name.strip()}' is nested too deeply "
                                     f"(expected a number, a list or a list of rows)") from None
    except json.JSONDecodeError as err:
        raise AsmError(where(start + err.pos), f"bad JSON value for '{name.strip()}': {err.msg} "
                                               f"(expected a number, a list [1, 2] or a list of "
                                               f"rows [[1, 2], [3, 4]])") from None
    return name.strip(), value, where(1)


class NotFinite(ValueError):
    """A JSON literal that is not a finite number (NaN, Infinity, 1e400)."""

    def __init__(self, literal: str):
        super().__init__(literal)
        self.literal = literal


def loads_finite(text: str):
    """json.loads, refusing NaN and infinities (which Python's json accepts) with NotFinite."""

    def refuse(literal: str):
        raise NotFinite(literal)

    def real(literal: str) -> float:
        value = float(literal)
        if value != value or value in (float("inf"), float("-inf")):
            raise NotFinite(literal)
        return value

    return json.loads(text, parse_constant=refuse, parse_float=real,
                      parse_int=lambda s: int(s) if len(s) <= 20 else real(s))


def whole_number(text: str) -> int:
    """An argument that must be an integer (argparse reports the error at the option)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None


def at_least(minimum: int):
    """An argument type: a whole number >= minimum."""

    def parse(text: str) -> int:
        value = whole_number(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


positive_int = at_least(0)




def writable(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"error: cannot write '{path}': no such folder '{folder}'")


def program_args(p, sets_file: bool = False):
    p.add_argument("program", metavar="PROGRAM.asm", help="assembly source file (SUBLEQ, or FLEQ with '.isa fleq')")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a data label before the run. Repeatable. SUBLEQ: an integer as in the "
                        "language (-12, 0x1f, 0b101, 'A'), or NAME=v1,v2,... for an array (which must "
                        "have the array's length). FLEQ: a JSON value: a number, a list [1,2] or a "
                        "list of rows [[1,2],[3,4]] (NAME=v1,v2,... works too)")
    if sets_file:
        p.add_argument("--sets", metavar="FILE.jsonl",
                       help="run one instance per line of FILE as a single batch; each line is a "
                            "JSON object {\"NAME\": value or [values], ...} applied on top of --set")


def memory_size(text: str) -> int:
    """--max-memory: a size such as 512M or 4G (argparse reports the error at the option)."""
    from looped.memory_guard import parse_size

    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def engine_args(p, default_steps: int):
    from kernels import BACKENDS, DEFAULT_BACKEND

    p.add_argument("--max-memory", type=memory_size, metavar="SIZE",
                   help="refuse (exit 2, before building anything) a machine whose weights, compiled "
                        "loop and states would need more than SIZE of memory, e.g. 512M or 4G (default: "
                        "half of this computer's memory, or LOOPED_MAX_MEMORY)")

    p.add_argument("--max-steps", type=positive_int, default=default_steps, metavar="K",
                   help=f"stop after K instructions if the program has not halted "
                        f"(default {default_steps:,}); the memory is then the state after exactly K")
    p.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                   help=f"how the transformer is evaluated: 'dense' is the layer formula as written "
                        f"(every token a query, cost ~n^2); 'fast' computes the same machine at a "
                        f"cost linear in the card width; 'pallas' runs fast's hot part as a Pallas "
                        f"kernel; 'native' is generated C++ (default {DEFAULT_BACKEND})")


class Progress:
    """A one-line progress display on stderr, shown only when it is a terminal."""

    def __init__(self, total: int, max_steps: int, enabled: bool):
        self.total, self.max_steps, self.enabled = total, max_steps, enabled
        self.start = time.perf_counter()
        self.shown = False

    def __call__(self, steps, done) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        finished = int(((done) | (steps >= self.max_steps)).sum())
        rate = int(steps.sum() / elapsed) if elapsed > 0 else 0
        sys.stderr.write(f"\r  {int(steps.max()):,} steps  {finished}/{self.total} done  "
                         f"{rate:,} instr/s  {elapsed:.1f}s ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
