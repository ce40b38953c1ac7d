"""Classic (von Neumann) SUBLEQ tapes as a list of blocks: three layers, six heads.

One memory holds code and data (looped/machines/tape/program.py has the dialect, docs/tapes.md the whole
story). The card:

    token 0                 the scratch token: IP, the input and output cursors, the memory's
                            size (M - 1 and M - 3), the flags stop / halt / fault / full
    tokens 1 .. Mcap        memory cell k at token 1 + k: its value in `mem`
    output zone (Kout)      output cells: one byte each in `out`, written at the output cursor
    input zone (Kin)        the input bytes, one a token in `mem`, then end-of-input tokens
                            (`eof` = 1, `mem` = -1) where the cursor stops
    padding

Every token t >= 1 carries the position code `pos` = the ±1 bits of t - 1 (P = ceil(log2(n - 1))
bits), so memory cell k's code is the ±1 bits of k: **an address's low P bits, as ±1, are the
query that reads its cell**. IP and the cursors are such codes. `pos1` and `pos2` hold the codes
of t - 2 and t - 3, so that IP's code, as a query against them, finds mem[IP+1] and mem[IP+2].

    fetch     3 heads  A, B, C <- mem[IP], mem[IP+1], mem[IP+2]; the MLP makes the operand
                       pointers (A's is the input cursor when A = -1), C's code and IP + 3's, and
                       the tests A = -1, B = -1, A or B outside the memory, C and IP + 3 outside
                       [0, M - 3], no I/O; it also snaps `mem` and `out` to {-1, 0, 1}
    execute   2 heads  read the cell (or input byte) at A's pointer and mem[B]; the MLP decides
                       what the step does (input, output, subtract or fault), computes
                       mem[B] - mem[A] (or takes the input byte), [result <= 0] (from the
                       operands, beside the subtractor) and the write pointer: mem[B] for input
                       and subtract, the output cursor for output, none otherwise
    write     1 head   the addressed token takes the new value (a memory cell the word, an output
                       cell the byte); the MLP moves IP (C or IP + 3), advances the cursors,
                       raises stop with halt, fault or full, and clears every scratch row

The runner stops a card when its `pc` rows, here the one row `stop`, decode to 1: the machine
raises it when IP leaves [0, M - 3] (halt; IP then stays on the last instruction), when an address
is outside the memory (fault: the instruction does nothing, IP stays), or when the output cells
are full (a pause: the driver, looped/machines/tape/engine.py, empties them and resumes). A stopped card is
a fixed point: every effect is gated by `stop`. The memory size M is on the card, so cards of
different sizes share a machine; addresses are non-negative words, so M <= 2^(N-1).

λ: `inverse_temperature` below (the SUBLEQ rule). dtype: float32 up to 20-bit words, float64
above. The health figure is taken on the input of the fetch layer (before its error correction)
on `mem`, `out` and the persistent scratch rows (which are recomputed exactly every step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from looped import blocks, precision
from looped.machines.tape import blocks as tb
from looped.machines.base import Card, InstructionSet
from looped.layers import Stack, layer
from looped.layout import (Layout, RowAllocator, Rows, Zone, address_bits, bits_array, decode_signed,
                           decode_unsigned)
from looped.limits import MAX_COLUMNS
from looped.errors import LoopedError
from looped.layout import wrap

OUT_BITS = 8
STOP_CODE = 1  # the runner's halt address: the `pc` block is the single row `stop`

def tape_layout(n: int, bits: int, mcap: int, kout: int, kin: int) -> Layout:
    """The tape card: scratch, `mcap` memory cells, `kout` output cells, `kin` input tokens (the
    bytes and at least one end-of-input token), padding up to `n` tokens."""
    used = 1 + mcap + kout + kin
    if n < used:
        raise ValueError(f"card of {n} tokens cannot hold {used}")
    if kout < 1 or kin < 1 or mcap < 1:
        raise ValueError("a tape card needs at least one memory, output and input token")
    N, P = bits, address_bits(n - 1)
    alloc = RowAllocator()
    # On the non-scratch tokens: pos (read), eof + mem (read), mem + out (written).
    alloc.add("pos", P)
    alloc.add("pos1", P)  # the code of t - 2: the key that IP's code finds at IP + 1
    alloc.add("pos2", P)  # the code of t - 3: found at IP + 2
    alloc.add("cell", 1 + N + OUT_BITS, [("eof", 0, 1), ("eofmem", 0, 1 + N), ("mem", 1, N),
                                         ("memout", 1, N + OUT_BITS), ("out", 1 + N, OUT_BITS)])
    for name in ("eof", "mem", "out", "eofmem", "memout"):
        alloc.rows[name] = alloc.rows[f"cell.{name}"]
    alloc.add("ind", 1)
    # Persistent scratch state (recomputed exactly every step; in the health figure).
    alloc.add("pc", 1)  # stop: the runner's halt test
    alloc.add("status", 3, [("halt", 0, 1), ("fault", 1, 1), ("full", 2, 1)])
    alloc.add("ip", P)
    alloc.add("icur", P)
    alloc.add("ocur", P)
    alloc.add("top", P)  # M - 1
    alloc.add("lim", P)  # max(M - 3, 0)
    # Transient scratch rows (zero between steps).
    alloc.add("ptr", 2 * P, [("a", 0, P), ("b", P, P)])
    alloc.add("test", 7, [(name, i, 1) for i, name in
                          enumerate(("a_in", "b_out", "a_bad", "b_bad", "c_halt", "n_halt", "arith"))])
    alloc.add("jc", P)  # C's code (the jump)
    alloc.add("nc", P)  # IP + 3's code (the fall-through)
    alloc.add("wsrc", N + OUT_BITS, [("word", 0, N), ("byte", N, OUT_BITS)])
    alloc.add("wptr", P)
    alloc.add("do", 6, [(name, i, 1) for i, name in enumerate(("in", "out", "sub", "fault", "le", "next_in"))])
    buf = max(3 * N, 2 * N + 1, N + OUT_BITS)
    alloc.add("buf", buf, [("A", 0, N), ("B", N, N), ("C", 2 * N, N), ("va", 0, 1 + N), ("va.eof", 0, 1),
                           ("va.word", 1, N), ("vb", 1 + N, N), ("write", 0, N + OUT_BITS)])
    m0, o0, i0 = 1, 1 + mcap, 1 + mcap + kout
    zones = {
        "scratch": Zone("scratch", 0, 1),
        "memory": Zone("memory", m0, m0 + mcap),
        "code": Zone("code", m0, m0 + mcap),  # code and data share the memory
        "output": Zone("output", o0, o0 + kout),
        "input": Zone("input", i0, i0 + kin),
        "padding": Zone("padding", used, n),
    }
    return Layout(n=n, d=alloc.next, bits=N, addr_bits=P, rows=alloc.rows, zones=zones,
                  sizes={"memory": mcap, "output": kout, "input": kin})


def _bits_lsb(rows: Rows, width: int) -> list[int | None]:
    """The rows of bits 0 .. width-1 of `rows` (least significant first); None past its size."""
    return [rows.bit(i) if i < rows.size else None for i in range(width)]


def tape_stack(layout: Layout) -> Stack:
    r, d, N, P = layout.rows, layout.d, layout.bits, layout.addr_bits
    ind = r["ind"].start
    t = {name: r[f"test.{name}"] for name in ("a_in", "b_out", "a_bad", "b_bad", "c_halt", "n_halt", "arith")}
    do = {name: r[f"do.{name}"] for name in ("in", "out", "sub", "fault", "le", "next_in")}
    stop = r["pc"]
    scratch = tb.gate(layout)
    A, B, C = r["buf.A"], r["buf.B"], r["buf.C"]

    # ---- fetch: the MLP's tests and codes from A, B, C (in the read buffer) -----------------
    def ones(word: Rows) -> dict:  # sum of the bits: N exactly when the word is -1
        return {row: 1.0 for row in word.indices}

    def beyond(word: Rows, bound: Rows) -> dict:
        """u >= 1 exactly when the signed word is negative or above `bound` (P bits, < 2^P): u =
        2^P * (number of set bits from min(P, N-1) up, the sign included) + unsigned(the bits below)
        - bound. Its range is about N 2^P, not 2^N: the card width, not the word, sets the scale."""
        u = {}
        low = min(P, N - 1)

        def add(row: int, coef: float) -> None:  # coef * (x + 1) / 2 for a ±1 bit x
            u[row] = u.get(row, 0.0) + coef / 2
            u[ind] = u.get(ind, 0.0) + coef / 2

        for j in range(N):
            add(word.bit(j), 2.0**j if j < low else 2.0**P)
        for j in range(P):
            add(bound.bit(j), -(2.0**j))
        return u

    # IP + 3 > M - 3, from the codes (both P bits): u(ip0) + 3 - lim >= 1.
    ip0, lim = r["ip"], r["lim"]
    next_ip = {ind: 3.0}
    for j in range(P):
        next_ip[ip0.bit(j)] = 2.0 ** (j - 1)
        next_ip[lim.bit(j)] = -(2.0 ** (j - 1))
    # arith = [A != -1 and B != -1] = 1 - [A = -1] - [B = -1] + [both]: no I/O, so the
    # subtractor's result is what the write takes (a single literal for its gate).
    arith = t["arith"].start
    tests = tb.flags(layout, "tests", [
        (ones(A), 0.0, float(N), {t["a_in"].start: 1.0, arith: -1.0}),
        (ones(B), 0.0, float(N), {t["b_out"].start: 1.0, arith: -1.0}),
        ({**ones(A), **ones(B)}, 0.0, float(2 * N), {arith: 1.0}),
        (beyond(A, r["top"]), 0.0, 1.0, {t["a_bad"].start: 1.0}),
        (beyond(B, r["top"]), 0.0, 1.0, {t["b_bad"].start: 1.0}),
        (beyond(C, lim), 0.0, 1.0, {t["c_halt"].start: 1.0}),
        (next_ip, 0.0, 1.0, {t["n_halt"].start: 1.0}),
    ], scratch)

    # A's pointer: A's low bits, or the input cursor when A = -1 (then every bit of A is +1):
    # ptr_i = sign(A_i) - 2 [A = -1 and icur_i = -1]        for bits of A (i < N)
    # ptr_i = -1        + 2 [A = -1 and icur_i = +1]        above them (a valid address has 0s)
    pa, pb, icur = r["ptr.a"], r["ptr.b"], r["icur"]
    snap_pairs = [(A.bit(i) if i < N else None, pa.bit(i)) for i in range(P)]
    snap_pairs += [(B.bit(i) if i < N else None, pb.bit(i)) for i in range(P)]
    pointer_a = [tb.snap(layout, snap_pairs, scratch, "operand pointers")]
    cursor_tests = []
    for i in range(P):
        if i < N:
            cursor_tests.append(({**ones(A), icur.bit(i): -1.0}, 0.0, float(N + 1), {pa.bit(i): -2.0}))
        else:
            cursor_tests.append(({**ones(A), icur.bit(i): 1.0}, 0.0, float(N + 1), {pa.bit(i): 2.0}))
    pointer_a.append(tb.flags(layout, "input cursor as pointer", cursor_tests, scratch))

    # The jump's code (C's low bits; -1 above N bits) and the fall-through's, IP + 3.
    jc, nc = r["jc"], r["nc"]
    codes = [tb.passes(layout, [(ind, arith)], scratch, name="arith = 1 - ..."),
             tb.snap(layout, [(C.bit(i) if i < N else None, jc.bit(i)) for i in range(P)], scratch, "jump code"),
             tb.add_constant(layout, _bits_lsb(ip0, P), 3, _bits_lsb(nc, P), scratch, "IP+3")]

    # The scratch state is recomputed exactly every step (thresholds and gated copies of exact
    # codes), so only the attention-written rows need correcting; all of it is in the health figure.
    persistent = [stop, r["status"], ip0, icur, r["ocur"]]
    fetch = layer(
        "fetch",
        tb.read_at(layout, ip0, r["pos"], r["mem"], A, name="fetch A"),
        tb.read_at(layout, ip0, r["pos1"], r["mem"], B, name="fetch B"),
        tb.read_at(layout, ip0, r["pos2"], r["mem"], C, name="fetch C"),
        tests, *pointer_a, *codes,
        blocks.clear(layout, r["buf"], tokens="all"),
        blocks.error_correction(layout, r["memout"]),
        d=d,
    )

    # ---- execute ------------------------------------------------------------------------------
    run = tb.neg(layout, stop)
    ok_a, ok_b = tb.neg(layout, t["a_bad"]), tb.neg(layout, t["b_bad"])
    g_in = tb.gate(layout, run, tb.lit(t["a_in"]), ok_b)
    g_out = tb.gate(layout, run, tb.lit(t["b_out"]), ok_a)
    g_sub = tb.gate(layout, run, ok_a, ok_b)
    # A write to mem[B]: input (A = -1, which is "bad" as an address) or subtract (A valid).
    g_write = tb.gate(layout, run, ok_b, {ind: 1.0, t["a_bad"].start: -1.0, t["a_in"].start: 1.0})
    va, vb = r["buf.va.word"], r["buf.vb"]
    word, byte = r["wsrc.word"], r["wsrc.byte"]
    g_next_in = tb.gate(layout, run, tb.lit(t["a_in"]), ok_b, tb.neg(layout, r["buf.va.eof"]))
    # do.in, do.out, do.sub = [gate]; do.fault = running - (the three), do.next_in = [input, not at
    # the end of the input]. Each is a robust step of the gate's literal sum at its k.
    decisions = tb.flags(layout, "decide", [
        (g_in.terms, 0.0, g_in.k, {do["in"].start: 1.0, do["fault"].start: -1.0}),
        (g_out.terms, 0.0, g_out.k, {do["out"].start: 1.0, do["fault"].start: -1.0}),
        (g_sub.terms, 0.0, g_sub.k, {do["sub"].start: 1.0, do["fault"].start: -1.0}),
        (g_next_in.terms, 0.0, g_next_in.k, {do["next_in"].start: 1.0}),
    ], scratch)
    running = tb.passes(layout, [(ind, do["fault"].start)], tb.gate(layout, run), name="fault = running - done")
    byte_pairs = [(va.bit(min(j, N - 1)), byte.bit(j)) for j in range(OUT_BITS)]
    execute = layer(
        "execute",
        blocks.read(layout, pa, r["eofmem"], r["buf.va"], name="read A (or input)"),
        blocks.read(layout, pb, r["mem"], vb, name="read B"),
        decisions, running,
        tb.subtract_when(layout, vb, va, word, tb.gate(layout, tb.lit(t["arith"]))),
        tb.snap(layout, [(va.bit(j), word.bit(j)) for j in range(N)], tb.gate(layout, tb.lit(t["a_in"])), "input word"),
        tb.snap(layout, byte_pairs, g_out, "output byte"),
        # [result <= 0] only on the scratch gate (its range is 2^N: few gate literals keep it
        # exact in float32); the write layer takes it together with do.sub.
        tb.le_zero_wrapped(layout, vb, va, do["le"], scratch),
        tb.passes(layout, list(zip(pb.indices, r["wptr"].indices)), g_write, name="write pointer"),
        tb.passes(layout, list(zip(r["ocur"].indices, r["wptr"].indices)), g_out, name="output pointer"),
        blocks.clear(layout, r["ptr"], r["test.a_in"], r["test.b_out"], r["test.a_bad"], r["test.b_bad"],
                     r["test.arith"]),
        blocks.clear(layout, r["buf"], tokens="all"),
        d=d,
    )

    # ---- write --------------------------------------------------------------------------------
    # The jump is taken on a subtraction whose result is <= 0 (do.le is in [0, 1] whatever the
    # reads: its three steps are nested thresholds of one sum). Fall-through: any executed step
    # but a taken jump (do.in, do.out, do.sub are exclusive; do.le only counts with do.sub).
    jump = (tb.lit(do["sub"]), tb.lit(do["le"]))
    through = [tb.any_of(do["in"], do["out"]), (tb.lit(do["sub"]), tb.neg(layout, do["le"]))]
    g_jump = tb.gate(layout, *jump, tb.neg(layout, t["c_halt"]))
    g_next = [tb.gate(layout, through[0], tb.neg(layout, t["n_halt"])),
              tb.gate(layout, *through[1], tb.neg(layout, t["n_halt"]))]
    halting = [tb.gate(layout, *jump, tb.lit(t["c_halt"])),
               tb.gate(layout, through[0], tb.lit(t["n_halt"])),
               tb.gate(layout, *through[1], tb.lit(t["n_halt"]))]
    halt_row, fault_row, full_row = r["status.halt"], r["status.fault"], r["status.full"]
    ocur = r["ocur"]
    last = layout.zone("output").stop - 2  # code of the last output cell (token t has code t - 1)
    match = {row: (1.0 if (last >> i) & 1 else -1.0) for i, row in enumerate(_bits_lsb(ocur, P))}
    status = [(g.terms, 0.0, g.k, {stop.start: 1.0, halt_row.start: 1.0}) for g in halting]
    g_o = tb.gate(layout, tb.lit(do["out"]))
    g_o_going_on = tb.gate(layout, tb.lit(do["out"]), tb.neg(layout, t["n_halt"]))
    status_parts = [
        tb.flags(layout, "halt", status, scratch),
        tb.flags(layout, "output full", [(match, 0.0, float(P), {full_row.start: 1.0})], g_o),
        tb.flags(layout, "pause", [(match, 0.0, float(P), {stop.start: 1.0})], g_o_going_on),
        tb.passes(layout, [(do["fault"].start, stop.start), (do["fault"].start, fault_row.start)], scratch,
                  name="fault"),
    ]
    ip_parts = [tb.select(layout, [(jc, g_jump)] + [(nc, g) for g in g_next], ip0, "IP")]
    write = layer(
        "write",
        blocks.write(layout, r["wptr"], r["wsrc"], r["memout"], r["buf.write"]),
        blocks.overwrite(layout, r["buf.write"], r["memout"]),
        blocks.clear(layout, r["buf"], tokens="all"),
        *ip_parts, *status_parts,
        tb.increment(layout, icur, tb.gate(layout, tb.lit(do["next_in"])), "input cursor"),
        tb.increment(layout, ocur, g_o, "output cursor"),
        blocks.clear(layout, r["test.c_halt"], r["test.n_halt"], r["jc"], r["nc"], r["wsrc"], r["wptr"], r["do"]),
        d=d,
    )
    corrected = tuple(row for block in [r["memout"], *persistent] for row in block.indices)
    return Stack(layers=(fetch, execute, write), corrected_rows=corrected, health_before=0,
                 scratch_tokens=1)


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
        mcap = bucket(max(p.size for p in programs), 32)
        kout = max(p.output_capacity for p in programs)
        kin = bucket(max(len(p.input) for p in programs) + 1, 16)
        width = 1 + mcap + kout + kin
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
        mem, out, inp = layout.zone("memory"), layout.zone("output"), layout.zone("input")
        B = len(programs)
        X = np.zeros((B, n, layout.d))
        codes = np.arange(n - 1)  # token t >= 1 has code t - 1; pos1 and pos2 are shifted by 1 and 2
        X[:, 1:, r["pos"].slice] = bits_array(codes, P)
        X[:, 1:, r["pos1"].slice] = bits_array(codes - 1, P)
        X[:, 1:, r["pos2"].slice] = bits_array(codes - 2, P)
        X[:, 0, r["ind"].slice] = 1.0
        for i, p in enumerate(programs):
            if p.bits != N:
                raise ValueError("a batch needs one word size")
            M = p.size
            values = list(p.memory) + [0] * (mem.size - M)
            X[i, mem.start : mem.stop, r["mem"].slice] = bits_array(values, N)
            data = [wrap(byte, N) for byte in p.input]
            words = data + [-1] * (inp.size - len(data))
            X[i, inp.start : inp.stop, r["mem"].slice] = bits_array(words, N)
            X[i, inp.start + len(data) : inp.stop, r["eof"].start] = 1.0
            stopped = M < 3
            X[i, 0, r["pc"].start] = 1.0 if stopped else 0.0
            X[i, 0, r["status.halt"].start] = 1.0 if stopped else 0.0
            X[i, 0, r["ip"].slice] = bits_array([0], P)[0]
            X[i, 0, r["icur"].slice] = bits_array([inp.start - 1], P)[0]
            X[i, 0, r["ocur"].slice] = bits_array([out.start - 1], P)[0]
            X[i, 0, r["top"].slice] = bits_array([M - 1], P)[0]
            X[i, 0, r["lim"].slice] = bits_array([max(M - 3, 0)], P)[0]
        cards = [TapeCard(p, layout, X[i]) for i, p in enumerate(programs)]
        return cards, X

    def decode_memory(self, cards: Sequence[Card], X: np.ndarray) -> list[MachineTape]:
        X = np.asarray(X)
        layout = cards[0].layout
        r, mem, out, inp = layout.rows, layout.zone("memory"), layout.zone("output"), layout.zone("input")
        values = decode_signed(X[:, mem.start : mem.stop, r["mem"].slice])
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
                            layout["mem"].stop, layout.zone("output").start, layout.zone("output").stop,
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

        words = unsigned(X[:, self.m0 : self.m1, self.mem0 : self.mem1])
        N = self.mem1 - self.mem0
        words = jnp.where(words >= (1 << (N - 1)), words - (1 << N), words)
        output = unsigned(X[:, self.o0 : self.o1, self.out0 : self.out1]).astype(jnp.int16)
        scratch = jnp.stack([unsigned(X[:, 0, a:b]) for _, a, b in self.scratch], axis=-1)
        return words, output, scratch


TAPE = Tape()
