"""The commands on assembly programs (`.asm`, any instruction set that has an assembler):
run, trace, export, disasm and card. What differs between instruction sets is asked of the set
(looped/machines/base.py), never tested by name here.

Every instruction of `looped run` and `looped trace` is executed by the looped transformer's
layers (looped/engine.py); the plain interpreter is never used here.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Sequence

from looped.cli.args import (EXIT_OK, DEFAULT_MAX_STEPS, exit_status, NotFinite, Progress,
                             engine_args, loads_finite, parse_set, parse_set_json, program_args,
                             writable)
from looped.errors import AsmError, LoopedError, SourceLoc


def load_program(path: str):
    """The program assembled from `path`, ready to run (its instruction set checks it has code)."""
    from looped import machines
    from looped.assembler import assemble_file

    if not os.path.exists(path):
        raise AsmError(SourceLoc(path, 1, 1), "no such file (expected a .asm program)")
    if os.path.isdir(path):
        raise AsmError(SourceLoc(path, 1, 1), "is a directory (expected a .asm program)")
    if path.lower().endswith(".tape"):
        raise AsmError(SourceLoc(path, 1, 1), f"a classic SUBLEQ tape is not an assembly program: run it "
                                              f"with `looped tape {path}` (see docs/tapes.md)")
    program = assemble_file(path)
    machines.get(program.isa).check_runnable(program)
    return program


def apply_sets(program, sets: Sequence[str]):
    """--set arguments applied, in the syntax the program's instruction set reads: integers for
    SUBLEQ, JSON values for FLEQ (fleq.md)."""
    from looped import machines

    parse = parse_set_json if machines.get(program.isa).settings_syntax == "json" else parse_set
    settings, locations = {}, {}
    for number, argument in enumerate(sets, start=1):
        name, value, loc = parse(argument, number)
        settings[name], locations[name] = value, loc
    return program.with_settings(settings, locations)


def read_sets_file(path: str, base) -> list:
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


def instances(args) -> list:
    from looped import memory_guard

    program = apply_sets(load_program(args.program), args.set or [])
    programs = read_sets_file(args.sets, program) if getattr(args, "sets", None) else [program]
    memory_guard.check_programs(programs)  # refuse an oversized machine before anything is built
    return programs


def source_handler(path: str):
    """The module that runs source files of this kind other than assembly (e.g. `.c`), or None.
    Registered by suffix in looped/machines/__init__.py (SOURCE_HANDLERS)."""
    import importlib

    from looped import machines

    module = machines.source_handler(path)
    return importlib.import_module(module) if module else None


def cmd_run(args) -> int:
    handler = source_handler(args.program)
    if handler is not None:
        return handler.cmd_run(args)
    programs = instances(args)  # (read and checked before JAX is imported: a bad input answers at once)
    from looped import engine

    progress = Progress(len(programs), args.max_steps, sys.stderr.isatty() and not args.quiet)
    try:
        results = engine.run(programs, backend=args.backend, max_steps=args.max_steps, progress=progress)
    finally:
        progress.close()
    for i, result in enumerate(results):
        if result.status == "fault":
            head = f"instance {i + 1}: " if len(results) > 1 else ""
            print(f"{head}{result.fault['message']}", file=sys.stderr)
        if args.json:
            print(json.dumps(result.to_json()))
        else:
            print(format_result(result, i if len(results) > 1 else None))
    return exit_status([r.status for r in results])


def format_result(result, index: int | None) -> str:
    head = f"instance {index + 1}: " if index is not None else ""
    what = {"halted": "halted", "fault": "faulted", "step_limit": "stopped at the step limit"}[result.status]
    lines = [f"{head}{what} after {result.steps:,} step{'s' * (result.steps != 1)}"]
    if result.status == "fault":
        lines[0] += " (the faulting instruction wrote nothing; memory as before it)"
    outputs = result.outputs
    width = max((len(name) for name in outputs), default=0)
    for name, value in outputs.items():
        lines.append(f"  {name:<{width}} = {value}")
    return "\n".join(lines)


def cmd_trace(args) -> int:
    handler = source_handler(args.program)
    if handler is not None:
        return handler.cmd_trace(args)
    from looped import machines as isa

    (program,) = instances(args)  # (before JAX is imported, as in cmd_run)
    from looped import engine

    instruction_set = isa.get(program.isa)
    names = instruction_set.cell_names(program)
    memory, steps, pc, faults = program.memory, 0, 0, []
    for steps, pc_before, pc, after in engine.trace_steps(program, args.max_steps, backend=args.backend,
                                                          faults=faults):
        if not 0 <= pc_before < len(program.code):  # cannot happen on a healthy machine; never a traceback
            raise LoopedError(f"error: the machine's program counter left the program at step {steps} "
                              f"(instruction {pc_before}); refusing to go on")
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
    status = "fault" if faults else "halted" if pc == program.halt_index else "step_limit"
    final = {"status": status, "steps": faults[0]["step"] if faults else steps, "memory": program.outputs(memory)}
    if faults:
        final["fault"] = faults[0]
        print(faults[0]["message"], file=sys.stderr)
    print(json.dumps(final))
    return exit_status([status])


def cmd_export(args) -> int:
    from looped.export import export

    return _write_file(args, export)


def _write_file(args, write) -> int:
    """Assemble the program with its settings and write `args.output` with `write(program, path)`."""
    (program,) = instances(args)
    writable(args.output)
    write(program, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_disasm(args) -> int:
    if args.file.endswith(".npz"):
        from looped.disasm_card import format_exported

        print(format_exported(args.file), end="")
        return EXIT_OK
    from looped import machines

    program = apply_sets(load_program(args.file), args.set or [])
    print(machines.get(program.isa).format_program(program), end="")
    return EXIT_OK


def cmd_card(args) -> int:
    from looped.draw import draw_card

    return _write_file(args, draw_card)


def add_parsers(sub) -> None:
    run = sub.add_parser("run", help="run a program on the looped transformer",
                         description="Assemble PROGRAM.asm, encode it on a punch card and run it on the "
                                     "looped transformer until it halts or reaches --max-steps. Prints "
                                     "the final value of every data label.",
                         epilog="Examples: looped run programs/gcd.asm --set a=12 --set b=18 --json; "
                                "looped run programs/gcd.asm --sets pairs.jsonl --json. "
                                "FLEQ: looped run programs/fleq/calculator.asm --set x=2 --set y=0.5 --set "
                                "'v=[1,2,2]'. Statuses: halted; step_limit (--max-steps reached); fault "
                                "(FLEQ: an operand left a function block's domain; the message names the "
                                "step, the source line, the block and the value). Exit status: 0 every "
                                "instance halted; 3 one or more hit the step limit; 4 one or more faulted "
                                "(4 wins over 3); 2 error in the program or arguments; 1 anything else.")
    program_args(run, sets_file=True)
    engine_args(run, DEFAULT_MAX_STEPS)
    run.add_argument("--json", action="store_true",
                     help='machine-readable output: one JSON object per instance, one per line: '
                          '{"status": "halted"|"step_limit"|"fault", "steps": N, "memory": {label: value}} '
                          '(a fault adds "fault": {"step", "loc", "block", "value", "message"})')
    run.add_argument("--quiet", action="store_true", help="no progress display on the terminal")
    _source_options(run)
    run.set_defaults(func=cmd_run, compiles=True)

    trace = sub.add_parser("trace", help="the state after every instruction, as JSON lines",
                           description="Run PROGRAM.asm on the looped transformer and print, after each "
                                       "instruction, a JSON line with the step, the program counter, the "
                                       "instruction and the cells it changed; a final line gives the "
                                       "status and memory.")
    program_args(trace)
    engine_args(trace, 10_000)
    _source_options(trace)
    trace.set_defaults(func=cmd_trace, compiles=True)

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


def _source_options(parser) -> None:
    """The options that source handlers (looped/machines/__init__.py: SOURCE_HANDLERS) add to
    `run` and `trace`, e.g. `--input` for C."""
    import importlib

    from looped import machines

    for module in dict.fromkeys(machines.SOURCE_HANDLERS.values()):
        importlib.import_module(module).add_run_options(parser)
