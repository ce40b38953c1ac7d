"""`looped view PROGRAM -o PAGE.html`: an offline page that steps through a run (the parser is added
to the command line by `add_parsers`, registered in looped/cli/shell.py).

PROGRAM is a SUBLEQ or FLEQ `.asm` file (`--set`), a classic `.tape` (`--input`, `--input-file`,
`--bits`, `--memory`), or a `.c` file, compiled to a tape by the C compiler (looped/machines/tape/c/).
The run is recorded through the transformer's own layers (looped/view/record.py) and written as one
self-contained page (looped/view/page.py).
"""

from __future__ import annotations

import os
import sys

from looped.errors import AsmError, SourceLoc

DEFAULT_VIEW_STEPS = 10_000


def add_parsers(sub) -> None:
    from looped.cli.args import at_least, positive_int
    from looped.view import DEFAULT_WINDOW

    view = sub.add_parser(
        "view", help="write an offline HTML page that steps through a run",
        description="Run PROGRAM on the looped transformer, recording after every instruction what "
                    "changed on the punch card, in memory and in the output, and where each attention "
                    "head looked, and write one self-contained page (no network: it opens from disk) "
                    "to step through it: the card as a heat map, the program with the current line, "
                    "the memory, the heads' columns and weights. Keys: left/right arrows step; "
                    "PAGE.html#step=K opens at step K. See docs/view.md.",
        epilog="Examples: looped view programs/gcd.asm --set a=1071 --set b=462 -o gcd.html; "
               "looped view tapes/reverse.tape --input hello -o reverse.html")
    view.add_argument("program", metavar="PROGRAM", help="a SUBLEQ or FLEQ .asm program, a .tape, or a .c file")
    view.add_argument("-o", "--output", required=True, metavar="PAGE.html", help="the page to write")
    view.add_argument("--set", action="append", metavar="NAME=VALUE", help="as for `looped run` (.asm only)")
    source = view.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="TEXT", help="the bytes a tape or C program reads (UTF-8)")
    source.add_argument("--input-file", metavar="F", help="a file whose bytes a tape or C program reads")
    view.add_argument("--bits", type=at_least(4), metavar="N", help="a tape's word size (default as for `looped tape`)")
    view.add_argument("--memory", type=at_least(1), metavar="K", help="a tape's memory cells (as for `looped tape`)")
    view.add_argument("--max-steps", type=positive_int, default=DEFAULT_VIEW_STEPS, metavar="K",
                      help=f"stop after K instructions if the program has not halted (default {DEFAULT_VIEW_STEPS:,})")
    view.add_argument("--window", type=at_least(1), default=DEFAULT_WINDOW, metavar="W",
                      help=f"keep at most the last W steps in the page (default {DEFAULT_WINDOW:,}: "
                           f"about 2 KB a step at most for small cards); the page says when it keeps a window")
    view.set_defaults(func=cmd_view)


def cmd_view(args) -> int:
    from looped.cli.args import EXIT_OK, writable
    from looped.view import page
    from looped.view.record import record

    program, cell_lines = load(args)
    writable(args.output)
    recording = record(program, max_steps=args.max_steps, window=args.window)
    if cell_lines is not None:  # a C program: the page lists its C source
        recording.language, recording.cell_lines = "c", cell_lines
    size = page.write(recording, args.output)
    kept = f", the last {len(recording.steps):,} kept" if recording.first else ""
    print(f"wrote {args.output} ({recording.status}, {recording.total:,} steps{kept}; {size / 1e6:.1f} MB)",
          file=sys.stderr)
    return EXIT_OK


def load(args):
    """The program PROGRAM names, with its settings or input, and for a C program the C source line
    of each tape cell (else None)."""
    path = args.program
    if not os.path.exists(path):
        raise AsmError(SourceLoc(path, 1, 1), "no such file (expected a .asm program, a .tape or a .c file)")
    if path.endswith(".tape"):
        return _tape(args, path), None
    if path.endswith(".c"):
        return _c_program(args, path)
    if args.input is not None or args.input_file is not None:
        raise AsmError(SourceLoc(path, 1, 1), "--input and --input-file are for tapes and C programs "
                                              "(expected --set NAME=VALUE for a .asm program)")
    from looped.cli.programs import apply_sets, load_program

    return apply_sets(load_program(path), args.set or []), None


def _input_bytes(args) -> bytes:
    if args.input is not None:
        return args.input.encode("utf-8", errors="surrogateescape")
    if args.input_file is not None:
        if not os.path.exists(args.input_file):
            raise AsmError(SourceLoc(args.input_file, 1, 1), "no such file (expected the bytes to read)")
        with open(args.input_file, "rb") as f:
            return f.read()
    return b""


def _tape(args, path: str):
    from looped.limits import DEFAULT_BITS
    from looped.machines.tape.program import load_tape

    if args.set:
        raise AsmError(SourceLoc("--set", 1, 1), "--set is for .asm programs (expected --input for a tape)")
    tape = load_tape(path, args.bits or DEFAULT_BITS)
    if args.memory is not None:
        tape = tape.with_memory_size(args.memory)
    return tape.with_input(_input_bytes(args))


def _c_program(args, path: str):
    """A C file compiled to a tape by the C compiler (looped/machines/tape/c/), as `looped run FILE.c`
    does; the page lists the C source, each instruction on the line it was compiled from."""
    from looped.machines.tape.c.cli import compile_file
    from looped.machines.tape.program import TapeProgram

    if args.set:
        raise AsmError(SourceLoc("--set", 1, 1), "--set is for .asm programs (a C program reads --input)")
    compiled = compile_file(path)
    if args.bits not in (None, compiled.bits):
        raise AsmError(SourceLoc(path, 1, 1), f"C programs use {compiled.bits}-bit words (got --bits {args.bits})")
    tape = TapeProgram(memory=tuple(compiled.words), bits=compiled.bits, file=path).with_input(_input_bytes(args))
    lines = [loc.line if loc is not None and loc.file == path else None
             for loc in (compiled.line_of(address) for address in range(len(compiled.words)))]
    return tape, lines
