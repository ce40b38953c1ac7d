"""SUBLEQ as a list of blocks: five layers, at most two heads per layer.

    fetch      1 head   fetched <- instr at pc
    operands   2 heads  diff <- mem[b] - mem[a]      (read both, subtract in the same MLP)
    write      1 head   mem[b] <- diff; flag <- [diff <= 0]
    branch     0 heads  pc <- flag ? c : pc + 1; clear flag and fetched
    correct    0 heads  snap mem and pc to {-1, 0, +1}

The health figure is taken on the input of the last layer (see looped/runner.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from looped import blocks, precision
from looped.machines.subleq.card import card_width, decode_memory, encode_many
from looped.machines.base import Card, InstructionSet
from looped.layers import Stack, layer
from looped.layout import Layout, decode_signed, subleq_layout
from looped.errors import LoopedError
from looped.machines.subleq.program import Program


def subleq_stack(layout: Layout) -> Stack:
    r, d = layout.rows, layout.d
    buf = r["buf"]
    layers = (
        layer(
            "fetch",
            blocks.read(layout, r["pc"], r["instr"], r["buf.instr"], name="fetch"),
            blocks.move(layout, r["buf.instr"], r["fetched"]),
            blocks.clear(layout, r["buf.instr"]),
            d=d,
        ),
        layer(
            "operands",
            blocks.read(layout, r["fetched.a"], r["mem"], r["buf.a"], name="read a"),
            blocks.read(layout, r["fetched.b"], r["mem"], r["buf.b"], name="read b"),
            blocks.subtract(layout, r["buf.b"], r["buf.a"], r["diff"]),
            blocks.clear(layout, r["buf.a"], r["buf.b"]),
            d=d,
        ),
        layer(
            "write",
            blocks.write(layout, r["fetched.b"], r["diff"], r["mem"], r["buf.write"]),
            blocks.overwrite(layout, r["buf.write"], r["mem"]),
            blocks.clear(layout, r["buf.write"], tokens="all"),
            blocks.flag_le_zero(layout, r["diff"], r["flag"]),
            blocks.clear(layout, r["diff"]),
            d=d,
        ),
        layer(
            "branch",
            blocks.branch(layout, r["pc"], r["fetched.c"], r["flag"]),
            blocks.clear(layout, r["flag"], r["fetched"]),
            d=d,
        ),
        layer(
            "correct",
            blocks.error_correction(layout, r["mem"]),
            # The program counter lives on the scratch token; its rows are zero everywhere else.
            blocks.error_correction(layout, r["pc"], tokens="scratch"),
            d=d,
        ),
    )
    assert buf.size >= max(r["buf.instr"].size, r["buf.a"].size + r["buf.b"].size)
    corrected = tuple(list(r["mem"].indices) + list(r["pc"].indices))
    return Stack(layers=layers, corrected_rows=corrected, scratch_tokens=layout.zone("scratch").size)


# ---- the instruction set object ---------------------------------------------------------------------

class Subleq(InstructionSet):
    """SUBLEQ with separate code and data zones (the paper's variant); machine key (n, bits)."""

    name = "subleq"

    def machine_key(self, programs: Sequence[Program], n: int | None = None) -> tuple:
        bits = {p.bits for p in programs}
        if len(bits) != 1:
            raise LoopedError(f"error: a batch needs one word size, got {sorted(bits)}")
        width = max(card_width(p) for p in programs)
        return (max(width, n or 0), bits.pop())

    def layout(self, key: tuple) -> Layout:
        n, bits = key
        return subleq_layout(0, 0, bits, n)

    def stack(self, layout: Layout) -> Stack:
        return subleq_stack(layout)

    def inverse_temperature(self, layout: Layout) -> float:
        return precision.inverse_temperature(layout.n, layout.bits)

    def dtype(self, layout: Layout):
        return precision.state_dtype(layout.bits)

    def encode(self, programs: Sequence[Program], key: tuple) -> tuple[list[Card], np.ndarray]:
        return encode_many(list(programs), key[0])

    def decode_memory(self, cards: Sequence[Card], X: np.ndarray) -> list[list[int]]:
        # Decoded for the whole batch at once: every card's memory zone starts at the same token.
        layout = cards[0].layout
        longest = max(len(card.program.memory) for card in cards)
        memories = decode_memory(layout, X, longest).tolist()
        return [memories[i][: len(card.program.memory)] for i, card in enumerate(cards)]

    def trace_observer(self, layout: Layout):
        return SignObserver(layout["mem"].slice)

    def decode_observed(self, cards: Sequence[Card], observed) -> list[np.ndarray]:
        mem_bits = np.asarray(observed)
        out = []
        for i, card in enumerate(cards):
            zone = card.layout.zone("memory")
            out.append(decode_signed(mem_bits[:, i, zone.start : zone.start + len(card.program.memory)]))
        return out

    def oracle_step(self, program: Program, memory: list[int], pc: int) -> int:
        from looped.machines.subleq import oracle

        return oracle.step(program, memory, pc)

    def cell_names(self, program: Program) -> list[str]:
        return program.cell_names()

    def format_program(self, program: Program) -> str:
        from looped.machines.subleq.disasm import format_program

        return format_program(program)

    def read_card(self, X, layout: dict, file: str) -> Program:
        from looped.machines.subleq.card_reader import program_from_card

        return program_from_card(X, layout, file)

    def check_runnable(self, program: Program) -> None:
        # The assembler accepts a file without code (the halt column alone); as a program to
        # run it is a mistake, located like FLEQ's.
        from looped.errors import AsmError, SourceLoc
        from looped.machines.subleq.assembler.parser import parse

        try:
            with open(program.file, encoding="utf-8") as f:
                has_code = bool(parse(f.read(), program.file).code)
        except OSError:
            return  # not from a file: nothing to check
        if not has_code:
            raise AsmError(SourceLoc(program.file, 1, 1), "the program has no instructions (expected "
                                                          "code statements after '.code', e.g. 'halt')")

    def changed(self, program: Program, names: Sequence[str], before, after) -> dict:
        return {names[i]: after[i] for i in range(len(after)) if after[i] != before[i]}

    def format_instruction(self, program: Program, inst, names: Sequence[str]) -> str:
        target = "halt" if inst.c == program.halt_index else str(inst.c)
        for label, index in program.code_labels.items():
            if index == inst.c and inst.c != program.halt_index:
                target = label
                break
        return f"subleq {names[inst.a]}, {names[inst.b]}, {target}"


@dataclass(frozen=True)
class SignObserver:
    """What a SUBLEQ trace records after each step: the sign bits of every token's memory rows
    (hashable: a static argument of the jitted trace)."""

    mem_rows: slice

    def __call__(self, X):
        return (X[:, :, self.mem_rows] > 0).astype("int8")

    def __hash__(self):
        return hash((self.mem_rows.start, self.mem_rows.stop))


SUBLEQ = Subleq()
