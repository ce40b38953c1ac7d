"""The assembler's front door: assembly source -> the program of the instruction set the file
names with `.isa NAME` (SUBLEQ when it names none). No JAX here.

    from looped.assembler import assemble, assemble_file
    program = assemble("x: 5\\n.code\\ninc x\\n", file="inc.asm")

Each machine's assembler lives in its folder and is found through the registry
(looped/machines/__init__.py); this package holds only what they share: the lexer and this
dispatch. Errors raise `looped.errors.AsmError` (file, line, column, message); the first error in
source order is reported and nothing is returned. The languages are described in
docs/language.md (SUBLEQ) and docs/fleq.md (FLEQ).
"""

from __future__ import annotations

import os

from looped import machines
from looped.assembler.lexer import tokenize
from looped.errors import AsmError, LoopedError, SourceLoc

__all__ = ["assemble", "assemble_file", "isa_of", "AsmError"]

DEFAULT_ISA = "subleq"


def isa_of(source: str, file: str = "<string>") -> str:
    """The instruction set the file names with `.isa NAME`, if that machine has an assembler;
    otherwise SUBLEQ. `.isa` must come before any statement, so only the directive lines at the
    top are read: a `.isa` after a statement is SUBLEQ's parser's to report, at its place."""
    for lineno, line in enumerate(source.splitlines(), start=1):
        try:
            tokens = tokenize(line, file, lineno)
        except LoopedError:
            return DEFAULT_ISA  # SUBLEQ's parser reports it
        if not tokens:
            continue
        if tokens[0].kind != "directive":
            return DEFAULT_ISA  # a statement: no `.isa` may follow
        if tokens[0].text.lower() == ".isa" and len(tokens) > 1:
            name = tokens[1].text.lower()
            return name if machines.assembler(name) is not None else DEFAULT_ISA
    return DEFAULT_ISA


def assemble(source: str, file: str = "<string>"):
    """Assemble `source` (the text of a `.asm` file); `file` names it in errors and the program."""
    return machines.assembler(isa_of(source, file))(source, file)


def assemble_file(path: str | os.PathLike):
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
