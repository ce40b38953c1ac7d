"""FLEQ assembly (`.isa fleq` files) -> `looped.machines.fleq.program.FleqProgram`. No JAX here.

The language is described in docs/fleq.md; its vocabulary is language.py. The stages, one file
each:

1. `.rep` blocks are unrolled by text substitution (rep.py); every line keeps its source
   line and columns.
2. The parser reads labels, directives, data (scalars, `[vectors]`, `[[matrix rows]]`,
   `.zeros`, `.eye`) and code statements, checking what it can line by line.
3. The linker resolves names, infers the shapes of number literals, checks shapes, allocates
   the constants and the scratch value, and lays every instruction out down to memory columns.

Every statement is exactly one FLEQ instruction, except `halt`, which costs one (a jump to the halt
instruction) only where the code can fall into it before the end, as in SUBLEQ files. Errors are
collected and the first one in source order is raised as `looped.errors.AsmError`.
"""

from __future__ import annotations

from looped.machines.fleq.assembler.language import MAX_HEIGHT, const_name, number_text
from looped.machines.fleq.assembler.linker import link
from looped.machines.fleq.assembler.parser import parse
from looped.machines.fleq.program import FleqProgram

__all__ = ["assemble_fleq", "parse", "link", "number_text", "const_name", "MAX_HEIGHT"]


def assemble_fleq(source: str, file: str = "<string>") -> FleqProgram:
    """Assemble the text of a `.isa fleq` file."""
    return link(parse(source, file))
