"""Punch cards: a program and its data encoded as the initial state X [n, d], and decoded back.

Tokens: 0 is the scratchpad, then one token per memory cell, then one per instruction (the halt
column last), then padding up to the card width. Instruction operands are absolute token indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from looped.layout import Layout, bits_of, decode_signed, decode_unsigned, position_code, subleq_layout
from looped.program import Program


@dataclass(frozen=True)
class Card:
    program: Program
    layout: Layout
    X: np.ndarray  # [n, d] float64; cast by the engine

    @property
    def halt_token(self) -> int:
        return self.layout.zone("code").start + self.program.halt_index

    def memory_token(self, cell: int) -> int:
        return self.layout.zone("memory").start + cell

    def code_token(self, index: int) -> int:
        return self.layout.zone("code").start + index


def card_width(program: Program) -> int:
    return 1 + len(program.memory) + len(program.code)


def layout_for(program: Program, n: int | None = None) -> Layout:
    return subleq_layout(len(program.memory), len(program.code), program.bits, n)


def encode(program: Program, layout: Layout | None = None) -> Card:
    layout = layout or layout_for(program)
    if layout.bits != program.bits:
        raise ValueError(f"layout has {layout.bits}-bit words, program {program.bits}")
    L, N = layout.addr_bits, layout.bits
    r, mem_zone, code_zone = layout.rows, layout.zone("memory"), layout.zone("code")
    if mem_zone.size < len(program.memory) or code_zone.size < len(program.code):
        raise ValueError("layout too small for program")
    X = np.zeros((layout.n, layout.d))
    for t in range(1, layout.n):
        X[t, r["pos"].slice] = position_code(t, L)
    X[0, r["ind"].slice] = 1.0
    X[0, r["pc"].slice] = position_code(code_zone.start, L)
    for i, value in enumerate(program.memory):
        X[mem_zone.start + i, r["mem"].slice] = bits_of(value, N)
    for k, inst in enumerate(program.code):
        t = code_zone.start + k
        X[t, r["instr.a"].slice] = position_code(mem_zone.start + inst.a, L)
        X[t, r["instr.b"].slice] = position_code(mem_zone.start + inst.b, L)
        X[t, r["instr.c"].slice] = position_code(code_zone.start + inst.c, L)
    return Card(program, layout, X)


def decode_memory(layout: Layout, X: np.ndarray, n_memory: int) -> np.ndarray:
    """Signed values of the first `n_memory` memory tokens of state(s) X [..., n, d]."""
    zone = layout.zone("memory")
    return decode_signed(np.asarray(X)[..., zone.start : zone.start + n_memory, layout["mem"].slice])


def decode_pc(layout: Layout, X: np.ndarray) -> np.ndarray:
    """The program counter as a token index, of state(s) X [..., n, d]."""
    return decode_unsigned(np.asarray(X)[..., 0, layout["pc"].slice])

