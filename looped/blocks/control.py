"""Building blocks of the construction: small pure functions from named row blocks to weights.

Each block returns attention heads or MLP parts (see looped/layers.py); an instruction set is the
list of layers these parts are summed into (looped/machines/). Conventions:

* Words are ±1 bits, most significant bit first; `rows.bit(j)` is bit j from the least significant.
* `ind` (1 on the scratch token, 0 elsewhere) replaces per-column biases. A unit that must act only
  on the scratch token gets the gate `+G*ind - G`: on other tokens its pre-activation is pushed at
  least G below zero, with G larger than anything the unit could otherwise see there.
* Thresholds are *robust*: `step_at(t)` is exactly 0 for u <= t - 3/4 and exactly 1 for
  u >= t - 1/4, so integer-valued inputs carrying noise below 1/4 give exact outputs.
"""

from __future__ import annotations

from looped.layers import MLP, Head, Units, copy_map, projection
from looped.layout import Layout, Rows

# Error-correction tolerance: values within this distance of -1, 0 or +1 are snapped back exactly.
CORRECTION_TOLERANCE = 0.25


def _threshold(units: Units, inputs: dict[int, float], bias: float, t: float, out: dict[int, float]) -> None:
    """Add `out * [u >= t]` where u = inputs·x + bias is integer-valued (2 units, robust ±1/4)."""
    for shift, sign in ((0.75, 2.0), (0.25, -2.0)):
        units.add(inputs, bias - t + shift, {row: sign * coef for row, coef in out.items()})


def _gated(inputs: dict[int, float], ind: int, gate: float) -> dict[int, float]:
    """`inputs` plus gate*ind; the caller adds -gate to the bias (scratch-token gate)."""
    gated = dict(inputs)
    gated[ind] = gated.get(ind, 0.0) + gate
    return gated


# ---- attention: reading and writing by address ---------------------------------------------------


def read(layout: Layout, pointer: Rows, source: Rows, buffer: Rows, name: str = "read",
         also: tuple[tuple[Rows, Rows], ...] = ()) -> Head:
    """The scratch token reads `source` of the token whose address `pointer` holds, into `buffer`.

    Query = the pointer rows, key = the positional code. The scratch token's own code is zero, so
    it scores 0 on itself, L on the target and at most L-2 on every other token: after the softmax
    it holds the target's `source` up to a leak of n*exp(-2*lam). Other tokens' queries are zero;
    whatever they gather lands in `buffer`, which the same layer's MLP clears. `also`: more
    (source, buffer) blocks read the same way."""
    return Head(
        wq=projection(layout.d, {pointer: 1.0}),
        wk=projection(layout.d, {layout["pos"]: 1.0}),
        wv=copy_map(layout.d, [(source, buffer), *also]),
        queries="scratch",
        name=name,
    )


def write(layout: Layout, pointer: Rows, source: Rows, target: Rows, buffer: Rows) -> Head:
    """Every token gathers `target` of itself, except the token addressed by the scratch token's
    `pointer`, which gathers the scratch token's `source` instead; both land in `buffer`.

    Query = positional code; key = positional code + (1 + 1/L) * pointer. The addressed token then
    scores L+1 on the scratch token against L on itself, and every other token scores L on itself
    against at most L-1-2/L on anything else: a margin of 1 either way."""
    L = layout.addr_bits
    return Head(
        wq=projection(layout.d, {layout["pos"]: 1.0}),
        wk=projection(layout.d, {layout["pos"]: 1.0, pointer: 1.0 + 1.0 / L}),
        wv=copy_map(layout.d, [(target, buffer), (source, buffer)]),
        # The scratch token's own query is zero (its position code): it would gather an average
        # into `buffer`, which the layer's MLP clears. Kernels may skip it.
        queries="others",
        keys="scratch+self",
        name="write",
    )


# ---- MLP parts ------------------------------------------------------------------------------------


def move(layout: Layout, source: Rows, dest: Rows, tokens: str = "scratch") -> MLP:
    """On the scratch token only: dest += source (dest is zero beforehand, so dest = source)."""
    units = Units(layout.d, f"move {source.name}->{dest.name}", tokens)
    ind = layout["ind"].start
    gate = 4.0  # |source| <= 1 on every token
    for src, dst in zip(source.indices, dest.indices):
        units.add(_gated({src: 1.0}, ind, gate), -gate, {dst: 1.0})
        units.add(_gated({src: -1.0}, ind, gate), -gate, {dst: -1.0})
    return units.mlp()


def clear(layout: Layout, *blocks: Rows, tokens: str = "scratch") -> MLP:
    """x -> 0 on every token for the rows of `blocks`: x - relu(x) + relu(-x) = 0 exactly."""
    units = Units(layout.d, "clear " + " ".join(b.name for b in blocks), tokens)
    for block in blocks:
        for row in block.indices:
            units.add({row: 1.0}, 0.0, {row: -1.0})
            units.add({row: -1.0}, 0.0, {row: 1.0})
    return units.mlp()


def subtract(layout: Layout, minuend: Rows, subtrahend: Rows, out: Rows) -> MLP:
    """On the scratch token: out = minuend - subtrahend modulo 2^N, as ±1 bits (out is zero before).

    minuend - subtrahend = minuend + ~subtrahend + 1, and flipping a ±1 bit is negation, so the low
    i+1 bits of the sum, S_i = sum_{j<=i} 2^(j-1) (x_j - y_j) + 2^(i+1), are linear in the inputs.
    S_i lies in [1, 2^(i+2) - 1]; bit i of the result is bit i of S_i:
    [S >= 2^i] - [S >= 2^(i+1)] + [S >= 3*2^i]. Six units per bit; the top carry is dropped,
    which is the wrap modulo 2^N."""
    N = out.size
    units = Units(layout.d, "subtract", "scratch")
    ind = layout["ind"].start
    for i in range(N):
        inputs = {}
        for j in range(i + 1):
            inputs[minuend.bit(j)] = inputs.get(minuend.bit(j), 0.0) + 2.0 ** (j - 1)
            inputs[subtrahend.bit(j)] = inputs.get(subtrahend.bit(j), 0.0) - 2.0 ** (j - 1)
        gate = 2.0 ** (i + 2)  # exceeds S_i wherever |inputs| <= 1
        inputs = _gated(inputs, ind, gate)
        bias = 2.0 ** (i + 1) - gate
        for t, sign in ((2**i, 1.0), (2 ** (i + 1), -1.0), (3 * 2**i, 1.0)):
            _threshold(units, inputs, bias, t, {out.bit(i): 2.0 * sign})
    units.add({ind: 1.0}, 0.0, {row: -1.0 for row in out.indices})  # 2*bit - 1
    return units.mlp()


def flag_le_zero(layout: Layout, value: Rows, flag: Rows) -> MLP:
    """On the scratch token: flag = 1 when the two's-complement `value` is <= 0, else 0.

    Negative: the sign bit is +1. Zero: every bit is -1, i.e. z = 1 - N - sum(bits) is 1 (it is
    at most -1 otherwise). Both are robust steps; they never fire together."""
    N = value.size
    units = Units(layout.d, "flag <= 0", "scratch")
    ind, out = layout["ind"].start, {flag.start: 1.0}
    gate = 2.0
    sign = _gated({value.bit(N - 1): 1.0}, ind, gate)
    units.add(sign, 0.5 - gate, out)
    units.add(sign, -0.5 - gate, {flag.start: -1.0})
    zero = {row: -1.0 for row in value.indices}
    zero[ind] = 1.0 - N + gate
    units.add(zero, 0.5 - gate, out)
    units.add(zero, -0.5 - gate, {flag.start: -1.0})
    return units.mlp()


def branch(layout: Layout, pc: Rows, target: Rows, flag: Rows) -> MLP:
    """On the scratch token: pc = target if flag else pc + 1 (modulo 2^L).

    pc + 1 uses the add-one adder: u_i = (low i+1 bits of pc) + 1 lies in [1, 2^(i+1)] and bit i
    of the result is [u >= 2^i] - [u >= 2^(i+1)]. Its units are switched off by -G*flag, so they
    contribute (1 - flag) * bit. The target passes through relu(q + f - 1) - relu(-q + f - 1) =
    f*q. The old pc is removed with relu(-p) - relu(p)."""
    L = pc.size
    units = Units(layout.d, "branch", "scratch")
    ind, f = layout["ind"].start, flag.start
    for i in range(L):
        u = {pc.bit(j): 2.0 ** (j - 1) for j in range(i + 1)}
        gate = 2.0 ** (i + 2)
        u = _gated(u, ind, gate)
        u[f] = -gate
        bias = (2.0 ** (i + 1) - 1) / 2 + 1 - gate
        _threshold(units, u, bias, 2**i, {pc.bit(i): 2.0})
        _threshold(units, u, bias, 2 ** (i + 1), {pc.bit(i): -2.0})
        q = target.bit(i)
        units.add({q: 1.0, f: 1.0}, -1.0, {pc.bit(i): 1.0})
        units.add({q: -1.0, f: 1.0}, -1.0, {pc.bit(i): -1.0})
        units.add({pc.bit(i): 1.0}, 0.0, {pc.bit(i): -1.0})
        units.add({pc.bit(i): -1.0}, 0.0, {pc.bit(i): 1.0})
    # (1 - f) * (2*bit - 1) = 2*(gated bit) - ind + f on the scratch token.
    units.add({ind: 1.0}, 0.0, {row: -1.0 for row in pc.indices})
    units.add({f: 1.0}, 0.0, {row: 1.0 for row in pc.indices})
    return units.mlp()


def error_correction(layout: Layout, *blocks: Rows, tolerance: float = CORRECTION_TOLERANCE,
                     tokens: str = "all") -> MLP:
    """On every token: snap each row of `blocks` to -1, 0 or +1 when it is within `tolerance`.
    `tokens="scratch"` for rows that are zero on every other token (0 is a fixed point).

    g(x) = [r(x+1-e) - r(x+e) + r(x-e) - r(x-1+e)] / (1-2e) is a staircase, flat on the
    e-neighbourhoods of -1, 0, +1 with values 0, 1, 2; the layer adds g(x) - 1 - x, the -1 being
    the broadcast output bias and -x = r(-x) - r(x)."""
    e = tolerance
    units = Units(layout.d, "error correction " + " ".join(b.name for b in blocks), tokens)
    scale = 1.0 / (1.0 - 2.0 * e)
    rows = [row for block in blocks for row in block.indices]
    for row in rows:
        for bias, coef in ((1 - e, scale), (e, -scale), (-e, scale), (-1 + e, -scale)):
            units.add({row: 1.0}, bias, {row: coef})
        units.add({row: -1.0}, 0.0, {row: 1.0})
        units.add({row: 1.0}, 0.0, {row: -1.0})
    mlp = units.mlp()
    b2 = mlp.b2.copy()
    b2[rows] = -1.0
    return MLP(mlp.w1, mlp.b1, mlp.w2, b2, mlp.tokens, mlp.name)


def overwrite(layout: Layout, source: Rows, dest: Rows, gate: float = 4.0, scratch: tuple[str, ...] = ("ind",)) -> MLP:
    """On every token but the scratch tokens: dest = source (dest += source - dest).

    `gate` must exceed |source - dest| (2 for ±1 bits); `scratch` names the indicator rows of the
    tokens to leave alone (each 1 on its tokens, 0 elsewhere)."""
    units = Units(layout.d, f"overwrite {dest.name}", "all")
    off = {layout[name].start: -gate for name in scratch}
    for src, dst in zip(source.indices, dest.indices):
        units.add({src: 1.0, dst: -1.0, **off}, 0.0, {dst: 1.0})
        units.add({src: -1.0, dst: 1.0, **off}, 0.0, {dst: -1.0})
    return units.mlp()


def move_by_slot(layout: Layout, sources: list[Rows], dest: Rows, slot: Rows) -> MLP:
    """On slot token j (the one-hot row slot.start + j is 1): dest += sources[j], for ±1 codes.
    Other tokens (and other slots) are gated off by 4 * (slot_j - 1)."""
    units = Units(layout.d, f"move by slot -> {dest.name}", "scratch")
    gate = 4.0  # |source| <= 1 on every token
    for j, source in enumerate(sources):
        on = slot.start + j
        for src, dst in zip(source.indices, dest.indices):
            units.add({src: 1.0, on: gate}, -gate, {dst: 1.0})
            units.add({src: -1.0, on: gate}, -gate, {dst: -1.0})
    return units.mlp()
