"""Blocks of the classic (von Neumann) SUBLEQ machine (looped/machines/tape/isa.py): gated logic on the
scratch token, and the heads: hard reads of a token's cells and the hard write of a change.
Small pure functions from named rows to heads and MLP parts, like looped/blocks/control.py (whose
clears the tape machine reuses).

Every unit here acts on the scratch token only, and only while its *gate* is open. A gate is a
sum of 0/1 literals held on the scratch token (`Gate`): it equals `k` when every literal holds and
is at most k - 1 otherwise; on other tokens, where every scratch row is 0, it is 0 (a gate without
literals is the scratch indicator `ind` itself). A unit with pre-activation u is gated
as u + G (s - k): unchanged when the gate is open, pushed below zero when it is shut, G being
larger than |u| wherever the unit's inputs lie in [-1, 1]. A gated threshold is therefore exactly
0 on every other token and on every shut gate, and the robust step of control.py (flat within
1/4 of each integer) when open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from looped.layers import MLP, Head, Units, copy_map, projection
from looped.layout import Layout, Rows


@dataclass(frozen=True)
class Gate:
    """sum(terms[row] * x[row]) == k exactly when the gate is open, <= k - 1 otherwise."""

    terms: dict = field(default_factory=dict)
    k: float = 1.0


def gate(layout: Layout, *literals: dict) -> Gate:
    """The conjunction of `literals` (each a {row: coef} sum that is 1 when it holds and 0 when
    not; see `lit`, `neg`, `any_of`), or the scratch indicator alone when there are none. Literals
    are rows of the scratch token (0 elsewhere), so a conjunction of them is shut on every other
    token by itself. (Each literal adds G to the unit's largest input and bias: few literals keep
    the gated sums exact in float32.)"""
    if not literals:
        return Gate({layout["ind"].start: 1.0}, 1.0)
    terms = {}
    for literal in literals:
        for row, coef in literal.items():
            terms[row] = terms.get(row, 0.0) + coef
    return Gate(terms, float(len(literals)))


def lit(rows: Rows) -> dict:
    """The 0/1 row `rows` is 1."""
    return {rows.start: 1.0}


def neg(layout: Layout, rows: Rows) -> dict:
    """The 0/1 row `rows` is 0 (1 - x, the 1 held by the scratch indicator)."""
    return {layout["ind"].start: 1.0, rows.start: -1.0}


def any_of(*rows: Rows) -> dict:
    """One of several mutually exclusive 0/1 rows is 1 (their sum)."""
    return {r.start: 1.0 for r in rows}


def _scale(bound: float) -> float:
    """A power of two above `bound` (powers of two keep the gated sums exact in floating point)."""
    return float(2 ** math.ceil(math.log2(bound + 2.0)))


def _unit(units: Units, inputs: dict, bias: float, out: dict, when: Gate, G: float) -> None:
    x = dict(inputs)
    for row, coef in when.terms.items():
        x[row] = x.get(row, 0.0) + G * coef
    units.add(x, bias - G * when.k, out)


def step_when(units: Units, inputs: dict, bias: float, t: float, out: dict, when: Gate) -> None:
    """Add out * [inputs.x + bias >= t] while `when` is open (u = inputs.x + bias integer-valued;
    exact within 1/4 of an integer). Two units."""
    G = _scale(sum(abs(c) for c in inputs.values()) + abs(bias - t) + 1.0)
    for shift, sign in ((0.75, 2.0), (0.25, -2.0)):
        _unit(units, inputs, bias - t + shift, {row: sign * coef for row, coef in out.items()}, when, G)


def pass_when(units: Units, src: int, dst: int, when: Gate, coef: float = 1.0) -> None:
    """dst += coef * src while `when` is open, for |src| <= 1 (two units)."""
    _unit(units, {src: 1.0}, 0.0, {dst: coef}, when, 2.0)
    _unit(units, {src: -1.0}, 0.0, {dst: -coef}, when, 2.0)


def const_when(units: Units, out: dict, when: Gate) -> None:
    """out += its coefficients while `when` is open (one unit: relu(s - k + 1))."""
    _unit(units, {}, 1.0, out, when, 1.0)


# ---- MLP parts ---------------------------------------------------------------------------------------


def flags(layout: Layout, name: str, tests: Sequence[tuple[dict, float, float, dict]], when: Gate) -> MLP:
    """Threshold flags: for each (inputs, bias, t, out), out += [inputs.x + bias >= t] while
    `when` is open."""
    units = Units(layout.d, name, "scratch")
    for inputs, bias, t, out in tests:
        step_when(units, inputs, bias, t, out, when)
    return units.mlp()


def snap(layout: Layout, pairs: Sequence[tuple[int | None, int]], when: Gate, name: str = "snap") -> MLP:
    """dst = sign(src) (exactly ±1) while `when` is open, else dst += 0, for src near ±1; a pair
    (None, dst) sets dst = -1 (a constant bit). dst is zero beforehand."""
    units = Units(layout.d, name, "scratch")
    for src, dst in pairs:
        if src is not None:
            step_when(units, {src: 1.0}, 0.0, 1.0, {dst: 2.0}, when)
    const_when(units, {dst: -1.0 for _, dst in pairs}, when)
    return units.mlp()


def passes(layout: Layout, pairs: Sequence[tuple[int, int]], when: Gate, coef: float = 1.0, name: str = "pass") -> MLP:
    """dst += coef * src while `when` is open, for each (src, dst) (|src| <= 1)."""
    units = Units(layout.d, name, "scratch")
    for src, dst in pairs:
        pass_when(units, src, dst, when, coef)
    return units.mlp()


def add_constant(layout: Layout, src: Sequence[int | None], k: int, dst: Sequence[int], when: Gate,
                 name: str = "add constant") -> MLP:
    """dst = (src + k) mod 2^w as ±1 bits while `when` is open (bits least significant first;
    w = len(dst); a source bit None is a constant -1, i.e. 0). dst is zero beforehand.

    The low i+1 bits of the sum, S_i = sum_{j<=i} 2^(j-1) (x_j + 1) + (k mod 2^(i+1)), lie in
    [0, 2^(i+2) - 2]; bit i is [S >= 2^i] - [S >= 2^(i+1)] + [S >= 3 * 2^i] (as in
    control.subtract). Six units a bit and one for the constant."""
    units = Units(layout.d, name, "scratch")
    for i, out in enumerate(dst):
        inputs, bias = {}, float(k % (1 << (i + 1)))
        for j in range(i + 1):
            x = src[j] if j < len(src) else None
            if x is None:
                continue  # a -1 bit adds nothing
            inputs[x] = inputs.get(x, 0.0) + 2.0 ** (j - 1)
            bias += 2.0 ** (j - 1)
        for t, sign in ((1 << i, 1.0), (2 << i, -1.0), (3 << i, 1.0)):
            step_when(units, inputs, bias, float(t), {out: 2.0 * sign}, when)
    const_when(units, {out: -1.0 for out in dst}, when)
    return units.mlp()


def increment(layout: Layout, code: Rows, when: Gate, name: str = "increment") -> MLP:
    """code = code + 1 (mod 2^size) while `when` is open, else unchanged."""
    bits = [code.bit(i) for i in range(code.size)]
    removal = passes(layout, [(row, row) for row in bits], when, -1.0)
    return _join([removal, add_constant(layout, bits, 1, bits, when)], name)


def select(layout: Layout, choices: Sequence[tuple[Rows, Gate]], dest: Rows, name: str = "select") -> MLP:
    """dest = the code of the first open gate among `choices` (gates mutually exclusive), else
    unchanged: dest += [gate] * (choice - dest) for each choice. ±1 codes."""
    parts = []
    for source, when in choices:
        pairs = list(zip(source.indices, dest.indices))
        parts.append(passes(layout, pairs, when, 1.0))
        parts.append(passes(layout, [(d, d) for d in dest.indices], when, -1.0))
    return _join(parts, name)


def subtract_when(layout: Layout, minuend: Rows, subtrahend: Rows, out: Rows, when: Gate) -> MLP:
    """out = minuend - subtrahend modulo 2^N as ±1 bits while `when` is open (control.subtract,
    gated). out is zero beforehand."""
    N = out.size
    units = Units(layout.d, "subtract", "scratch")
    for i in range(N):
        inputs = {}
        for j in range(i + 1):
            inputs[minuend.bit(j)] = inputs.get(minuend.bit(j), 0.0) + 2.0 ** (j - 1)
            inputs[subtrahend.bit(j)] = inputs.get(subtrahend.bit(j), 0.0) - 2.0 ** (j - 1)
        bias = 2.0 ** (i + 1)
        for t, sign in ((2**i, 1.0), (2 ** (i + 1), -1.0), (3 * 2**i, 1.0)):
            step_when(units, inputs, bias, float(t), {out.bit(i): 2.0 * sign}, when)
    const_when(units, {row: -1.0 for row in out.indices}, when)
    return units.mlp()


def le_zero_wrapped(layout: Layout, minuend: Rows, subtrahend: Rows, flag: Rows, when: Gate) -> MLP:
    """flag = 1 while `when` is open and (minuend - subtrahend) wrapped to N bits is <= 0, computed
    from the operands themselves (no subtraction first), so that it sits in the same MLP as the
    subtractor.

    With D = value(minuend) - value(subtrahend) (an integer in (-2^N, 2^N), linear in the ±1
    bits), the wrapped result is <= 0 exactly when D is in [-2^(N-1), 0] or D >= 2^(N-1):
    flag = [D <= 0] - [D <= -2^(N-1) - 1] + [D >= 2^(N-1)]. Six units."""
    N = minuend.size
    D = {}
    for j in range(N):
        w = 2.0 ** (j - 1) if j < N - 1 else -(2.0 ** (N - 2))
        D[minuend.bit(j)] = D.get(minuend.bit(j), 0.0) + w
        D[subtrahend.bit(j)] = D.get(subtrahend.bit(j), 0.0) - w
    minus = {row: -c for row, c in D.items()}
    half = 2.0 ** (N - 1)
    units = Units(layout.d, "result <= 0", "scratch")
    step_when(units, minus, 0.0, 0.0, {flag.start: 1.0}, when)  # -D >= 0
    step_when(units, minus, 0.0, half + 1.0, {flag.start: -1.0}, when)  # -D >= 2^(N-1) + 1
    step_when(units, D, 0.0, half, {flag.start: 1.0}, when)  # D >= 2^(N-1)
    return units.mlp()


def _join(parts: Sequence[MLP], name: str) -> MLP:
    from looped.layers import concat_mlps

    mlp = concat_mlps(list(parts), parts[0].w1.shape[0], name)
    return MLP(mlp.w1, mlp.b1, mlp.w2, mlp.b2, "scratch", name)


# ---- hard attention: reads and the write put all their weight on one token -------------------------
#
# exp(x) is exactly 0 in float32 below about -104 and in float64 below about -745. A head whose
# every other score trails the chosen token's by at least HARD_EXPONENT / λ therefore selects that
# token exactly, on every backend: a read returns the cell's ±1 bits unchanged and a write changes
# no other token at all, so no cell ever needs error correction.
HARD_EXPONENT = 800.0


def hard_scale(lam: float, gap: float) -> float:
    """The power of two c for which a score gap of `gap`, times c, times λ is at least
    HARD_EXPONENT (powers of two keep the scores exact)."""
    return float(2 ** math.ceil(math.log2(HARD_EXPONENT / (lam * gap))))


def read_token(layout: Layout, pointer: Rows, key: Rows, source: Rows, buffer: Rows, lam: float,
               name: str = "read") -> Head:
    """The scratch token reads `source` of the token whose `key` code equals its `pointer` code,
    exactly (keys are ±1 codes, zero on the scratch token: the target scores P, every other token at
    most P - 2, the scratch token 0; the query is scaled to a hard selection). On other tokens the
    query is zero: what they gather lands in `buffer`, which the layer's MLP clears."""
    c = hard_scale(lam, 2.0)
    return Head(
        wq=projection(layout.d, {pointer: c}),
        wk=projection(layout.d, {key: 1.0}),
        wv=copy_map(layout.d, [(source, buffer)]),
        queries="scratch",
        name=name,
    )


def write_delta(layout: Layout, pointer: Rows, delta: Rows, target: Rows, lam: float) -> Head:
    """The token whose position code equals the scratch token's `pointer` adds the scratch token's
    `delta` to its `target` rows; every other token adds exactly 0.

    Query = position code (scaled), key = position code + (1 + 1/P) * pointer: the addressed token
    scores P + 1 on the scratch token against P on itself, every other token P on itself against at
    most P - 1 - 2/P on the scratch token and P - 2 on any other token (a gap of 1, scaled to a hard
    selection). The value is `delta`, zero on every token but the scratch token. The scratch token's
    own query is zero: what it gathers into `target` the layer's MLP clears (clear_on_scratch)."""
    P = layout["pos"].size
    c = hard_scale(lam, 1.0)
    return Head(
        wq=projection(layout.d, {layout["pos"]: c}),
        wk=projection(layout.d, {layout["pos"]: 1.0, pointer: 1.0 + 1.0 / P}),
        wv=copy_map(layout.d, [(delta, target)]),
        queries="others",
        keys="scratch+self",
        name="write",
    )


def bit_is(layout: Layout, row: int, value: int) -> dict:
    """The literal "the ±1 bit in `row` is `value`" (+1 or -1): (1 ± x) / 2."""
    return {layout["ind"].start: 0.5, row: 0.5 * value}


def slot_literals(layout: Layout, slot: Rows, s: int) -> list[dict]:
    """The literals of "the ±1 code in `slot` is s"."""
    return [bit_is(layout, slot.bit(j), 1 if (s >> j) & 1 else -1) for j in range(slot.size)]


def pick_word(layout: Layout, cells: Sequence[Rows], slot: Rows, dest: Rows, offset: int = 0,
              name: str = "pick") -> MLP:
    """dest = cells[s + offset] where s is the code in `slot` (±1 words; dest is zero beforehand):
    for each s, the cell's bits pass while the gate "slot = s" is open."""
    units = Units(layout.d, name, "scratch")
    for s in range(2**slot.size):
        when = gate(layout, *slot_literals(layout, slot, s))
        for src, dst in zip(cells[s + offset].indices, dest.indices):
            pass_when(units, src, dst, when)
    return units.mlp()


def place_delta(layout: Layout, new: Rows, old: Rows, slot: Rows, cells: Sequence[Rows], when: dict,
                name: str = "place") -> MLP:
    """cells[s] = new - old (±1 words: each bit's change, -2, 0 or 2) for the code s in `slot`, while
    the literal `when` holds; every other cell stays zero."""
    units = Units(layout.d, name, "scratch")
    for s in range(2**slot.size):
        open_ = gate(layout, when, *slot_literals(layout, slot, s))
        for a, b, dst in zip(new.indices, old.indices, cells[s].indices):
            pass_when(units, a, dst, open_)
            pass_when(units, b, dst, open_, -1.0)
    return units.mlp()


def clear_on_scratch(layout: Layout, *blocks_: Rows, bound: float = 2.0, name: str = "clear on scratch") -> MLP:
    """x -> 0 on the scratch token only; other tokens keep them (gated by the scratch indicator: on
    them both units are shut). |x| <= bound on every token."""
    units = Units(layout.d, name, "scratch")
    G = 2.0 * bound
    ind = layout["ind"].start
    for block in blocks_:
        for row in block.indices:
            units.add({row: 1.0, ind: G}, -G, {row: -1.0})
            units.add({row: -1.0, ind: G}, -G, {row: 1.0})
    return units.mlp()


# ---- sums the tests threshold (input dicts of `flags`) ----------------------------------------------


def ones(word: Rows) -> dict:
    """The sum of a word's ±1 bits: N exactly when the word is -1 (all bits set)."""
    return {row: 1.0 for row in word.indices}


def beyond(layout: Layout, word: Rows, bound: Rows) -> dict:
    """u >= 1 exactly when the signed word is negative or above `bound` (an unsigned code of
    P = bound.size bits): u = 2^P * (set bits from min(P, N-1) up, the sign included) + unsigned(the
    bits below) - bound. Its range is about N 2^P: the memory's size, not the word, sets the scale."""
    ind = layout["ind"].start
    N, P = word.size, bound.size
    low = min(P, N - 1)
    u: dict = {}

    def add(row: int, coef: float) -> None:  # coef * (x + 1) / 2 for a ±1 bit x
        u[row] = u.get(row, 0.0) + coef / 2
        u[ind] = u.get(ind, 0.0) + coef / 2

    for j in range(N):
        add(word.bit(j), 2.0**j if j < low else 2.0**P)
    for j in range(P):
        add(bound.bit(j), -(2.0**j))
    return u


def above_after(layout: Layout, code: Rows, k: int, bound: Rows) -> dict:
    """u >= 1 exactly when code + k > bound (unsigned codes of the same width): u = code + k - bound."""
    u = {layout["ind"].start: float(k)}
    for j in range(code.size):
        u[code.bit(j)] = 2.0 ** (j - 1)
        u[bound.bit(j)] = -(2.0 ** (j - 1))
    return u


def code_match(code: Rows, value: int) -> dict:
    """The sum that is code.size exactly when the ±1 code in `code` is `value` (at most size - 2
    otherwise)."""
    return {code.bit(i): (1.0 if (value >> i) & 1 else -1.0) for i in range(code.size)}


def bits_lsb(rows: Rows, width: int) -> list[int | None]:
    """The rows of bits 0 .. width-1 of `rows` (least significant first); None past its size."""
    return [rows.bit(i) if i < rows.size else None for i in range(width)]


# ---- nibbles: the memory holds each word as unsigned 4-bit digits ---------------------------------
#
# A cell is Q = ceil(N / 4) rows, digit q (least significant first) an integer in [0, 15] of the
# word's two's-complement bits 4q .. 4q + 3: a read contracts a quarter of the rows ±1 bits would
# take. The scratch token turns the digits it reads into ±1 bits, and the bits it writes back into
# digits.

NIBBLE = 4
DIGIT_GATE = 32.0  # above any digit: a shut gate pushes a digit's unit below zero


def digits(bits: int) -> int:
    return -(-bits // NIBBLE)


def digit_widths(bits: int) -> list[int]:
    """The bits each digit holds (4, ..., 4, the rest)."""
    return [min(NIBBLE, bits - NIBBLE * q) for q in range(digits(bits))]


def pick_digits(layout: Layout, cells: Sequence[Rows], slot: Rows, dest: Rows, offset: int = 0,
                name: str = "pick") -> MLP:
    """dest = cells[s + offset] for the code s in `slot` (digit rows, values in [0, 15]; dest is
    zero beforehand): one unit a digit and slot, open for its slot only."""
    units = Units(layout.d, name, "scratch")
    for s in range(2**slot.size):
        when = gate(layout, *slot_literals(layout, slot, s))
        for src, dst in zip(cells[s + offset].indices, dest.indices):
            _unit(units, {src: 1.0}, 0.0, {dst: 1.0}, when, DIGIT_GATE)
    return units.mlp()


def digits_to_bits(layout: Layout, word_digits: Rows, bits: Rows, when: Gate, name: str = "digits to bits") -> MLP:
    """bits = the ±1 bits of the digits (bits is zero beforehand; digits exact integers, as hard
    reads give them). Any function g on the integers 0 .. 15 is g(0) + sum_k (s_k - s_(k-1))
    relu(v - k) with s_k = g(k + 1) - g(k): one unit relu(v - k) a knot k, shared by the digit's
    bits, each weighing it by its own change of slope."""
    units = Units(layout.d, name, "scratch")
    for q, width in enumerate(digit_widths(bits.size)):
        row = word_digits.start + q
        top = 2**width - 1

        def slope(j: int, k: int) -> float:  # of g = 2 * bit j - 1 between k and k + 1
            return 0.0 if k < 0 or k >= top else 2.0 * ((((k + 1) >> j) & 1) - ((k >> j) & 1))

        for k in range(top):
            out = {bits.bit(NIBBLE * q + j): slope(j, k) - slope(j, k - 1) for j in range(width)}
            out = {r: c for r, c in out.items() if c}
            if out:
                _unit(units, {row: 1.0}, -float(k), out, when, DIGIT_GATE)
    const_when(units, {row: -1.0 for row in bits.indices}, when)
    return units.mlp()


def place_digit_change(layout: Layout, new: Rows, old_digits: Rows, slot: Rows, cells: Sequence[Rows],
                       when: dict, name: str = "place") -> MLP:
    """cells[s] = digits(new) - old_digits for the code s in `slot` (new: ±1 bits; old_digits: digit
    rows), while the literal `when` holds; every other cell stays zero. A digit's change is linear
    in the rows: sum_j 2^(j-1) x_j + (2^width - 1) / 2 - old, in [-15, 15]; two gated units pass it."""
    units = Units(layout.d, name, "scratch")
    ind = layout["ind"].start
    for s in range(2**slot.size):
        open_ = gate(layout, when, *slot_literals(layout, slot, s))
        for q, width in enumerate(digit_widths(new.size)):
            change = {new.bit(NIBBLE * q + j): 2.0 ** (j - 1) for j in range(width)}
            change[old_digits.start + q] = -1.0
            change[ind] = (2.0**width - 1.0) / 2.0
            dst = cells[s].start + q
            _unit(units, change, 0.0, {dst: 1.0}, open_, DIGIT_GATE)
            _unit(units, {row: -c for row, c in change.items()}, 0.0, {dst: -1.0}, open_, DIGIT_GATE)
    return units.mlp()
