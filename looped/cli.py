"""The `looped` command: run, trace, export, disassemble and draw punch-card programs.

Every instruction of `looped run` and `looped trace` is executed by the looped transformer's
layers (looped/engine.py); the plain interpreter is never used here.

Exit status: 0 every instance halted; 3 one or more hit the step limit; 2 an error in the program
or the arguments (`FILE:LINE:COL: error: ...` on stderr, no traceback); 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Sequence

from looped.program import AsmError, LoopedError, Program, SourceLoc

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_STEP_LIMIT = 0, 1, 2, 3
DEFAULT_MAX_STEPS = 1_000_000


class UsageError(LoopedError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: exit 2 with our format
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: error: {message}")


# ---- inputs ----------------------------------------------------------------------------------------


def load_program(path: str) -> Program:
    from looped.assembler import assemble_file

    if not os.path.exists(path):
        raise AsmError(SourceLoc(path, 1, 1), "no such file (expected a .asm program)")
    if os.path.isdir(path):
        raise AsmError(SourceLoc(path, 1, 1), "is a directory (expected a .asm program)")
    program = assemble_file(path)
    if program.isa == "subleq" and not _has_statements(path):
        # (The assembler accepts it, as the halt column alone; as a program to run it is a
        # mistake, located like FLEQ's.)
        raise AsmError(SourceLoc(path, 1, 1), "the program has no instructions (expected code "
                                              "statements after '.code', e.g. 'halt')")
    return program


def _has_statements(path: str) -> bool:
    """Whether a SUBLEQ source has any code statement (an empty file or data alone has none)."""
    from looped.assembler.parser import parse

    with open(path, encoding="utf-8") as f:
        return bool(parse(f.read(), path).code)


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


def apply_sets(program: Program, sets: Sequence[str]) -> Program:
    """--set arguments applied: integers for SUBLEQ, JSON values for FLEQ (fleq.md)."""
    parse = parse_set_json if program.isa == "fleq" else parse_set
    settings, locations = {}, {}
    for number, argument in enumerate(sets, start=1):
        name, value, loc = parse(argument, number)
        settings[name], locations[name] = value, loc
    return program.with_settings(settings, locations)


def read_sets_file(path: str, base: Program) -> list[Program]:
    """One program per line of a JSON-lines file of settings (blank lines are skipped)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise AsmError(SourceLoc(path, 1, 1), f"cannot read settings file: {e.strerror}") from None
    programs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            settings = loads_finite(line)
        except NotFinite as e:
            raise AsmError(SourceLoc(path, number, line.find(e.literal) + 1),
                           f"{e.literal} is not a value (expected a finite number; NaN and "
                           f"infinities are refused)") from None
        except RecursionError:
            raise AsmError(SourceLoc(path, number, 1), "a value is nested too deeply") from None
        except json.JSONDecodeError as e:
            raise AsmError(SourceLoc(path, number, e.colno), f"unreadable line: {e.msg} "
                           "(expected a JSON object such as {\"n\": 5})") from None
        if not isinstance(settings, dict):
            raise AsmError(SourceLoc(path, number, 1), "expected a JSON object of settings, "
                           f"got {type(settings).__name__}")
        locations = {
            name: SourceLoc(path, number, line.find(json.dumps(name)) + 1 if json.dumps(name) in line else 1)
            for name in settings
        }
        programs.append(base.with_settings(settings, locations))
    if not programs:
        raise AsmError(SourceLoc(path, 1, 1), "no settings in file (expected one JSON object per line)")
    return programs


def instances(args) -> list[Program]:
    program = apply_sets(load_program(args.program), args.set or [])
    return read_sets_file(args.sets, program) if getattr(args, "sets", None) else [program]


# ---- progress ---------------------------------------------------------------------------------------


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


# ---- commands ---------------------------------------------------------------------------------------


def cmd_run(args) -> int:
    from looped import engine

    programs = instances(args)
    progress = Progress(len(programs), args.max_steps, sys.stderr.isatty() and not args.quiet)
    try:
        results = engine.run(programs, backend=args.backend, max_steps=args.max_steps, progress=progress)
    finally:
        progress.close()
    for i, result in enumerate(results):
        if args.json:
            print(json.dumps(result.to_json()))
        else:
            print(format_result(result, i if len(results) > 1 else None))
    return EXIT_OK if all(r.status == "halted" for r in results) else EXIT_STEP_LIMIT


def format_result(result, index: int | None) -> str:
    head = f"instance {index + 1}: " if index is not None else ""
    what = "halted" if result.status == "halted" else "stopped at the step limit"
    lines = [f"{head}{what} after {result.steps:,} step{'s' * (result.steps != 1)}"]
    outputs = result.outputs
    width = max((len(name) for name in outputs), default=0)
    for name, value in outputs.items():
        lines.append(f"  {name:<{width}} = {value}")
    return "\n".join(lines)


def cmd_trace(args) -> int:
    from looped import engine

    from looped import isa

    (program,) = instances(args)
    instruction_set = isa.get(program.isa)
    names = instruction_set.cell_names(program)
    memory, steps, pc = program.memory, 0, 0
    for steps, pc_before, pc, after in engine.trace_steps(program, args.max_steps, backend=args.backend):
        inst = program.code[pc_before]
        record = {
            "step": steps,
            "pc": pc_before,
            "instruction": instruction_set.format_instruction(program, inst, names),
            "source": inst.source,
            "loc": str(inst.loc) if inst.loc else None,
            "changed": instruction_set.changed(program, names, memory, after),
            "next_pc": pc,
        }
        print(json.dumps(record))
        memory = after
    status = "halted" if pc == program.halt_index else "step_limit"
    print(json.dumps({"status": status, "steps": steps, "memory": program.outputs(memory)}))
    return EXIT_OK if status == "halted" else EXIT_STEP_LIMIT


def cmd_export(args) -> int:
    from looped.export import export

    return _write_file(args, export)


def _write_file(args, write) -> int:
    """Assemble the program with its settings and write `args.output` with `write(program, path)`."""
    (program,) = instances(args)
    _writable(args.output)
    write(program, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_disasm(args) -> int:
    if args.file.endswith(".npz"):
        from looped.disasm_card import format_exported

        print(format_exported(args.file), end="")
        return EXIT_OK
    program = apply_sets(load_program(args.file), args.set or [])
    if program.isa == "fleq":
        from looped.disasm_fleq import format_fleq_program

        print(format_fleq_program(program), end="")
        return EXIT_OK
    from looped.disasm import format_program

    print(format_program(program), end="")
    return EXIT_OK


def cmd_card(args) -> int:
    from looped.draw import draw_card

    return _write_file(args, draw_card)


# ---- argument parsing ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from kernels import BACKENDS, DEFAULT_BACKEND

    parser = _Parser(
        prog="looped",
        description="A looped transformer with hand-set weights that executes SUBLEQ programs "
                    "written in a tiny assembly language.",
        epilog="Exit status: 0 all halted, 3 step limit reached, 2 error in the program or "
               "arguments, 1 anything else. See `looped COMMAND --help`.",
    )
    parser.add_argument("--version", action="version", version=f"looped {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def program_args(p, sets_file: bool = False):
        p.add_argument("program", metavar="PROGRAM.asm", help="assembly source file")
        p.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="set a data label before the run; NAME=v1,v2,... for an array (which must "
                            "have the array's length). Repeatable. Integers as in the language: "
                            "-12, 0x1f, 0b101, 'A'")
        if sets_file:
            p.add_argument("--sets", metavar="FILE.jsonl",
                           help="run one instance per line of FILE as a single batch; each line is a "
                                "JSON object {\"NAME\": value or [values], ...} applied on top of --set")

    def engine_args(p, default_steps: int):
        p.add_argument("--max-steps", type=_positive_int, default=default_steps, metavar="K",
                       help=f"stop after K instructions if the program has not halted "
                            f"(default {default_steps:,}); the memory is then the state after exactly K")
        p.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                       help=f"how the transformer is evaluated: 'dense' is the layer formula as written "
                            f"(every token a query, cost ~n^2); 'fast' computes the same machine at a "
                            f"cost linear in the card width; 'pallas' runs fast's hot part as a Pallas "
                            f"kernel (default {DEFAULT_BACKEND})")

    run = sub.add_parser("run", help="run a program on the looped transformer",
                         description="Assemble PROGRAM.asm, encode it on a punch card and run it on the "
                                     "looped transformer until it halts or reaches --max-steps. Prints "
                                     "the final value of every data label.",
                         epilog="Examples: looped run programs/gcd.asm --set a=12 --set b=18 --json; "
                                "looped run programs/gcd.asm --sets pairs.jsonl --json. "
                                "Exit status: 0 every instance halted; 3 one or more hit the step limit; "
                                "2 error in the program or arguments; 1 anything else.")
    program_args(run, sets_file=True)
    engine_args(run, DEFAULT_MAX_STEPS)
    run.add_argument("--json", action="store_true",
                     help='machine-readable output: one JSON object per instance, one per line: '
                          '{"status": "halted"|"step_limit", "steps": N, "memory": {label: value}}')
    run.add_argument("--quiet", action="store_true", help="no progress display on the terminal")
    run.set_defaults(func=cmd_run)

    trace = sub.add_parser("trace", help="the state after every instruction, as JSON lines",
                           description="Run PROGRAM.asm on the looped transformer and print, after each "
                                       "instruction, a JSON line with the step, the program counter, the "
                                       "instruction and the cells it changed; a final line gives the "
                                       "status and memory.")
    program_args(trace)
    engine_args(trace, 10_000)
    trace.set_defaults(func=cmd_trace)

    export = sub.add_parser("export", help="write the machine (card and weights) as a .npz",
                            description="Write the initial state, the inverse temperature and every "
                                        "layer's weights as plain arrays, so any framework can run the "
                                        "machine (see docs/exported-machine.md).")
    program_args(export)
    export.add_argument("-o", "--output", required=True, metavar="MACHINE.npz", help="output file")
    export.set_defaults(func=cmd_export)

    disasm = sub.add_parser("disasm", help="a program or exported machine back to readable instructions",
                            description="Print the instructions and data of an assembled program "
                                        "(PROGRAM.asm) or decoded from an exported punch card (MACHINE.npz).")
    disasm.add_argument("file", metavar="PROGRAM.asm|MACHINE.npz")
    disasm.add_argument("--set", action="append", metavar="NAME=VALUE", help="as for run (.asm only)")
    disasm.set_defaults(func=cmd_disasm)

    card = sub.add_parser("card", help="draw the punch card as a PNG",
                          description="Draw the initial state of PROGRAM.asm as a picture, with its row "
                                      "blocks and column zones labelled.")
    program_args(card)
    card.add_argument("-o", "--output", required=True, metavar="card.png", help="output PNG file")
    card.set_defaults(func=cmd_card)

    from looped import tape_cli  # `looped tape` and `looped assemble --tape` (classic SUBLEQ tapes)

    tape_cli.add_parsers(sub, engine_args, program_args, DEFAULT_MAX_STEPS)
    return parser


def _version() -> str:
    from looped import __version__

    return __version__


def _writable(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"error: cannot write '{path}': no such folder '{folder}'")


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


_positive_int = at_least(0)


def enable_compilation_cache() -> None:
    """Keep compiled machines on disk between runs (a cold `looped run` is mostly building and
    compiling): the compiled loops themselves under `loops/` (looped/executables.py: a warm run
    loads them and builds nothing), XLA's compilation cache under `xla/`. LOOPED_CACHE_DIR moves
    the cache (default ~/.cache/looped); LOOPED_CACHE_DIR="" turns it off."""
    root = os.environ.get("LOOPED_CACHE_DIR",
                          os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "looped"))
    if not root:
        return
    try:
        import jax

        from looped import executables

        os.makedirs(os.path.join(root, "xla"), exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", os.path.join(root, "xla"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        executables.enable(os.path.join(root, "loops"))
    except (OSError, AttributeError):
        pass  # no cache: only slower


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        if args.command in ("run", "trace", "tape"):
            enable_compilation_cache()
        return args.func(args)
    except LoopedError as e:
        print(str(e), file=sys.stderr)
        return EXIT_FAILURE if _is_internal(e) else EXIT_USAGE
    except RuntimeError as e:
        from kernels.native import NativeUnavailable

        if not isinstance(e, NativeUnavailable):
            raise
        print(f"error: {e}", file=sys.stderr)  # --backend native without a C++ compiler
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        return EXIT_FAILURE
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE


def _is_internal(error: LoopedError) -> bool:
    from looped.runner import NumericalHealthError

    return isinstance(error, NumericalHealthError)


if __name__ == "__main__":
    sys.exit(main())
