"""`looped tape` and `looped assemble`: the command line of classic SUBLEQ tapes (the registry in
looped/machines/__init__.py names this module; the shell, looped/cli/shell.py, calls `add_parsers`).

    looped tape TAPE [--bits N] [--memory K] [--input TEXT | --input-file F] [--sets FILE.jsonl]
                     [--max-steps K] [--backend NAME] [--json] [--output-cells K]
    looped assemble PROGRAM.asm [--tape] [-o P.tape]

Exit status of `looped tape`: 0 every instance halted, 3 one or more hit --max-steps, 4 one or
more faulted (4 wins over 3), 2 an error in the tape or the arguments (`FILE:LINE:COL: error:
...`), 1 anything else.
"""

from __future__ import annotations

import json
import os
import sys

from looped.errors import AsmError, SourceLoc

from looped.cli.args import (DEFAULT_MAX_STEPS, EXIT_OK, at_least, exit_status,
                             engine_args, program_args, whole_number, writable)


def add_parsers(sub, default_steps: int = DEFAULT_MAX_STEPS) -> None:
    from looped.limits import DEFAULT_BITS
    from looped.machines.tape.program import DEFAULT_OUTPUT_CAPACITY

    tape = sub.add_parser(
        "tape", help="run a classic (von Neumann) SUBLEQ tape on the looped transformer",
        description="Run a classic SUBLEQ tape (the Rosetta Code dialect: one memory holds code and "
                    "data, IP starts at 0 and advances by 3, A = -1 reads a byte of input into mem[B], "
                    "B = -1 writes mem[A] mod 256 as output, else mem[B] -= mem[A] and jump to C when the "
                    "result is <= 0; halt when IP < 0 or IP > size - 3) on the looped transformer. "
                    "An address outside the memory is a fault. See docs/tapes.md.",
        epilog="Exit status: 0 every instance halted; 3 one or more hit the step limit; 4 one or more "
               "faulted; 2 error in the tape or arguments; 1 anything else.")
    tape.add_argument("tape", metavar="TAPE", help="a text file of integers separated by whitespace or commas; "
                                                   "'#' or ';' starts a comment")
    tape.add_argument("--bits", type=_bits, default=DEFAULT_BITS, metavar="N",
                      help=f"word size in bits (default {DEFAULT_BITS}); the memory may hold at most 2^(N-1) cells")
    tape.add_argument("--memory", type=_cells, metavar="K",
                      help="memory cells (default: the tape's length; cells past the tape start at 0)")
    source = tape.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="TEXT", help="the bytes the program reads (UTF-8)")
    source.add_argument("--input-file", metavar="F", help="a file whose bytes the program reads")
    tape.add_argument("--sets", metavar="FILE.jsonl",
                      help='run one instance per line of FILE as a single batch; each line is a JSON object '
                           '{"input": "..."} (a missing "input" means --input\'s, or none)')
    engine_args(tape, default_steps)
    tape.add_argument("--json", action="store_true",
                      help='one JSON object per instance, one per line: {"status": "halted"|"step_limit"|"fault", '
                           '"steps": N, "output": "...", "memory": [the whole final memory]} (a fault adds '
                           '"message")')
    tape.add_argument("--output-cells", type=_cells, default=DEFAULT_OUTPUT_CAPACITY, metavar="K",
                      help=f"output cells on the card (default {DEFAULT_OUTPUT_CAPACITY}): when the program "
                           f"has filled them the machine pauses and the driver empties them, so this bounds "
                           f"nothing, it trades card width against pauses")
    tape.set_defaults(func=cmd_tape, compiles=True)

    assemble = sub.add_parser(
        "assemble", help="translate a SUBLEQ program into a classic tape (--tape)",
        description="Assemble PROGRAM.asm and write it as a classic von Neumann SUBLEQ tape: its instructions "
                    "as triples from address 0, its data after them, jumps to the halt column as jumps to -1 "
                    "(docs/tapes.md). Run the tape with `looped tape P.tape --bits N`.")
    program_args(assemble)
    assemble.add_argument("--tape", action="store_true",
                          help="write a classic SUBLEQ tape (the only output format, also without --tape)")
    assemble.add_argument("-o", "--output", metavar="P.tape", help="output file (default: standard output)")
    assemble.set_defaults(func=cmd_assemble)


def _bits(text: str) -> int:
    import argparse

    from looped.limits import MAX_BITS
    from looped.machines.tape.program import MIN_TAPE_BITS

    value = whole_number(text)
    if not MIN_TAPE_BITS <= value <= MAX_BITS:
        raise argparse.ArgumentTypeError(f"word size {value} is not supported for tapes "
                                         f"(expected {MIN_TAPE_BITS} .. {MAX_BITS})")
    return value


def _cells(text: str) -> int:

    return at_least(1)(text)


# ---- looped tape ----------------------------------------------------------------------------------


def tape_instances(args) -> list:
    from looped.machines.tape.program import load_tape

    tape = load_tape(args.tape, args.bits)
    if args.memory is not None:
        tape = tape.with_memory_size(args.memory)
    tape = _with_capacity(tape, args.output_cells)
    default = b""
    if args.input is not None:
        default = args.input.encode("utf-8", errors="surrogateescape")
    elif args.input_file is not None:
        default = _read_input_file(args.input_file)
    if not args.sets:
        return [tape.with_input(default)]
    return [tape.with_input(data) for data in read_inputs(args.sets, default)]


def _with_capacity(tape, cells: int):
    import dataclasses

    return dataclasses.replace(tape, output_capacity=cells)


def _read_input_file(path: str) -> bytes:
    if not os.path.exists(path):
        raise AsmError(SourceLoc(path, 1, 1), "no such file (expected the bytes to read)")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise AsmError(SourceLoc(path, 1, 1), f"cannot read input file: {e.strerror}") from None


def read_inputs(path: str, default: bytes) -> list[bytes]:
    """One input per line of a JSON-lines file: {"input": "..."} (blank lines are skipped)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise AsmError(SourceLoc(path, 1, 1), f"cannot read sets file: {e.strerror}") from None
    except UnicodeDecodeError:
        raise AsmError(SourceLoc(path, 1, 1), "not a UTF-8 text file (expected JSON lines)") from None
    inputs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise AsmError(SourceLoc(path, number, e.colno), f"unreadable line: {e.msg} "
                           "(expected a JSON object such as {\"input\": \"abc\"})") from None
        except RecursionError:
            raise AsmError(SourceLoc(path, number, 1), "a value is nested too deeply") from None
        if not isinstance(record, dict):
            raise AsmError(SourceLoc(path, number, 1), "expected a JSON object such as {\"input\": \"abc\"}, "
                                                       f"got {type(record).__name__}")
        for key in record:
            if key != "input":
                col = line.find(json.dumps(key)) + 1 or 1
                raise AsmError(SourceLoc(path, number, col), f"unknown key '{key}' (expected only \"input\")")
        value = record.get("input")
        if value is None and "input" not in record:
            inputs.append(default)
            continue
        if not isinstance(value, str):
            col = line.find('"input"') + 1 or 1
            raise AsmError(SourceLoc(path, number, col), f"\"input\" must be a string, got {type(value).__name__}")
        inputs.append(value.encode("utf-8", errors="surrogateescape"))
    if not inputs:
        raise AsmError(SourceLoc(path, 1, 1), "no inputs in file (expected one JSON object per line)")
    return inputs


def cmd_tape(args) -> int:
    from looped.machines.tape import engine as tape_engine

    tapes = tape_instances(args)
    results = tape_engine.run(tapes, backend=args.backend, max_steps=args.max_steps)
    many = len(results) > 1
    for i, result in enumerate(results):
        head = f"instance {i + 1}: " if many else ""
        if result.status == "fault":
            print(f"{head}{result.message}", file=sys.stderr)
        if args.json:
            print(json.dumps(result.to_json()), flush=True)
            continue
        if many:
            what = {"halted": "halted", "step_limit": "stopped at the step limit", "fault": "faulted"}[result.status]
            print(f"{head}{what} after {result.steps:,} step{'s' * (result.steps != 1)}", flush=True)
        _write_bytes(result.output + (b"\n" if many and result.output and not result.output.endswith(b"\n") else b""))
        if not many and result.status == "step_limit":
            print(f"stopped at the step limit after {result.steps:,} steps", file=sys.stderr)
    return exit_status([r.status for r in results])


def _write_bytes(data: bytes) -> None:
    """The program's output bytes as they are (as text where standard output takes only text)."""
    from looped.machines.tape.program import decode_output

    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(decode_output(data))
    else:
        buffer.write(data)
        buffer.flush()


# ---- looped assemble --tape -------------------------------------------------------------------------


def cmd_assemble(args) -> int:
    from looped.cli.programs import apply_sets, load_program
    from looped.machines.tape.assemble import to_tape

    program = apply_sets(load_program(args.program), args.set or [])
    translation = to_tape(program)
    if args.output:
        writable(args.output)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(translation.text)
        print(f"wrote {args.output} ({len(translation.tape.memory)} cells, {program.bits}-bit words)", file=sys.stderr)
    else:
        sys.stdout.write(translation.text)
    return EXIT_OK

