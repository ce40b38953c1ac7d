"""Punch cards: a program and its data encoded as the initial state X [n, d], and decoded back.

Tokens: 0 is the scratchpad, then one token per memory cell, then one per instruction (the halt
column last), then padding up to the card width. Instruction operands are absolute token indices.
"""

from __future__ import annotations

import functools

import numpy as np

from looped.layout import (Layout, bits_array, decode_signed, decode_unsigned, position_codes,
                           subleq_layout)
from looped.machines.base import Card
from looped.machines.subleq.program import Program


def card_width(program: Program) -> int:
    return 1 + len(program.memory) + len(program.code)


def layout_for(program: Program, n: int | None = None) -> Layout:
    return subleq_layout(len(program.memory), len(program.code), program.bits, n)


def encode(program: Program, layout: Layout | None = None) -> Card:
    layout = layout or layout_for(program)
    if layout.bits != program.bits:
        raise ValueError(f"layout has {layout.bits}-bit words, program {program.bits}")
    mem_zone, code_zone = layout.zone("memory"), layout.zone("code")
    if mem_zone.size < len(program.memory) or code_zone.size < len(program.code):
        raise ValueError("layout too small for program")
    return encode_many([program], layout.n, [layout])[0][0]


def encode_many(programs: list[Program], n: int, layouts: list[Layout] | None = None) -> tuple[list[Card], np.ndarray]:
    """Programs of one word size on cards of width n, encoded together (a batch of thousands of
    small programs is encoded in a few array operations): the cards and their states [B, n, d].
    `layouts`: the cards' layouts (default: the SUBLEQ layout of each program at width n)."""
    layouts = layouts or [subleq_layout(len(p.memory), len(p.code), p.bits, n) for p in programs]
    first = layouts[0]
    if any(lay.bits != first.bits for lay in layouts):
        raise ValueError("encode_many needs programs of one word size")
    N, r, B = first.bits, first.rows, len(programs)
    scratch = first.zone("scratch")
    base, codes = _blank_card(n, first)
    X = np.empty((B,) + base.shape)
    X[:] = base
    mem_start = np.array([lay.zone("memory").start for lay in layouts], dtype=np.int64)
    code_start = np.array([lay.zone("code").start for lay in layouts], dtype=np.int64)
    X[:, scratch.start, r["pc"].slice] = codes[code_start]

    def rows_of(sizes):  # (card, offset within the card's zone) of every item, all cards at once
        sizes = np.asarray(sizes, dtype=np.int64)
        if B == 1:
            return np.zeros(int(sizes[0]), np.int64), np.arange(int(sizes[0]))
        card = np.repeat(np.arange(B), sizes)
        return card, np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)

    card, offset = rows_of([len(p.memory) for p in programs])
    X[card, mem_start[card] + offset, r["mem"].slice] = bits_array([v for p in programs for v in p.memory], N)
    card, offset = rows_of([len(p.code) for p in programs])
    fields = np.concatenate([_operands(p.code) for p in programs]) if B > 1 else _operands(programs[0].code)
    token = code_start[card] + offset
    operands = (codes[mem_start[card] + fields[:, 0]], codes[mem_start[card] + fields[:, 1]],
                codes[code_start[card] + fields[:, 2]])
    a, b, c = r["instr.a"].slice, r["instr.b"].slice, r["instr.c"].slice
    if a.stop == b.start and b.stop == c.start:  # (the three blocks adjacent: one scatter)
        X[card, token, a.start : c.stop] = np.concatenate(operands, axis=1)
    else:
        for rows, values in zip((a, b, c), operands):
            X[card, token, rows] = values
    return [Card(p, lay, X[i]) for i, (p, lay) in enumerate(zip(programs, layouts))], X


# A program's operand fields [len(code), 3], by the identity of its code: a batch of one program's
# inputs (`--sets`, `with_settings`) shares one code tuple, and a program run again (benchmarks,
# the tail of a batch) is not read again. Each entry keeps its code alive, so its id stays its own.
_OPERANDS: dict[int, tuple] = {}
_OPERANDS_KEPT = 4096


def _operands(code) -> np.ndarray:
    kept = _OPERANDS.get(id(code))
    if kept is not None and kept[0] is code:
        return kept[1]
    fields = np.array([(i.a, i.b, i.c) for i in code], dtype=np.int64).reshape(-1, 3)
    fields.flags.writeable = False
    if len(_OPERANDS) >= _OPERANDS_KEPT:
        _OPERANDS.clear()
    _OPERANDS[id(code)] = (code, fields)
    return fields


def _blank_card(n: int, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """The part of a card [n, d] that no program changes (position codes, the scratch
    indicator), and the position code of every token [n, L] (read-only; cached per shape)."""
    r, scratch = layout.rows, layout.zone("scratch")
    key = (n, layout.d, layout.addr_bits, r["pos"].start, r["pos"].stop, r["ind"].start, r["ind"].stop,
           scratch.start, scratch.stop)
    return _blank(key)


@functools.lru_cache(maxsize=64)
def _blank(key: tuple) -> tuple[np.ndarray, np.ndarray]:
    n, d, L, pos0, pos1, ind0, ind1, s0, s1 = key
    codes = position_codes(np.arange(n), L)
    X = np.zeros((n, d))
    X[:, pos0:pos1] = codes
    X[s0:s1, ind0:ind1] = 1.0
    X.flags.writeable = codes.flags.writeable = False
    return X, codes


def decode_memory(layout: Layout, X: np.ndarray, n_memory: int) -> np.ndarray:
    """Signed values of the first `n_memory` memory tokens of state(s) X [..., n, d]."""
    zone = layout.zone("memory")
    return decode_signed(np.asarray(X)[..., zone.start : zone.start + n_memory, layout["mem"].slice])


def decode_pc(layout: Layout, X: np.ndarray) -> np.ndarray:
    """The program counter as a token index, of state(s) X [..., n, d]."""
    return decode_unsigned(np.asarray(X)[..., layout.zone("scratch").start, layout["pc"].slice])

