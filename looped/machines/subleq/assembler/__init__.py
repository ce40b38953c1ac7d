"""SUBLEQ assembly -> `looped.machines.subleq.program.Program`. No JAX here.

Four stages, one file each: the shared lexer (looped/assembler/lexer.py), macros (the mnemonics
that expand to SUBLEQ triples), the parser (statements, data and directives) and the linker
(addresses, the constant pool, the halt column). The language: docs/language.md.
"""

from __future__ import annotations

from looped.machines.subleq.assembler.linker import SCRATCH_T, const_name, link
from looped.machines.subleq.assembler.parser import parse
from looped.machines.subleq.program import Program

__all__ = ["assemble_subleq", "const_name", "SCRATCH_T"]


def assemble_subleq(source: str, file: str = "<string>") -> Program:
    """Assemble the text of a SUBLEQ `.asm` file; `file` names it in errors and the program."""
    return link(parse(source, file))
