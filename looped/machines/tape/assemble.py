"""Harvard SUBLEQ programs (looped's own, programs/*.asm) as classic von Neumann tapes: what
`looped assemble PROGRAM.asm --tape` writes. No JAX here.

The mapping (docs/tapes.md):

* The K instructions (the assembler's halt column, always the last, included) are laid out as
  triples at addresses 0, 3, ..., 3(K-1); the data cells follow, cell j at address D + j with
  D = 3K. The tape has 3K + (data cells) cells.
* Instruction `subleq a, b, c` becomes the triple `D+a  D+b  3c`, and a jump to the halt column
  becomes a jump to -1, which halts the tape at once.
* Falling through from an instruction to the next is IP + 3, as before. The halt column itself
  (the assembler's `subleq ZERO, MINUS_ONE, halt`) becomes `D+ZERO D+MINUS_ONE -1`: it leaves
  memory as it is and halts, so a program that ends by running off its last instruction takes one
  step more on the tape than on the Harvard machine; one that jumps to `halt` takes the same.
* No address is -1, so the tape does no I/O, and no instruction writes into code: the data
  cells end up exactly as the Harvard machine leaves them.

Every address must be a non-negative word: the tape needs 3K + cells <= 2^(N-1).
"""

from __future__ import annotations

from dataclasses import dataclass

from looped.errors import LoopedError
from looped.machines.subleq.program import Program
from looped.machines.tape.program import TapeProgram, format_tape, max_memory


@dataclass(frozen=True)
class TapeTranslation:
    tape: TapeProgram
    data_base: int  # address of data cell 0
    text: str  # the tape as text, with comments

    def data(self, memory) -> list[int]:
        """The Harvard program's memory (its data cells) read off a tape memory."""
        return list(memory[self.data_base : self.data_base + len(self.tape.memory) - self.data_base])


def to_tape(program: Program) -> TapeTranslation:
    if getattr(program, "isa", "subleq") != "subleq":
        raise LoopedError(f"error: {program.file}: only SUBLEQ programs become tapes (this is a "
                          f"{program.isa} program)")
    K = len(program.code)
    D = 3 * K
    size = D + len(program.memory)
    if size > max_memory(program.bits):
        need = next((b for b in range(program.bits + 1, 49) if size <= max_memory(b)), None)
        raise LoopedError(f"error: {program.file}: as a tape it needs {size} cells, more than {program.bits}-bit "
                          f"addresses reach ({max_memory(program.bits)} cells)"
                          + (f"; it would fit {need}-bit words" if need else ""))
    values: list[int] = []
    comments: dict[int, str] = {}
    labels = {index: label for label, index in program.code_labels.items()}
    halt = program.halt_index
    for i, inst in enumerate(program.code):
        target = -1 if inst.c == halt else 3 * inst.c
        values += [D + inst.a, D + inst.b, target]
        what = inst.source.strip() or f"subleq {inst.a}, {inst.b}, {inst.c}"
        if i == halt:
            what = "halt"
        comments[3 * i] = (f"{labels[i]}: " if i in labels else "") + what
    values += list(program.memory)
    for j, name in enumerate(program.cell_names()):
        comments[D + j] = name
    header = (f"{program.file} as a classic SUBLEQ tape ({program.bits}-bit words: run it with "
              f"`looped tape FILE --bits {program.bits}`)\n"
              f"{K} instructions at 0 .. {D - 1}, {len(program.memory)} data cells at {D} .. {size - 1}; "
              f"jumps to -1 halt")
    text = format_tape(values, comments, per_line=3, header=header)
    tape = TapeProgram(memory=tuple(values), bits=program.bits, file=program.file)
    return TapeTranslation(tape, D, text)
