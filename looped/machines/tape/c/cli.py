"""The command line of C: `looped cc FILE.c -o FILE.tape`, and `looped run FILE.c` / `looped trace
FILE.c` (registered for the `.c` suffix in looped/machines/__init__.py: SOURCE_HANDLERS).

A C program runs on the classic SUBLEQ tape machine (`looped tape`), every instruction executed by
the transformer. `run --json` prints `looped tape`'s line without the memory, plus "exit_code" (the
value main returned, cell 3 of the memory once the tape halts). See docs/c.md.
"""

from __future__ import annotations

import json
import sys

from looped.errors import AsmError, LoopedError, SourceLoc

C_BITS = 32


def add_parsers(sub) -> None:
    cc = sub.add_parser(
        "cc", help="compile a C program to a classic SUBLEQ tape",
        description="Compile FILE.c (the C subset of docs/c.md) to a classic SUBLEQ tape with 32-bit words. "
                    "Run it with `looped tape FILE.tape --bits 32`; main's value is cell 3 once it halts. "
                    "`looped run FILE.c` compiles and runs in one go.",
        epilog="Exit status: 0 compiled; 2 an error in the program (FILE:LINE:COL: error: ...).")
    cc.add_argument("program", metavar="FILE.c", help="C source file")
    cc.add_argument("-o", "--output", metavar="FILE.tape", help="output file (default: standard output)")
    cc.add_argument("--stack", type=_cells, default=None, metavar="K",
                    help="stack cells for recursive programs (default 256)")
    cc.set_defaults(func=cmd_cc)


def add_run_options(parser) -> None:
    """`looped run` and `looped trace` options for C files (None defaults: assembly is unaffected)."""
    group = parser.add_argument_group("C programs (FILE.c)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="TEXT", default=None, help="C: the bytes getchar() reads (UTF-8)")
    source.add_argument("--input-file", metavar="F", default=None, help="C: a file whose bytes getchar() reads")
    group.add_argument("--bits", type=int, default=None, metavar="N", help="C: word size (32, the default)")
    group.add_argument("--stack", type=_cells, default=None, metavar="K",
                       help="C: stack cells for recursive programs (default 256)")
    group.add_argument("--output-cells", type=_cells, default=None, metavar="K",
                       help="C: output cells on the card (default 64; bounds nothing, see `looped tape`)")


def _cells(text: str) -> int:
    from looped.cli.args import at_least

    return at_least(1)(text)


# ---- compile ----------------------------------------------------------------------------------


def compile_file(path: str, stack: int | None = None):
    import os

    try:
        from looped.machines.tape.c.compiler import compile_c
    except ImportError as e:  # pycparser, the front end's parser
        raise LoopedError(f"error: compiling C needs the pycparser package (pip install pycparser): {e}") from None

    if not os.path.exists(path):
        raise AsmError(SourceLoc(path, 1, 1), "no such file (expected a C program)")
    if os.path.isdir(path):
        raise AsmError(SourceLoc(path, 1, 1), "is a directory (expected a C program)")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise AsmError(SourceLoc(path, 1, 1), "not a UTF-8 text file (expected a C program)") from None
    except OSError as e:
        raise AsmError(SourceLoc(path, 1, 1), f"cannot read: {e.strerror}") from None
    try:
        return compile_c(text, path, stack=stack)
    except RecursionError:
        raise AsmError(SourceLoc(path, 1, 1), "not supported: expressions nested this deeply") from None


def tape_text(compiled) -> str:
    from looped.machines.tape.program import format_tape

    comments = {}
    for address, loc in compiled.source_map.items():
        comments[address] = f"{loc.file}:{loc.line}" if loc.file != compiled.file else f"line {loc.line}"
    header = (f"compiled from {compiled.file} by `looped cc` ({len(compiled.words)} cells, "
              f"{compiled.bits}-bit words)\nrun: looped tape THIS.tape --bits {compiled.bits}\n"
              f"main's value is cell {compiled.exit_address} once the tape halts")
    # Comments only where the C line changes, to keep the tape readable.
    shown, last = {}, None
    for address in sorted(comments):
        if comments[address] != last:
            shown[address] = comments[address]
            last = comments[address]
    return format_tape(compiled.words, shown, header=header)


def cmd_cc(args) -> int:
    from looped.cli.args import writable

    compiled = compile_file(args.program, args.stack)
    text = tape_text(compiled)
    if args.output:
        writable(args.output)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.output} ({len(compiled.words)} cells, {compiled.bits}-bit words; "
              f"run: looped tape {args.output} --bits {compiled.bits})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


# ---- run ----------------------------------------------------------------------------------------


def _check_options(args) -> None:
    if getattr(args, "set", None):
        raise LoopedError("error: --set is for assembly programs; a C program reads its input with getchar() "
                          "(--input, --input-file, --sets)")
    bits = args.bits if args.bits is not None else C_BITS
    if bits != C_BITS:
        raise LoopedError(f"error: C programs use {C_BITS}-bit words (got --bits {bits})")


def tapes_of(args, compiled) -> list:
    import dataclasses

    from looped.machines.tape.cli import _read_input_file, read_inputs
    from looped.machines.tape.program import DEFAULT_OUTPUT_CAPACITY, TapeProgram

    tape = TapeProgram(memory=tuple(compiled.words), bits=C_BITS, file=args.program)
    cells = args.output_cells if args.output_cells is not None else DEFAULT_OUTPUT_CAPACITY
    tape = dataclasses.replace(tape, output_capacity=cells)
    default = b""
    if args.input is not None:
        default = args.input.encode("utf-8", errors="surrogateescape")
    elif args.input_file is not None:
        default = _read_input_file(args.input_file)
    if not getattr(args, "sets", None):
        return [tape.with_input(default)]
    return [tape.with_input(data) for data in read_inputs(args.sets, default)]


def result_json(result, compiled) -> dict:
    from looped.machines.tape.program import decode_output

    out = {"status": result.status, "steps": result.steps, "output": decode_output(result.output)}
    if result.status == "halted":
        out["exit_code"] = result.memory[compiled.exit_address]
    if result.message:
        out["message"] = result.message
    return out


def cmd_run(args) -> int:
    from looped.machines.tape import engine as tape_engine
    from looped.cli.args import exit_status
    from looped.machines.tape.cli import _write_bytes

    _check_options(args)
    compiled = compile_file(args.program, args.stack)
    tapes = tapes_of(args, compiled)
    results = tape_engine.run(tapes, backend=args.backend, max_steps=args.max_steps)
    many = len(results) > 1
    for i, result in enumerate(results):
        head = f"instance {i + 1}: " if many else ""
        if result.status == "fault":
            print(f"{head}{result.message}", file=sys.stderr)
        if args.json:
            print(json.dumps(result_json(result, compiled)), flush=True)
            continue
        if many:
            print(f"{head}{result.status} after {result.steps:,} steps", flush=True)
        _write_bytes(result.output)
        if result.status == "step_limit":
            print(f"{head}stopped at the step limit after {result.steps:,} steps", file=sys.stderr)
    return exit_status([r.status for r in results])


# ---- trace --------------------------------------------------------------------------------------


def cmd_trace(args) -> int:
    """One JSON line per instruction the transformer executes: the step, the IP, the C source
    place (FILE:LINE:COL and the line's text) and the bytes it wrote; then the final line."""
    from looped.cli.args import exit_status

    _check_options(args)
    compiled = compile_file(args.program, args.stack)
    (tape,) = tapes_of(args, compiled)[:1]
    lines = _source_lines(args.program)
    status, steps, output, memory, message = "step_limit", 0, b"", None, ""
    for record in step_states(tape, args.max_steps, args.backend):
        loc = compiled.line_of(record["ip"])
        row = {"step": record["step"], "ip": record["ip"],
               "loc": str(loc) if loc else None,
               "source": _line_text(lines, loc, compiled.file)}
        if record["wrote"]:
            row["output"] = record["wrote"].decode("utf-8", errors="surrogateescape")
        print(json.dumps(row))
        steps, output, memory = record["step"], output + record["wrote"], record["memory"]
        if record["status"] != "running":
            status, message = record["status"], record["message"]
            break
    from looped.machines.tape.program import decode_output

    final = {"status": status, "steps": steps, "output": decode_output(output)}
    if status == "halted" and memory is not None:
        final["exit_code"] = memory[compiled.exit_address]
    if message:
        final["message"] = message
        print(message, file=sys.stderr)
    print(json.dumps(final))
    return exit_status([status])


def step_states(tape, max_steps: int, backend: str):
    """The transformer's state after each instruction (IP before it, memory after, bytes written),
    one loop iteration at a time; full output cells are emptied as `looped tape`'s driver does."""
    import numpy as np

    from looped import engine
    from looped.layout import bits_array
    from looped.machines.tape.isa import STOP_CODE, TAPE
    from looped.machines.tape.program import fault_message

    key = TAPE.machine_key([tape])
    cards, X = TAPE.encode([tape], key)
    machine, loop = engine.machine_loop("tape", key, backend)
    layout = cards[0].layout
    rows = layout.rows
    X = np.array(X, dtype=machine.dtype)
    halt = np.full(1, STOP_CODE, np.int32)
    rewind = bits_array([layout.zone("output").start - 1], layout.addr_bits)[0]
    ip, step = 0, 0
    while step < max_steps:
        state = loop.run(X, halt, max_steps=1)
        X = np.array(state.X, dtype=machine.dtype)
        decoded = TAPE.decode_memory(cards, X)[0]
        wrote = bytes(decoded.output)
        if decoded.full:  # empty the output cells and let the card run on
            X[0, layout.zone("output").start: layout.zone("output").stop, rows["out"].slice] = 0.0
            X[0, 0, rows["ocur"].slice] = rewind
            X[0, 0, rows["status.full"].start] = 0.0
            X[0, 0, rows["pc"].start] = 0.0
        elif wrote:
            X[0, layout.zone("output").start: layout.zone("output").stop, rows["out"].slice] = 0.0
            X[0, 0, rows["ocur"].slice] = rewind
        if int(np.asarray(state.steps)[0]) == 0:
            break
        step += 1
        status = "fault" if decoded.fault else "halted" if decoded.halted else "running"
        message = fault_message(decoded.memory, decoded.ip, step) if status == "fault" else ""
        yield {"step": step, "ip": ip, "memory": decoded.memory, "wrote": wrote, "status": status,
               "message": message}
        ip = decoded.ip
        if status != "running":
            return


def _source_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except OSError:
        return []


def _line_text(lines, loc, file) -> str | None:
    if loc is None or loc.file != file or not 1 <= loc.line <= len(lines):
        return None
    return lines[loc.line - 1].strip()
