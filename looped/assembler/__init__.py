"""The punch-card assembler: SUBLEQ assembly source -> `looped.program.Program`. No JAX here.

    from looped.assembler import assemble, assemble_file
    program = assemble("x: 5\\n.code\\ninc x\\n", file="inc.asm")

Errors raise `looped.program.AsmError` (file, line, column, message); the first error in source
order is reported and nothing is returned. The language is described in docs/language.md.
"""

from __future__ import annotations

import os

from looped.program import AsmError, Program, SourceLoc

from .linker import SCRATCH_T, const_name, link
from .parser import parse

__all__ = ["assemble", "assemble_file", "AsmError", "const_name", "SCRATCH_T"]


def assemble(source: str, file: str = "<string>") -> Program:
    """Assemble `source` (the text of a `.asm` file); `file` names it in errors and the Program."""
    return link(parse(source, file))


def assemble_file(path: str | os.PathLike) -> Program:
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
