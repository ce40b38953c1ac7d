"""The machines: one folder each (its instruction set, program type, oracle, assembler,
printer, random programs and command line), registered here by one line.

    from looped import machines
    instruction_set = machines.get(program.isa)

A machine is registered by its name, the `module:attribute` of its instruction set (an
`InstructionSet`, looped/machines/base.py), and optionally its assembler (for `.isa NAME` assembly
files) and the module that adds its own subcommands to the command line (`add_parsers(sub)`).
Modules are imported on first use, so that importing the registry costs nothing.
docs/adding-a-machine.md walks through adding one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Registration:
    instruction_set: str  # "module:attribute" of its InstructionSet
    assembler: str | None = None  # "module:function(source, file) -> program" for `.isa NAME` files
    commands: str | None = None  # module with add_parsers(sub): the machine's own subcommands


REGISTRY: dict[str, Registration] = {
    "subleq": Registration("looped.machines.subleq.isa:SUBLEQ", "looped.machines.subleq.assembler:assemble_subleq"),
    "fleq": Registration("looped.machines.fleq.isa:FLEQ", "looped.machines.fleq.assembler:assemble_fleq"),
    "tape": Registration("looped.machines.tape.isa:TAPE", commands="looped.machines.tape.cli"),
}


# Source files other than assembly that `looped run` and `looped trace` accept, by suffix: the
# module gives add_run_options(parser), cmd_run(args) and cmd_trace(args).
SOURCE_HANDLERS: dict[str, str] = {".c": "looped.machines.tape.c.cli"}


def source_handler(path: str) -> str | None:
    """The module registered for `path`'s suffix (SOURCE_HANDLERS), or None for assembly."""
    import os

    return SOURCE_HANDLERS.get(os.path.splitext(path)[1].lower())


def register(name: str, registration: Registration) -> None:
    """Add a machine at run time (the one line a new machine needs, or a test's toy machine)."""
    REGISTRY[name] = registration


def _load(reference: str):
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str):
    """The instruction set object called `name`."""
    if name not in REGISTRY:
        raise ValueError(f"unknown instruction set '{name}' (expected one of {', '.join(REGISTRY)})")
    return _load(REGISTRY[name].instruction_set)


def assembler(name: str):
    """The assembler of `.isa NAME` files, or None when the machine has no assembly language."""
    registration = REGISTRY.get(name)
    return _load(registration.assembler) if registration and registration.assembler else None


def command_modules() -> list[str]:
    """The modules that add the machines' own subcommands to `looped`."""
    return [r.commands for r in REGISTRY.values() if r.commands]


def of(programs) -> "object":
    """The instruction set of a batch of programs (all of one set)."""
    kinds = {getattr(p, "isa", "subleq") for p in programs}
    if len(kinds) != 1:
        from looped.errors import LoopedError

        raise LoopedError(f"error: a batch needs one instruction set, got {sorted(kinds)}")
    return get(kinds.pop())
