"""Classic (von Neumann) SUBLEQ tapes as a list of layers of named blocks: eight layers, five heads.

One memory holds code and data (looped/machines/tape/program.py has the dialect, docs/tapes.md the
whole story). The card:

    token 0                 the scratch token: IP, the input and output cursors, the memory's
                            size (M - 1 and M - 3), the flags stop / halt / fault / full
    memory (Mcap / 8)       eight cells a token: cell a lives on token 1 + a // 8 in `mem.s{a % 8}`
    output zone (Kout)      output cells: one byte each in `out` (±1 bits), written at the output
                            cursor
    input zone (Kin)        the input bytes, one a token in `mem.s0`, then end-of-input tokens
                            (`eof` = 1, `mem.s0` = -1) where the cursor stops
    padding

A cell is its word's *digits*: Q = ceil(N / 4) rows, each an integer in [0, 15] (4 bits of the
two's-complement word, the least significant digit first), so that a read contracts a quarter of
the rows ±1 bits would take; the scratch token turns the digits it reads into ±1 bits and the bits
it writes back into digits (blocks.digits_to_bits, blocks.place_digit_change).

Every token t >= 1 carries the position code `pos` = the ±1 bits of t - 1 over P bits, and `pos1`
= the code of t - 2. An address's bits above its three lowest are its token's code (the query that
reads the token's eight cells); its three lowest bits are its *slot*, which picks the cell out of
the read on the scratch token. IP's token and the next one (found through `pos1`) hold the
instruction's three words.

    fetch            2 heads  IP's token and the next one (16 cells); A, B, C's digits picked by
                              IP's slot
    unpack           -        A, B, C as ±1 bits
    decode           -        the tests (A = -1, B = -1, A or B outside the memory, C and IP + 3
                              outside [0, M - 3], no I/O), the operand pointers (A's is the input
                              cursor when A = -1), C's code and IP + 3's
    execute          2 heads  the tokens of A's pointer (or the input byte) and of B; the cells'
                              digits picked by the pointers' slots
    unpack operands  -        mem[A] and mem[B] as ±1 bits
    compute          -        what the step does (input, output, subtract or fault), mem[B] -
                              mem[A] (or the input byte), [result <= 0] beside the subtractor, the
                              write's token and slot
    place            -        the write's change: the new word's digits minus the old ones in the
                              written cell's slot, or the byte in `out`
    write            1 head   the addressed token adds the change; IP <- C or IP + 3; the cursors
                              advance; stop with halt, fault or full; every transient row cleared

Every head is a *hard* selection (blocks.hard_scale): every other token's weight is exactly 0, so
reads return exact digits, the write changes no other token, and no cell needs error correction:
on the tokens other than the scratch token a step only runs the five heads (four reads over an
eighth as many tokens as cells, and the write). Everything else runs on the scratch token.

The runner stops a card when its `pc` rows, here the one row `stop`, decode to 1: the machine
raises it when IP leaves [0, M - 3] (halt; IP then stays on the last instruction), when an address
is outside the memory (fault: the instruction does nothing, IP stays), or when the output cells
are full (a pause: the driver, looped/machines/tape/engine.py, empties them and resumes). A
stopped card is a fixed point: every effect is gated by `stop`. The memory size M is on the card,
so cards of different sizes share a machine; addresses are non-negative words, so M <= 2^(N-1).

λ: `inverse_temperature` below (the SUBLEQ rule); the heads' scores are scaled to hard selections.
dtype: float32 up to 20-bit words, float64 above. The health figure is taken on the persistent
scratch rows (recomputed exactly every step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from looped import blocks, precision
from looped.machines.tape import blocks as tb
from looped.machines.base import Card, InstructionSet
from looped.layers import Layer, Stack, layer
from looped.layout import Layout, RowAllocator, Zone, address_bits, bits_array, decode_unsigned
from looped.limits import MAX_COLUMNS
from looped.errors import LoopedError
from looped.layout import wrap

OUT_BITS = 8
STOP_CODE = 1  # the runner's halt address: the `pc` block is the single row `stop`
CELLS = 8  # memory cells a token
SLOT_BITS = 3  # log2(CELLS)
TESTS = ("a_in", "b_out", "a_bad", "b_bad", "c_halt", "n_halt", "arith")
DOES = ("in", "out", "sub", "fault", "le", "next_in")


def memory_tokens(mcap: int) -> int:
    return -(-mcap // CELLS)


def tape_layout(n: int, bits: int, mcap: int, kout: int, kin: int) -> Layout:
    """The tape card: scratch, `mcap` memory cells (CELLS a token), `kout` output cells, `kin` input
    tokens (the bytes and at least one end-of-input token), padding up to `n` tokens."""
    if kout < 1 or kin < 1 or mcap < 1:
        raise ValueError("a tape card needs at least one memory, output and input token")
    mtok = memory_tokens(mcap)
    used = 1 + mtok + kout + kin
    if n < used:
        raise ValueError(f"card of {n} tokens cannot hold {used}")
    N, P = bits, address_bits(n - 1)
    A = P + SLOT_BITS  # bits of a memory address: the token's code, then the slot
    Q = tb.digits(N)  # a cell's digit rows
    W = CELLS * Q
    alloc = RowAllocator()
    # On the non-scratch tokens: pos, pos1 (read), eof + mem (read), mem + out (written).
    alloc.add("pos", P)
    alloc.add("pos1", P)  # the code of t - 2: the key that a token's code finds the next token by
    cell_parts = [("eof", 0, 1), ("eofmem", 0, 1 + W), ("mem", 1, W), ("memout", 1, W + OUT_BITS),
                  ("out", 1 + W, OUT_BITS)] + [(f"mem.s{s}", 1 + s * Q, Q) for s in range(CELLS)]
    alloc.add("cell", 1 + W + OUT_BITS, cell_parts)
    for name, _, _ in cell_parts:
        alloc.rows[name] = alloc.rows[f"cell.{name}"]
    alloc.add("ind", 1)
    # Persistent scratch state (recomputed exactly every step; the health figure).
    alloc.add("pc", 1)  # stop: the runner's halt test
    alloc.add("status", 3, [("halt", 0, 1), ("fault", 1, 1), ("full", 2, 1)])
    alloc.add("ip", A, [("token", 0, P), ("slot", P, SLOT_BITS)])
    alloc.add("icur", P)
    alloc.add("ocur", P)
    alloc.add("top", A)  # M - 1
    alloc.add("lim", A)  # max(M - 3, 0)
    # Transient scratch rows (zero between steps). The read buffer holds the fetched window of two
    # tokens, then the two operands' tokens (A's with its eof row).
    buf_parts = [("win", 0, 2 * W)] + [(f"win.c{j}", j * Q, Q) for j in range(2 * CELLS)]
    buf_parts += [("ra", 0, 1 + W), ("ra.eof", 0, 1)] + [(f"ra.c{s}", 1 + s * Q, Q) for s in range(CELLS)]
    buf_parts += [("rb", 1 + W, W)] + [(f"rb.c{s}", 1 + W + s * Q, Q) for s in range(CELLS)]
    alloc.add("buf", 2 * W + 1, buf_parts)
    for name, _, _ in buf_parts:
        alloc.rows[name] = alloc.rows[f"buf.{name}"]
    alloc.add("nib", 3 * Q, [("A", 0, Q), ("B", Q, Q), ("C", 2 * Q, Q)])  # the fetched words' digits
    alloc.add("word", 3 * N, [("A", 0, N), ("B", N, N), ("C", 2 * N, N)])
    alloc.add("ptr", 2 * A, [("a", 0, A), ("a.token", 0, P), ("a.slot", P, SLOT_BITS),
                             ("b", A, A), ("b.token", A, P), ("b.slot", A + P, SLOT_BITS)])
    alloc.add("test", len(TESTS), [(name, i, 1) for i, name in enumerate(TESTS)])
    alloc.add("jc", A)  # C's code (the jump)
    alloc.add("nc", A)  # IP + 3's code (the fall-through)
    alloc.add("va", 1 + N, [("eof", 0, 1), ("word", 1, N)])
    alloc.add("vb", N)
    alloc.add("vnib", 2 * Q, [("a", 0, Q), ("b", Q, Q)])  # the operands' digits (b: the old value)
    alloc.add("wsrc", N + OUT_BITS, [("word", 0, N), ("byte", N, OUT_BITS)])
    alloc.add("wptr", P)
    alloc.add("wslot", SLOT_BITS)
    alloc.add("do", len(DOES), [(name, i, 1) for i, name in enumerate(DOES)])
    # The change a write adds to the addressed token's cell rows (eof included, always 0 there:
    # then the rows the reads take lie in one block of written rows on the other tokens).
    alloc.add("delta", 1 + W + OUT_BITS, [("mem", 1, W), ("out", 1 + W, OUT_BITS)] +
              [(f"s{s}", 1 + s * Q, Q) for s in range(CELLS)])
    m0, o0, i0 = 1, 1 + mtok, 1 + mtok + kout
    zones = {
        "scratch": Zone("scratch", 0, 1),
        "memory": Zone("memory", m0, m0 + mtok),
        "code": Zone("code", m0, m0 + mtok),  # code and data share the memory
        "output": Zone("output", o0, o0 + kout),
        "input": Zone("input", i0, i0 + kin),
        "padding": Zone("padding", used, n),
    }
    return Layout(n=n, d=alloc.next, bits=N, addr_bits=P, rows=alloc.rows, zones=zones,
                  sizes={"memory": mcap, "output": kout, "input": kin, "cells": CELLS})


def digits_array(values, bits: int) -> np.ndarray:
    """Words as their digit rows [len(values), Q] (the two's-complement bits, 4 a digit, least
    significant digit first)."""
    unsigned = np.asarray(values, dtype=np.int64) & ((1 << bits) - 1)
    shifts = tb.NIBBLE * np.arange(tb.digits(bits), dtype=np.int64)
    return ((unsigned[:, None] >> shifts) & 15).astype(np.float64)


def decode_digits(cells: np.ndarray, bits: int) -> np.ndarray:
    """Digit rows [..., Q] -> signed words (each digit rounded)."""
    digit_values = np.rint(np.asarray(cells, dtype=np.float64)).astype(np.int64)
    shifts = tb.NIBBLE * np.arange(cells.shape[-1], dtype=np.int64)
    unsigned = np.sum(digit_values << shifts, axis=-1)
    return np.where(unsigned >= (1 << (bits - 1)), unsigned - (1 << bits), unsigned)


def cells_of(layout: Layout, block: str, count: int = CELLS) -> list:
    """The rows of the cells `block`.c0, `block`.c1, ... (or .s0, ... for the card's and the
    change's cells)."""
    part = "s" if block in ("mem", "delta") else "c"
    return [layout[f"{block}.{part}{j}"] for j in range(count)]


# ---- the layers ------------------------------------------------------------------------------------


def fetch_layer(layout: Layout, lam: float) -> Layer:
    """A, B, C's digits <- the cells at IP, IP + 1, IP + 2: IP's token and the next one are read
    (2 CELLS cells) and the words picked by IP's slot."""
    r = layout.rows
    window = cells_of(layout, "win", 2 * CELLS)
    W = CELLS * tb.digits(layout.bits)
    low, high = r["win"].part("low", 0, W), r["win"].part("high", W, W)
    return layer(
        "fetch",
        tb.read_token(layout, r["ip.token"], r["pos"], r["mem"], low, lam, name="fetch IP's token"),
        tb.read_token(layout, r["ip.token"], r["pos1"], r["mem"], high, lam, name="fetch the next token"),
        *(tb.pick_digits(layout, window, r["ip.slot"], r[f"nib.{w}"], offset, name=f"pick {w}")
          for offset, w in enumerate("ABC")),
        blocks.clear(layout, r["buf"]),
        d=layout.d,
    )


def unpack_layer(layout: Layout, name: str, pairs: Sequence[tuple[str, str]], done: Sequence[str]) -> Layer:
    """Each (digits, bits) pair of blocks: bits <- the ±1 bits of the digits; the blocks `done`
    cleared."""
    r = layout.rows
    return layer(name, *(tb.digits_to_bits(layout, r[src], r[dst], tb.gate(layout), name=f"{src} to bits")
                         for src, dst in pairs),
                 blocks.clear(layout, *(r[block] for block in done)), d=layout.d)


def operand_tests(layout: Layout) -> list:
    """test.* from A, B, C and IP: A = -1 (input), B = -1 (output), A or B outside [0, M - 1], C and
    IP + 3 outside [0, M - 3], and arith = [A != -1 and B != -1] = 1 - [A = -1] - [B = -1] + [both]
    (no I/O: the subtractor's result is what the write takes, a single literal for its gate)."""
    r, N = layout.rows, layout.bits
    A, B, C, t = r["word.A"], r["word.B"], r["word.C"], {name: r[f"test.{name}"].start for name in TESTS}
    scratch = tb.gate(layout)
    tests = tb.flags(layout, "tests", [
        (tb.ones(A), 0.0, float(N), {t["a_in"]: 1.0, t["arith"]: -1.0}),
        (tb.ones(B), 0.0, float(N), {t["b_out"]: 1.0, t["arith"]: -1.0}),
        ({**tb.ones(A), **tb.ones(B)}, 0.0, float(2 * N), {t["arith"]: 1.0}),
        (tb.beyond(layout, A, r["top"]), 0.0, 1.0, {t["a_bad"]: 1.0}),
        (tb.beyond(layout, B, r["top"]), 0.0, 1.0, {t["b_bad"]: 1.0}),
        (tb.beyond(layout, C, r["lim"]), 0.0, 1.0, {t["c_halt"]: 1.0}),
        (tb.above_after(layout, r["ip"], 3, r["lim"]), 0.0, 1.0, {t["n_halt"]: 1.0}),
    ], scratch)
    return [tests, tb.passes(layout, [(r["ind"].start, t["arith"])], scratch, name="arith = 1 - ...")]


def operand_pointers(layout: Layout) -> list:
    """ptr.a = A's address bits, or the input cursor's token (slot 0) when A = -1 (then every bit of
    A is +1); ptr.b = B's address bits. Bits above the word are -1 (a valid address has 0s)."""
    r, N = layout.rows, layout.bits
    A, B, pa, pb, icur = r["word.A"], r["word.B"], r["ptr.a"], r["ptr.b"], r["icur"]
    scratch = tb.gate(layout)
    width = pa.size
    pairs = [(A.bit(i) if i < N else None, pa.bit(i)) for i in range(width)]
    pairs += [(B.bit(i) if i < N else None, pb.bit(i)) for i in range(width)]
    # When A = -1: the slot bits become -1 (snap gave +1: -2), the token bits the cursor's
    # (snap gave +1 below the word: -2 where the cursor's bit is -1; -1 above it: +2 where it is +1).
    cursor = []
    for i in range(width):
        if i < SLOT_BITS:
            cursor.append((tb.ones(A), 0.0, float(N), {pa.bit(i): -2.0}))
        elif i < N:
            cursor.append(({**tb.ones(A), icur.bit(i - SLOT_BITS): -1.0}, 0.0, float(N + 1), {pa.bit(i): -2.0}))
        else:
            cursor.append(({**tb.ones(A), icur.bit(i - SLOT_BITS): 1.0}, 0.0, float(N + 1), {pa.bit(i): 2.0}))
    return [tb.snap(layout, pairs, scratch, "operand pointers"),
            tb.flags(layout, "input cursor as pointer", cursor, scratch)]


def branch_codes(layout: Layout) -> list:
    """jc = C's address bits (-1 above the word), nc = IP + 3."""
    r, N = layout.rows, layout.bits
    C, jc, nc, ip = r["word.C"], r["jc"], r["nc"], r["ip"]
    scratch = tb.gate(layout)
    return [tb.snap(layout, [(C.bit(i) if i < N else None, jc.bit(i)) for i in range(jc.size)], scratch, "jump code"),
            tb.add_constant(layout, tb.bits_lsb(ip, ip.size), 3, tb.bits_lsb(nc, nc.size), scratch, "IP+3")]


def decode_layer(layout: Layout) -> Layer:
    r = layout.rows
    return layer("decode", *operand_tests(layout), *operand_pointers(layout), *branch_codes(layout),
                 blocks.clear(layout, r["word"]), d=layout.d)


def execute_layer(layout: Layout, lam: float) -> Layer:
    """va <- the cell at ptr.a (with its token's eof row: an input byte), vb <- the cell at ptr.b."""
    r = layout.rows
    return layer(
        "execute",
        tb.read_token(layout, r["ptr.a.token"], r["pos"], r["eofmem"], r["ra"], lam, name="read A (or input)"),
        tb.read_token(layout, r["ptr.b.token"], r["pos"], r["mem"], r["rb"], lam, name="read B"),
        tb.pick_digits(layout, cells_of(layout, "ra"), r["ptr.a.slot"], r["vnib.a"], name="pick mem[A]"),
        tb.passes(layout, [(r["ra.eof"].start, r["va.eof"].start)], tb.gate(layout), name="end of input"),
        tb.pick_digits(layout, cells_of(layout, "rb"), r["ptr.b.slot"], r["vnib.b"], name="pick mem[B]"),
        blocks.clear(layout, r["buf"]),
        d=layout.d,
    )


def decisions(layout: Layout) -> list:
    """do.in, do.out, do.sub = [their gate]; do.fault = running - (the three); do.next_in = [input,
    not at the end of the input]. Each is a robust step of the gate's literal sum at its k."""
    r = layout.rows
    t = {name: r[f"test.{name}"] for name in TESTS}
    do = {name: r[f"do.{name}"].start for name in DOES}
    run = tb.neg(layout, r["pc"])
    ok_a, ok_b = tb.neg(layout, t["a_bad"]), tb.neg(layout, t["b_bad"])
    g_in = tb.gate(layout, run, tb.lit(t["a_in"]), ok_b)
    g_out = tb.gate(layout, run, tb.lit(t["b_out"]), ok_a)
    g_sub = tb.gate(layout, run, ok_a, ok_b)
    g_next_in = tb.gate(layout, run, tb.lit(t["a_in"]), ok_b, tb.neg(layout, r["va.eof"]))
    flags = tb.flags(layout, "decide", [
        (g_in.terms, 0.0, g_in.k, {do["in"]: 1.0, do["fault"]: -1.0}),
        (g_out.terms, 0.0, g_out.k, {do["out"]: 1.0, do["fault"]: -1.0}),
        (g_sub.terms, 0.0, g_sub.k, {do["sub"]: 1.0, do["fault"]: -1.0}),
        (g_next_in.terms, 0.0, g_next_in.k, {do["next_in"]: 1.0}),
    ], tb.gate(layout))
    running = tb.passes(layout, [(r["ind"].start, do["fault"])], tb.gate(layout, run), name="fault = running - done")
    return [flags, running]


def results(layout: Layout) -> list:
    """wsrc.word = mem[B] - mem[A] (no I/O) or the input byte (A = -1); wsrc.byte = mem[A] mod 256
    (an output); do.le = [the wrapped difference <= 0], from the operands beside the subtractor
    (only on the scratch gate: its range is 2^N, few gate literals keep it exact in float32)."""
    r, N = layout.rows, layout.bits
    va, vb, t = r["va.word"], r["vb"], {name: r[f"test.{name}"] for name in TESTS}
    g_out = tb.gate(layout, tb.neg(layout, r["pc"]), tb.lit(t["b_out"]), tb.neg(layout, t["a_bad"]))
    byte_pairs = [(va.bit(min(j, N - 1)), r["wsrc.byte"].bit(j)) for j in range(OUT_BITS)]
    return [
        tb.subtract_when(layout, vb, va, r["wsrc.word"], tb.gate(layout, tb.lit(t["arith"]))),
        tb.snap(layout, [(va.bit(j), r["wsrc.word"].bit(j)) for j in range(N)], tb.gate(layout, tb.lit(t["a_in"])),
                "input word"),
        tb.snap(layout, byte_pairs, g_out, "output byte"),
        tb.le_zero_wrapped(layout, vb, va, r["do.le"], tb.gate(layout)),
    ]


def write_target(layout: Layout) -> list:
    """wptr, wslot: B's token and slot (an input or a subtraction), or the output cursor (an
    output)."""
    r = layout.rows
    t = {name: r[f"test.{name}"] for name in TESTS}
    run, ok_b = tb.neg(layout, r["pc"]), tb.neg(layout, t["b_bad"])
    # A write to mem[B]: input (A = -1, which is "bad" as an address) or subtract (A valid).
    g_write = tb.gate(layout, run, ok_b, {r["ind"].start: 1.0, t["a_bad"].start: -1.0, t["a_in"].start: 1.0})
    g_out = tb.gate(layout, run, tb.lit(t["b_out"]), tb.neg(layout, t["a_bad"]))
    pb = [(a, b) for a, b in zip(r["ptr.b.token"].indices, r["wptr"].indices)]
    slot = [(a, b) for a, b in zip(r["ptr.b.slot"].indices, r["wslot"].indices)]
    return [tb.passes(layout, pb + slot, g_write, name="write pointer"),
            tb.passes(layout, list(zip(r["ocur"].indices, r["wptr"].indices)), g_out, name="output pointer")]


def compute_layer(layout: Layout) -> Layer:
    r = layout.rows
    transient = [r[f"test.{name}"] for name in ("a_in", "b_out", "a_bad", "b_bad", "arith")]
    return layer("compute", *decisions(layout), *results(layout), *write_target(layout),
                 blocks.clear(layout, r["ptr"], r["va"], *transient), d=layout.d)


def place_layer(layout: Layout) -> Layer:
    """delta = the change the write adds to its token: new - old in the written cell's slot (an
    input or a subtraction), or the byte in `out` (an output cell is empty before)."""
    r = layout.rows
    memory_write = tb.any_of(r["do.in"], r["do.sub"])
    return layer(
        "place",
        tb.place_digit_change(layout, r["wsrc.word"], r["vnib.b"], r["wslot"], cells_of(layout, "delta"),
                              memory_write, name="change of the cell"),
        tb.passes(layout, list(zip(r["wsrc.byte"].indices, r["delta.out"].indices)),
                  tb.gate(layout, tb.lit(r["do.out"])), name="output byte"),
        blocks.clear(layout, r["wsrc"], r["vb"], r["vnib.b"], r["wslot"]),
        d=layout.d,
    )


def next_ip(layout: Layout) -> list:
    """IP <- C on a subtraction whose result is <= 0 (do.le is in [0, 1] whatever the reads: its
    three steps are nested thresholds of one sum), IP + 3 after any other executed step, unless the
    new IP is outside [0, M - 3]: then stop with halt (IP stays)."""
    r = layout.rows
    do, t = {name: r[f"do.{name}"] for name in DOES}, {name: r[f"test.{name}"] for name in TESTS}
    jump = (tb.lit(do["sub"]), tb.lit(do["le"]))
    through = [tb.any_of(do["in"], do["out"]), (tb.lit(do["sub"]), tb.neg(layout, do["le"]))]
    g_jump = tb.gate(layout, *jump, tb.neg(layout, t["c_halt"]))
    g_next = [tb.gate(layout, through[0], tb.neg(layout, t["n_halt"])),
              tb.gate(layout, *through[1], tb.neg(layout, t["n_halt"]))]
    halting = [tb.gate(layout, *jump, tb.lit(t["c_halt"])),
               tb.gate(layout, through[0], tb.lit(t["n_halt"])),
               tb.gate(layout, *through[1], tb.lit(t["n_halt"]))]
    stop, halt = r["pc"].start, r["status.halt"].start
    return [tb.select(layout, [(r["jc"], g_jump)] + [(r["nc"], g) for g in g_next], r["ip"], "IP"),
            tb.flags(layout, "halt", [(g.terms, 0.0, g.k, {stop: 1.0, halt: 1.0}) for g in halting], tb.gate(layout))]


def status_and_cursors(layout: Layout) -> list:
    """stop with fault; full (and stop, unless halting) when the output just written was the last
    output cell; the input cursor after an input that was not at the end, the output cursor after
    an output."""
    r = layout.rows
    stop, n_halt = r["pc"].start, r["test.n_halt"]
    last = layout.zone("output").stop - 2  # code of the last output cell (token t has code t - 1)
    match = tb.code_match(r["ocur"], last)
    wrote = tb.gate(layout, tb.lit(r["do.out"]))
    going_on = tb.gate(layout, tb.lit(r["do.out"]), tb.neg(layout, n_halt))
    P = float(r["ocur"].size)
    return [
        tb.flags(layout, "output full", [(match, 0.0, P, {r["status.full"].start: 1.0})], wrote),
        tb.flags(layout, "pause", [(match, 0.0, P, {stop: 1.0})], going_on),
        tb.passes(layout, [(r["do.fault"].start, stop), (r["do.fault"].start, r["status.fault"].start)],
                  tb.gate(layout), name="fault"),
        tb.increment(layout, r["icur"], tb.gate(layout, tb.lit(r["do.next_in"])), "input cursor"),
        tb.increment(layout, r["ocur"], wrote, "output cursor"),
    ]


def write_layer(layout: Layout, lam: float) -> Layer:
    r = layout.rows
    return layer(
        "write",
        tb.write_delta(layout, r["wptr"], r["delta"], r["cell"], lam),
        # (a cell's digit is at most 15 on every token)
        tb.clear_on_scratch(layout, r["cell"], bound=tb.DIGIT_GATE / 2),
        *next_ip(layout), *status_and_cursors(layout),
        blocks.clear(layout, r["test.c_halt"], r["test.n_halt"], r["jc"], r["nc"], r["delta"], r["wptr"], r["do"]),
        d=layout.d,
    )


def tape_stack(layout: Layout) -> Stack:
    lam = precision.inverse_temperature(layout.n, layout.bits)
    layers = (fetch_layer(layout, lam),
              unpack_layer(layout, "unpack", [("nib.A", "word.A"), ("nib.B", "word.B"), ("nib.C", "word.C")], ["nib"]),
              decode_layer(layout),
              execute_layer(layout, lam),
              unpack_layer(layout, "unpack operands", [("vnib.a", "va.word"), ("vnib.b", "vb")], ["vnib.a"]),
              compute_layer(layout),
              place_layer(layout),
              write_layer(layout, lam))
    r = layout.rows
    persistent = [r["pc"], r["status"], r["ip"], r["icur"], r["ocur"]]
    corrected = tuple(row for block in persistent for row in block.indices)
    return Stack(layers=layers, corrected_rows=corrected, health_before=0, scratch_tokens=1)


# ---- the instruction set object ---------------------------------------------------------------------


@dataclass(frozen=True)
class TapeCard(Card):
    @property
    def halt_token(self) -> int:
        return STOP_CODE


@dataclass
class MachineTape:
    """A card's state read back: what `looped tape` reports (TapeProgram.outputs takes it)."""

    memory: list[int]
    ip: int
    output: bytes
    input_pos: int
    stop: bool
    halted: bool
    fault: bool
    full: bool


def bucket(x: int, minimum: int) -> int:
    """x rounded up to 8 .. 16 steps per power of two (at least `minimum`)."""
    x = max(int(x), minimum)
    step = 1 << max(0, x.bit_length() - 4)
    return -(-x // step) * step


class Tape(InstructionSet):
    """Classic SUBLEQ; machine key (n, bits, memory cells, output cells, input tokens)."""

    name = "tape"
    pc_token = 0

    def machine_key(self, programs: Sequence, n: int | None = None) -> tuple:
        bits = {p.bits for p in programs}
        if len(bits) != 1:
            raise LoopedError(f"error: a batch needs one word size, got {sorted(bits)}")
        # Token counts are rounded up (at most 1/8 more) so that tapes of similar sizes share a
        # machine and its compiled loop: the memory size itself is on each card.
        mcap = -(-bucket(max(p.size for p in programs), 32) // CELLS) * CELLS
        kout = max(p.output_capacity for p in programs)
        kin = bucket(max(len(p.input) for p in programs) + 1, 16)
        width = 1 + memory_tokens(mcap) + kout + kin
        if width > MAX_COLUMNS:
            raise LoopedError(f"error: card of {width} columns exceeds the limit of {MAX_COLUMNS} "
                              f"(memory {mcap}, output cells {kout}, input {kin - 1} bytes)")
        return (max(width, n or 0), bits.pop(), mcap, kout, kin)

    def layout(self, key: tuple) -> Layout:
        return tape_layout(*key)

    def stack(self, layout: Layout) -> Stack:
        return tape_stack(layout)

    def inverse_temperature(self, layout: Layout) -> float:
        return precision.inverse_temperature(layout.n, layout.bits)

    def dtype(self, layout: Layout):
        return precision.state_dtype(layout.bits)

    def encode(self, programs: Sequence, key: tuple) -> tuple[list[Card], np.ndarray]:
        layout = self.layout(key)
        n, N, P, r = layout.n, layout.bits, layout.addr_bits, layout.rows
        A = r["ip"].size  # address bits
        mem, out, inp = layout.zone("memory"), layout.zone("output"), layout.zone("input")
        B = len(programs)
        X = np.zeros((B, n, layout.d))
        codes = np.arange(n - 1)  # token t >= 1 has code t - 1; pos1 and pos2 are shifted by 1 and 2
        X[:, 1:, r["pos"].slice] = bits_array(codes, P)
        X[:, 1:, r["pos1"].slice] = bits_array(codes - 1, P)
        X[:, 0, r["ind"].slice] = 1.0
        for i, p in enumerate(programs):
            if p.bits != N:
                raise ValueError("a batch needs one word size")
            M = p.size
            values = list(p.memory) + [0] * (mem.size * CELLS - M)
            X[i, mem.start : mem.stop, r["mem"].slice] = digits_array(values, N).reshape(mem.size, -1)
            data = [wrap(byte, N) for byte in p.input]
            words = data + [-1] * (inp.size - len(data))
            X[i, inp.start : inp.stop, r["mem.s0"].slice] = digits_array(words, N)
            X[i, inp.start + len(data) : inp.stop, r["eof"].start] = 1.0
            stopped = M < 3
            X[i, 0, r["pc"].start] = 1.0 if stopped else 0.0
            X[i, 0, r["status.halt"].start] = 1.0 if stopped else 0.0
            X[i, 0, r["ip"].slice] = bits_array([0], A)[0]
            X[i, 0, r["icur"].slice] = bits_array([inp.start - 1], P)[0]
            X[i, 0, r["ocur"].slice] = bits_array([out.start - 1], P)[0]
            X[i, 0, r["top"].slice] = bits_array([M - 1], A)[0]
            X[i, 0, r["lim"].slice] = bits_array([max(M - 3, 0)], A)[0]
        cards = [TapeCard(p, layout, X[i]) for i, p in enumerate(programs)]
        return cards, X

    def decode_memory(self, cards: Sequence[Card], X: np.ndarray) -> list[MachineTape]:
        X = np.asarray(X)
        layout = cards[0].layout
        r, mem, out, inp = layout.rows, layout.zone("memory"), layout.zone("output"), layout.zone("input")
        cells = X[:, mem.start : mem.stop, r["mem"].slice]
        values = decode_digits(cells.reshape(len(X), mem.size * CELLS, -1), layout.bits)
        scratch = X[:, 0]
        ip = decode_unsigned(scratch[:, r["ip"].slice])
        ocur = decode_unsigned(scratch[:, r["ocur"].slice]) - (out.start - 1)
        icur = decode_unsigned(scratch[:, r["icur"].slice]) - (inp.start - 1)
        bytes_ = decode_unsigned(X[:, out.start : out.stop, r["out"].slice])
        flag = lambda row: scratch[:, r[row].start] > 0.5  # noqa: E731
        stop, halt, fault, full = flag("pc"), flag("status.halt"), flag("status.fault"), flag("status.full")
        states = []
        for i, card in enumerate(cards):
            count = int(np.clip(ocur[i], 0, out.size))
            states.append(MachineTape(
                memory=[int(v) for v in values[i, : card.program.size]], ip=int(ip[i]),
                output=bytes(int(b) for b in bytes_[i, :count]), input_pos=int(icur[i]),
                stop=bool(stop[i]), halted=bool(halt[i]), fault=bool(fault[i]), full=bool(full[i])))
        return states

    def trace_observer(self, layout: Layout):
        return TapeObserver(layout.zone("memory").start, layout.zone("memory").stop, layout["mem"].start,
                            layout["mem"].stop, layout.bits, layout.zone("output").start, layout.zone("output").stop,
                            layout["out"].start, layout["out"].stop,
                            tuple((name, layout[name].start, layout[name].stop) for name in
                                  ("ip", "icur", "ocur", "pc", "status.halt", "status.fault", "status.full")))

    def decode_observed(self, cards: Sequence[Card], observed) -> list[dict]:
        """Per card, after each traced step: memory [T, M], ip, input_pos, output count and bytes,
        and the stop/halt/fault/full flags [T]."""
        memory, output, scratch = (np.asarray(a) for a in observed)
        layout = cards[0].layout
        out0, in0 = layout.zone("output").start - 1, layout.zone("input").start - 1
        names = ("ip", "icur", "ocur", "pc", "status.halt", "status.fault", "status.full")
        fields = {name: scratch[:, :, k] for k, name in enumerate(names)}
        result = []
        for i, card in enumerate(cards):
            result.append({
                "memory": memory[:, i, : card.program.size],
                "ip": fields["ip"][:, i],
                "input_pos": fields["icur"][:, i] - in0,
                "output_count": fields["ocur"][:, i] - out0,
                "output": output[:, i],
                "stop": fields["pc"][:, i], "halted": fields["status.halt"][:, i],
                "fault": fields["status.fault"][:, i], "full": fields["status.full"][:, i],
            })
        return result

    # -- oracle and printing ---------------------------------------------------------------------
    def oracle_step(self, program, memory, pc: int) -> int:
        """`memory`: a looped.machines.tape.oracle.TapeState, stepped in place; returns the new IP."""
        from looped.machines.tape import oracle as tape_oracle

        tape_oracle.step(memory, program.bits, program.input)
        return memory.ip

    def cell_names(self, program) -> list[str]:
        return [str(i) for i in range(program.size)]

    def changed(self, program, names: Sequence[str], before, after) -> dict:
        return {names[i]: after[i] for i in range(len(after)) if after[i] != before[i]}

    def format_instruction(self, program, inst, names: Sequence[str]) -> str:
        a, b, c = inst
        return f"subleq {a} {b} {c}"


@dataclass(frozen=True)
class TapeObserver:
    """What a tape trace records after each step (hashable: a static argument of the jitted
    trace): each memory cell's value, each output cell's byte, and the scratch codes."""

    m0: int
    m1: int
    mem0: int
    mem1: int
    bits: int  # a cell's bits (the memory rows hold CELLS cells a token)
    o0: int
    o1: int
    out0: int
    out1: int
    scratch: tuple

    def __call__(self, X):
        import jax.numpy as jnp

        def unsigned(bits):
            width = bits.shape[-1]
            dtype = jnp.int64 if width > 31 else jnp.int32
            weights = jnp.asarray([1 << (width - 1 - i) for i in range(width)], dtype=dtype)
            return jnp.sum((bits > 0).astype(dtype) * weights, axis=-1)

        cells = X[:, self.m0 : self.m1, self.mem0 : self.mem1]
        N = self.bits
        Q = -(-N // 4)
        digit_values = jnp.round(cells.reshape(cells.shape[0], -1, Q)).astype(jnp.int64 if N > 31 else jnp.int32)
        words = jnp.sum(digit_values << (4 * jnp.arange(Q, dtype=digit_values.dtype)), axis=-1)
        words = jnp.where(words >= (1 << (N - 1)), words - (1 << N), words)
        output = unsigned(X[:, self.o0 : self.o1, self.out0 : self.out1]).astype(jnp.int16)
        scratch = jnp.stack([unsigned(X[:, 0, a:b]) for _, a, b in self.scratch], axis=-1)
        return words, output, scratch


TAPE = Tape()
