"""The punch-card assembler: assembly source -> `looped.program.Program` (SUBLEQ files) or
`looped.fleq_program.FleqProgram` (`.isa fleq` files). No JAX here.

    from looped.assembler import assemble, assemble_file
    program = assemble("x: 5\\n.code\\ninc x\\n", file="inc.asm")

Errors raise `looped.program.AsmError` (file, line, column, message); the first error in source
order is reported and nothing is returned. The languages are described in docs/language.md
(SUBLEQ) and docs/fleq.md (FLEQ).
"""

from __future__ import annotations

import os

from looped.fleq_program import FleqProgram
from looped.program import AsmError, Program, SourceLoc

from .fleq import assemble_fleq
from .linker import SCRATCH_T, const_name, link
from .parser import parse

__all__ = ["assemble", "assemble_file", "assemble_fleq", "AsmError", "const_name", "SCRATCH_T"]


def assemble(source: str, file: str = "<string>") -> Program | FleqProgram:
    """Assemble `source` (the text of a `.asm` file); `file` names it in errors and the program.

    A `.isa fleq` file gives a FleqProgram, any other a (SUBLEQ) Program."""
    parsed = parse(source, file)
    if parsed.isa == "fleq":
        return assemble_fleq(source, file)
    return link(parsed)


def assemble_file(path: str | os.PathLike) -> Program | FleqProgram:
    """Assemble the file at `path` (UTF-8)."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as f:
            source = f.read()
    except UnicodeDecodeError as err:
        raise AsmError(SourceLoc(name, 1, 1), f"the file is not UTF-8 text ({err.reason} at "
                                              f"byte {err.start})") from None
    except OSError as err:
        raise AsmError(SourceLoc(name, 1, 1), f"cannot read the program ({err.strerror})") from None
    return assemble(source, name)
