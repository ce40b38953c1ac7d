"""C++ source for one instruction, generated from a kernel plan (kernels/plan.py).

The plan is turned into straight-line code for cards of n tokens: every weight is a literal,
every zero weight is left out, every loop has a constant length. kernels/native.py compiles it,
once per machine and card width, into an XLA FFI target.

Two paths compute the same instruction:
- `card_step`, one card: the heads and the MLP groups of all tokens are loops over the card's
  tokens (vectorised along them); the scratch tokens' MLP groups are short scalar code.
- `lanes_step`, a group of L cards in the lanes form (L chosen per target, e.g. 8 floats: a 256-bit vector):
  the group's states interleaved, xl[(f * NP + t) * L + l], so that every operation of the
  one-card code is done for the L cards at once, along the vector lanes. The softmax's reductions
  over tokens and the health figure, horizontal work on one card, become whole-vector work. A
  group is gathered into this form for a chunk of instructions and its cards scattered back as
  they stop; with few cards left running, the group runs card by card.
Two FFI targets call them: `step`, one instruction for a batch, and `chunk`, a chunk of the
runner's loop in which each group runs on its own (see `chunk_group`).
Both paths evaluate the same expressions in the same order with IEEE arithmetic and no
contraction, so a card's result is bit for bit the same on either path, whatever its companions.

The code computes the layer formula with the plan's weights: per head a softmax of lam * q.k over
the keys and the values weighted by it, per unit relu(w.x + b). Exact shortcuts only: a softmax
weight exp(a - max) is exactly 1 at the maximum and exactly 0 where the exponential underflows,
and terms whose weight is exactly zero are left out. exp is a branch-free range reduction and
Taylor polynomial (within 2 ulp of the rounded exponential, tested; the other evaluators use XLA's
own approximation), so that the loops over it vectorise. Subnormals are flushed to zero during a
call, as XLA does on the CPU.

Layout: the card is feature-major with its rows padded to whole vectors, x[f * NP + t] (feature f
of token t, NP = n rounded up to 16); a batch is [B, d, NP].
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from kernels.plan import HeadPlan, MLPPlan, Plan


def lit(v: float) -> str:
    """A C++ literal of the state's type for a float64 value (rounded like a cast)."""
    v = float(v)
    if v == 0:
        return "T(0)"
    return f"T({v.hex()})"


def _sum(terms: list[str]) -> str:
    """The sum of the terms as a balanced tree of additions (a short chain of dependent additions:
    a left-to-right sum of k terms is k - 1 additions, each waiting for the one before)."""
    if not terms:
        return "T(0)"
    while len(terms) > 1:
        terms = [f"({terms[i]} + {terms[i + 1]})" if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0]


def _bias(b: float) -> list[str]:
    """A bias term, none where it is zero (a zero term is left out, like a zero weight)."""
    return [lit(b)] if b != 0 else []


class Emitter:
    def __init__(self, depth: int = 1):
        self.lines: list[str] = []
        self.depth = depth
        self.count = 0

    def __call__(self, line: str = ""):
        self.lines.append("  " * self.depth + line)

    def block(self, head: str):
        self(head + " {")
        self.depth += 1

    def end(self):
        self.depth -= 1
        self("}")

    def text(self) -> str:
        return "\n".join(self.lines)


def padded(n: int) -> int:
    """The card width in the native layout: n tokens padded with zero tokens to a multiple of 16, so
    that every loop over tokens is whole vectors. Padding tokens take no part: they are masked out
    of every softmax and every update, so they stay zero."""
    return -(-n // 16) * 16


def generate(plan: Plan, lam: float, n: int, ctype: str, group: int = 8, card_by_card: int = 4,
             form: str = "literal") -> str:
    """The C++ source for cards of n tokens of type `ctype`, with groups of `group` cards in the
    lanes form, run card by card once at most `card_by_card` of a group run (kernels/native.py
    chooses both per target: `code_shape`). `form`: "literal" (every weight a literal in
    straight-line code) or "tables" (the weights as arrays walked by loops: kernels/native_tables.py;
    the same results bit for bit)."""
    s, width = plan.scratch_tokens, padded(n)
    if form == "tables":
        from kernels import native_tables

        source, card_lines, lanes_lines = native_tables.functions(plan, lam, ctype)
        return _fill(plan, n, ctype, group, card_by_card, [_health_function(plan, width, s), source],
                     "\n".join("  " + line for line in card_lines), "\n".join("  " + line for line in lanes_lines))
    X = lambda f, t: f"x[{int(f) * width} + {t}]"  # noqa: E731
    XL = lambda f, t: f"xl[({int(f) * width} + {t}) * L + l]"  # noqa: E731  (lanes form, card l)
    functions, card, lanes = [], Emitter(), Emitter()
    for li, lay in enumerate(plan.layers):
        card(f"// layer {li}")
        lanes(f"// layer {li}")
        if li == plan.health_layer:  # the health figure is taken on the layer's input
            functions.append(_health_function(plan, width, s))
            card("*health = health_of(x);")
            lanes("health_of_lanes(xl, healths);")
        if lay.heads:
            functions.append(_heads_function(li, lay.heads, lam, width, s, X))
            card(f"heads{li}(x);")
            functions.append(_heads_function(li, lay.heads, lam, width, s, XL, lanes=True))
            lanes(f"heads{li}_lanes(xl);")
        if lay.mlps:
            functions.append(_mlp_card_function(li, lay.mlps, s, X))
            card(f"mlps{li}(x);")
            functions.append(_lanes_mlp_function(li, lay.mlps, s, XL))
            lanes(f"mlps{li}_lanes(xl);")
    return _fill(plan, n, ctype, group, card_by_card, functions, card.text(), lanes.text())


def _fill(plan: Plan, n: int, ctype: str, group: int, card_by_card: int, functions: list[str], card: str,
          lanes: str) -> str:
    """The template (kernels/native_src/card.cc) with the machine's functions and one instruction's calls."""
    return (TEMPLATE.replace("@CTYPE@", ctype).replace("@N@", str(n)).replace("@NP@", str(padded(n)))
            .replace("@D@", str(plan.d)).replace("@S@", str(plan.scratch_tokens))
            .replace("@EXP@", _exp_polynomial(ctype))
            .replace("@L@", str(int(group))).replace("@CARD_BY_CARD@", str(int(card_by_card)))
            .replace("@FUNCTIONS@", "\n\n".join(functions))
            .replace("@CARD@", card).replace("@LANES@", lanes))


def literal_terms(plan: Plan) -> int:
    """About how many weight terms the literal form writes out (the scratch heads' once per scratch
    token): its size, and what its compile time grows with."""
    s, total = plan.scratch_tokens, 0
    for lay in plan.layers:
        for h in lay.heads:
            if h.queries != "others":
                total += s * (np.count_nonzero(h.wq) + np.count_nonzero(h.wk) + len(h.k_rows) + np.count_nonzero(h.wv))
            if h.queries != "scratch":
                M = np.count_nonzero(h.bilinear)
                total += s * (M + np.count_nonzero(h.wv) + len(h.q_rows)) + M + np.count_nonzero(h.wv)
        for g in lay.mlps:
            total += 2 * np.count_nonzero(g.rowwise["cout"]) if g.rowwise is not None else (
                np.count_nonzero(g.w1) + np.count_nonzero(g.w2))
    return int(total)


def _exp_polynomial(ctype: str) -> str:
    """The Taylor polynomial of exp(r) on |r| <= ln2/2, coefficients 1/k!: degree 7 for float
    (truncation below 6e-9 relative), 13 for double (below 2e-16), evaluated by Estrin's scheme
    (pairs c_2j + c_2j+1 r, then pairs of pairs with r^2, r^4, ...: a short chain of dependent
    operations, where Horner's rule is one long one)."""
    degree = 7 if ctype == "float" else 13
    terms = [lit(1.0 / math.factorial(k)) for k in range(degree + 1)]
    lines, power, level = ["const T r1 = r;"], "r1", 0
    while len(terms) > 1:
        pairs = [f"({terms[i]} + {power} * {terms[i + 1]})" if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
        level += 1
        names = []
        for j, expr in enumerate(pairs):
            lines.append(f"const T e{level}_{j} = {expr};")
            names.append(f"e{level}_{j}")
        terms = names
        if len(terms) > 1:
            lines.append(f"const T r{2 ** level} = {power} * {power};")
            power = f"r{2 ** level}"
    lines.append(f"return {terms[0]};")
    return "inline T exp_polynomial(T r) {\n" + "\n".join("  " + line for line in lines) + "\n}"


def _health_function(plan: Plan, width: int, s: int) -> str:
    e = Emitter()
    moving = plan.moving_health_rows.tolist()
    cells = [int(f) * width + t for f in plan.corrected_rows for t in range(s)]
    e(f"static const int moving[] = {{{', '.join(str(f * width) for f in moving) or '0'}}};")
    e(f"static const int scratch[] = {{{', '.join(str(c) for c in cells) or '0'}}};")
    e(f"return lattice(x, moving, {len(moving)}, scratch, {len(cells)});")
    health = ("// the largest distance of the corrected rows from {-1, 0, 1} (NaN if any is NaN)\n"
              "inline T health_of(const T* __restrict x) {\n" + e.text() + "\n}")
    # the lanes form: the same distances for each card of a group (offsets in tokens, as above)
    lanes = Emitter()
    lanes(e.lines[0].strip())
    lanes(e.lines[1].strip())
    lanes(f"lanes_lattice(xl, moving, {len(moving)}, scratch, {len(cells)}, out);")
    return (health + "\n\n// the same for each card of a group in the lanes form\n"
            "inline void health_of_lanes(const T* __restrict xl, T* __restrict out) {\n" + lanes.text() + "\n}")


def _query(e: Emitter, h: HeadPlan, q: int, lam: float, X, u_store) -> None:
    """A scratch head's query from scratch token q: the constants qv, then each key row's
    coefficient lam * (wk . qv), stored through u_store(i) (one card's constant, or a card's lane)."""
    k = h.wq.shape[1]
    for j in range(k):
        terms = [f"{X(r, q)} * {lit(h.wq[i, j])}" for i, r in enumerate(h.q_rows) if h.wq[i, j] != 0]
        e(f"const T qv{j} = {_sum(terms)};")
    for i in range(len(h.k_rows)):
        terms = [f"{lit(h.wk[i, j])} * qv{j}" for j in range(k) if h.wk[i, j] != 0]
        e(f"{u_store(i)} = {lit(lam)} * ({_sum(terms)});")


def _score(h: HeadPlan, X, u_ref) -> str:
    """Token t's score for a scratch head's query (u_ref(i): the key row's coefficient)."""
    return _sum([f"{u_ref(i)} * {X(r, 't')}" for i, r in enumerate(h.k_rows)])


def _output(h: HeadPlan, c: int, read_ref) -> str:
    """A scratch head's output column c from its value sums over the total (read_ref(i))."""
    return _sum([f"{read_ref(i)} * {lit(h.wv[i, c])}" for i in range(len(h.v_rows)) if h.wv[i, c] != 0])


def _rest_keys(e: Emitter, h: HeadPlan, lam: float, s: int, X, store) -> None:
    """Per scratch key j of a rest head: lam * M x_j (the query's coefficients U) and its value V,
    stored through store(name) (one card's constant, or a card's lane)."""
    M = h.bilinear
    for j in range(s):
        for a in range(len(h.q_rows)):
            terms = [f"{lit(M[a, b])} * {X(r, j)}" for b, r in enumerate(h.k_rows) if M[a, b] != 0]
            e(f"{store(f'U{j}_{a}')} = {lit(lam)} * ({_sum(terms)});")
        for c in range(len(h.v_cols)):
            terms = [f"{lit(h.wv[i, c])} * {X(r, j)}" for i, r in enumerate(h.v_rows) if h.wv[i, c] != 0]
            e(f"{store(f'V{j}_{c}')} = {_sum(terms)};")


def _rest_token(e: Emitter, h: HeadPlan, lam: float, s: int, X, key) -> None:
    """A rest head on token t: a softmax over the scratch tokens and the token itself, and the
    outputs o{c} (key(name): the U and V of `_rest_keys`)."""
    M = h.bilinear
    for j in range(s):
        terms = [f"{key(f'U{j}_{a}')} * {X(r, 't')}" for a, r in enumerate(h.q_rows)]
        e(f"const T sj{j} = {_sum(terms)};")
    terms = [f"{lit(lam * M[a, b])} * ({X(h.q_rows[a], 't')} * {X(h.k_rows[b], 't')})"
             for a in range(M.shape[0]) for b in range(M.shape[1]) if M[a, b] != 0]
    e(f"const T sf = {_sum(terms)};")
    if s == 1:  # one of the two weights is exp(0) = 1: one exponential
        e("const T e = weight(sj0 > sf ? sf - sj0 : sj0 - sf);")
        e("const T es = sj0 > sf ? e : T(1), ej0 = sj0 > sf ? T(1) : e;")
    else:
        e("T m = sf;")
        for j in range(s):
            e(f"m = sj{j} > m ? sj{j} : m;")
        e("const T es = weight(sf - m);")
        for j in range(s):
            e(f"const T ej{j} = weight(sj{j} - m);")
    e(f"const T z = {_sum(['es'] + [f'ej{j}' for j in range(s)])};")
    e("const T ps = es / z;  // the softmax weights")
    for j in range(s):
        e(f"const T pj{j} = ej{j} / z;")
    for c in range(len(h.v_cols)):
        vt = [f"{lit(h.wv[i, c])} * {X(r, 't')}" for i, r in enumerate(h.v_rows) if h.wv[i, c] != 0]
        scratch = [f"pj{j} * {key(f'V{j}_{c}')}" for j in range(s)]
        e(f"const T o{c} = {_sum(scratch)} + ps * ({_sum(vt)});")


def _heads_function(li: int, heads: list[HeadPlan], lam: float, width: int, s: int, X, lanes: bool = False) -> str:
    """A layer's heads on one card (or, `lanes`, on a group in the lanes form, X then its accessor).
    Every head reads x before any update: the scratch tokens' read-outs first (kept in registers),
    then the other tokens' heads, which update each token in place (a token's update touches that
    token only): the last one in its loop, the others staged."""
    e = Emitter()
    scratch = [(hi, h) for hi, h in enumerate(heads) if h.queries != "others"]
    rest = [(hi, h) for hi, h in enumerate(heads) if h.queries != "scratch"]
    adds = []
    if scratch:
        adds += _lanes_scratch_heads(e, scratch, lam, s, X) if lanes else _scratch_heads(e, scratch, lam, width, s, X)
    for k, (hi, h) in enumerate(rest):
        adds += (_lanes_rest_head if lanes else _rest_head)(e, h, lam, s, X, f"r{li}_{hi}", direct=k == len(rest) - 1)
    for line in adds:
        e(line)
    if lanes:
        return f"inline void heads{li}_lanes(T* __restrict xl) {{\n{e.text()}\n}}"
    return f"inline void heads{li}(T* __restrict x) {{\n{e.text()}\n}}"


def _scratch_heads(e: Emitter, heads: list[tuple[int, HeadPlan]], lam: float, width: int, s: int, X) -> list[str]:
    """The scratch tokens' read-outs of a layer: per head and scratch token a softmax over every
    token of the card; the weights of all of them first, then their value sums in one pass (the
    rows of every head reduced together), then the outputs."""
    adds, reads = [], []  # reads: (weights array, value row) per value sum
    names = [f"h{hi}_q{q}_w" for hi, _ in heads for q in range(s)]
    e(f"alignas(64) T {', '.join(f'{name}[NP]' for name in names)};")
    for hi, h in heads:
        for q in range(s):
            tag = f"h{hi}_q{q}"
            e.block("")
            _query(e, h, q, lam, X, lambda i: f"const T u{i}")
            e.block("for (int t = 0; t < NP; ++t)")
            e(f"{tag}_w[t] = t < N ? {_score(h, X, lambda i: f'u{i}')} : -std::numeric_limits<T>::infinity();  // padding: weight 0")
            e.end()
            e.end()
            reads += [(f"{tag}_w", int(r)) for r in h.v_rows]
    # the scores become the softmax weights, every head's in the same loop (independent work)
    e(f"T* const scores[] = {{{', '.join(names)}}};")
    e(f"T totals_of[{len(names)}];")
    e(f"softmax_weights<{len(names)}>(scores, totals_of);")
    for k, name in enumerate(names):
        e(f"const T {name}_z = totals_of[{k}];")
    e(f"const T* const weight_rows[] = {{{', '.join(w for w, _ in reads)}}};")
    e(f"static const int value_rows[] = {{{', '.join(str(r * width) for _, r in reads)}}};")
    e(f"alignas(64) T sums[{len(reads)}];")
    e(f"dots<{len(reads)}>(weight_rows, x, value_rows, sums);")
    # each sum over its head's total, in one vector loop (a division per row, as one at a time)
    e(f"const T totals[] = {{{', '.join(f'{w}_z' for w, _ in reads)}}};")
    e(f"alignas(64) T read[{len(reads)}];")
    e(f"for (int i = 0; i < {len(reads)}; ++i) read[i] = sums[i] / totals[i];")
    at = 0
    for hi, h in heads:
        for q in range(s):
            tag = f"h{hi}_q{q}"
            for c, col in enumerate(h.v_cols):
                e(f"const T {tag}_o{c} = {_output(h, c, lambda i: f'read[{at + i}]')};")
                adds.append(f"{X(col, q)} += {tag}_o{c};")
            at += len(h.v_rows)
    return adds


def _rest_head(e: Emitter, h: HeadPlan, lam: float, s: int, X, tag: str, direct: bool) -> list[str]:
    """The other tokens' read-out: a softmax over the scratch tokens and the token itself, in one
    loop over the tokens (the scratch and padding tokens' values are computed and dropped). With
    `direct` each token's update is added in the loop, else staged and returned as adds."""
    out = f"{tag}_out"
    if not direct:
        e(f"alignas(64) T {out}[{len(h.v_cols)}][NP];")
    e.block("")
    _rest_keys(e, h, lam, s, X, lambda name: f"const T {name}")
    e.block("for (int t = 0; t < NP; ++t)")
    _rest_token(e, h, lam, s, X, lambda name: name)
    e(f"const bool own = t >= {s} && t < N;")
    for c, col in enumerate(h.v_cols):
        e(f"if (own) {X(col, 't')} += o{c};" if direct else f"{out}[{c}][t] = o{c};")
    e.end()
    e.end()
    if direct:
        return []
    return [f"for (int t = {s}; t < N; ++t) {X(col, 't')} += {out}[{c}][t];" for c, col in enumerate(h.v_cols)]


def _units(e: Emitter, g: MLPPlan, read, name: str) -> list[str]:
    """One token's units of an MLP group: read(f) is the expression of input row f; the outputs
    become constants `name`{o}, whose names are returned. The same expressions on either path, so
    the same values."""
    outs = []
    if g.rowwise is not None:
        tb = g.rowwise
        for i, f in enumerate(g.in_rows):
            e(f"const T {name}x{i} = {read(f)};")
            terms = [lit(tb["b2"][i])] if tb["b2"][i] != 0 else []
            for u in range(tb["cin"].shape[1]):
                if tb["cout"][i, u] != 0:
                    inner = _sum([f"{name}x{i} * {lit(tb['cin'][i, u])}"] + _bias(tb["bias"][i, u]))
                    terms.append(f"relu({inner}) * {lit(tb['cout'][i, u])}")
            if tb["linear"][i] != 0:
                terms.append(f"{name}x{i} * {lit(tb['linear'][i])}")
            expr = _sum(terms)
            e(f"const T {name}{i} = {expr};")
            outs.append(f"{name}{i}")
    else:
        units = range(g.w1.shape[1])
        for u in units:
            ins = np.flatnonzero(g.w1[:, u])
            terms = [f"{lit(g.w1[i, u])} * {read(g.in_rows[i])}" for i in ins]
            expr = _sum([f"({_sum(terms)})"] + _bias(g.b1[u])) if len(ins) else lit(g.b1[u])
            e(f"const T {name}h{u} = relu({expr});")
        for o in range(len(g.out_cols)):
            terms = [f"{lit(g.w2[u, o])} * {name}h{u}" for u in units if g.w2[u, o] != 0]
            e(f"const T {name}{o} = {_sum([f'({_sum(terms)})'] + _bias(g.b2[o]))};")
            outs.append(f"{name}{o}")
    return outs


def _token_groups(e: Emitter, groups: list[MLPPlan], X) -> None:
    """The groups of all tokens in one loop over the card's tokens: a token's units read its rows,
    then its updates are added in place, group by group (padding tokens stay zero)."""
    every = [(gi, g) for gi, g in enumerate(groups) if g.tokens == "all"]
    if not every:
        return
    e.block("for (int t = 0; t < NP; ++t)")
    outs = [(g, _units(e, g, lambda f: X(f, "t"), f"a{gi}_")) for gi, g in every]
    e("const bool own = t < N;")
    for g, values in outs:
        for value, col in zip(values, g.out_cols):
            e(f"if (own) {X(col, 't')} += {value};")
    e.end()


def _mlp_card_function(li: int, groups: list[MLPPlan], s: int, X) -> str:
    """A layer's MLP groups on one card: the scratch tokens' groups (staged: they read x before the
    other groups update it), the groups of all tokens (in place), then the staged updates."""
    e = Emitter()
    adds = []
    for gi, g in enumerate(groups):
        if g.tokens == "all":
            continue
        e(f"alignas(64) T g{gi}_u[{len(g.out_cols)}][{s}];")
        e.block(f"for (int t = 0; t < {s}; ++t)")
        for o, value in enumerate(_units(e, g, lambda f: X(f, "t"), f"g{gi}_")):
            e(f"g{gi}_u[{o}][t] = {value};")
        e.end()
        adds += [f"for (int t = 0; t < {s}; ++t) {X(c, 't')} += g{gi}_u[{o}][t];" for o, c in enumerate(g.out_cols)]
    _token_groups(e, groups, X)
    for line in adds:
        e(line)
    return f"inline void mlps{li}(T* __restrict x) {{\n{e.text()}\n}}"


# ---- the lanes form: a group of L cards, each card along the vector lanes ----------------------
#
# The same expressions as the one-card code above, each evaluated for the L cards of a group at
# once: xl[(f * NP + t) * L + l] is feature f of token t of card l, and a card's own quantities
# (the one-card code's scalars) are arrays [L]. Sums over tokens keep the one-card code's order
# (kernels: lanes_dot, lanes_total), so that a card's result is the same bit for bit in either form.


def _lanes_scratch_heads(e: Emitter, heads: list[tuple[int, HeadPlan]], lam: float, s: int, XL) -> list[str]:
    """`_scratch_heads` for every card of a group: per head and scratch token the scores of every
    token (cards along the lanes), their softmax weights, the value sums, the outputs (staged)."""
    adds, reads = [], []
    for hi, h in heads:
        for q in range(s):
            tag = f"h{hi}_q{q}"
            e(f"alignas(64) T {tag}_w[NP][L], {', '.join(f'{tag}_u{i}[L]' for i in range(len(h.k_rows)))};")
            e.block("for (int l = 0; l < L; ++l)")
            _query(e, h, q, lam, XL, lambda i: f"{tag}_u{i}[l]")
            e.end()
            # (the padding apart: a select on t in this loop made GCC vectorise it along t, with
            # gathers, which cost an AVX2-only CPU a third of the instruction)
            e.block("for (int t = 0; t < N; ++t)")
            e.block("for (int l = 0; l < L; ++l)")
            e(f"{tag}_w[t][l] = {_score(h, XL, lambda i: f'{tag}_u{i}[l]')};")
            e.end()
            e.end()
            e("for (int t = N; t < NP; ++t) for (int l = 0; l < L; ++l) "
              f"{tag}_w[t][l] = -std::numeric_limits<T>::infinity();  // padding: weight 0")
            e(f"alignas(64) T {tag}_z[L];")
            e(f"lanes_softmax({tag}_w, {tag}_z);")
            reads += [(tag, int(r)) for r in h.v_rows]
    e(f"alignas(64) T read[{len(reads)}][L];")
    for i, (tag, r) in enumerate(reads):
        e(f"lanes_dot({tag}_w, xl + {r} * NP * L, read[{i}]);")
        e(f"for (int l = 0; l < L; ++l) read[{i}][l] = read[{i}][l] / {tag}_z[l];")
    at = 0
    for hi, h in heads:
        for q in range(s):
            tag = f"h{hi}_q{q}"
            e(f"alignas(64) T {tag}_o[{len(h.v_cols)}][L];")
            e.block("for (int l = 0; l < L; ++l)")
            for c, col in enumerate(h.v_cols):
                e(f"{tag}_o[{c}][l] = {_output(h, c, lambda i: f'read[{at + i}][l]')};")
                adds.append(f"for (int l = 0; l < L; ++l) {XL(col, q)} += {tag}_o[{c}][l];")
            e.end()
            at += len(h.v_rows)
    return adds


def _lanes_rest_head(e: Emitter, h: HeadPlan, lam: float, s: int, XL, tag: str, direct: bool) -> list[str]:
    """`_rest_head` for every card of a group, over the cards' own tokens (the one-card code computes
    the scratch and padding tokens' values too, and drops them)."""
    out = f"{tag}_out"
    if not direct:
        e(f"alignas(64) T {out}[{len(h.v_cols)}][N][L];")
    e.block("")
    names = [f"U{j}_{a}" for j in range(s) for a in range(len(h.q_rows))]
    names += [f"V{j}_{c}" for j in range(s) for c in range(len(h.v_cols))]
    e(f"alignas(64) T {', '.join(f'{name}[L]' for name in names)};")
    e.block("for (int l = 0; l < L; ++l)")
    _rest_keys(e, h, lam, s, XL, lambda name: f"{name}[l]")
    e.end()
    e.block(f"for (int t = {s}; t < N; ++t)")
    e.block("for (int l = 0; l < L; ++l)")
    _rest_token(e, h, lam, s, XL, lambda name: f"{name}[l]")
    for c, col in enumerate(h.v_cols):
        e(f"{XL(col, 't')} += o{c};" if direct else f"{out}[{c}][t][l] = o{c};")
    e.end()
    e.end()
    e.end()
    if direct:
        return []
    return [f"for (int t = {s}; t < N; ++t) for (int l = 0; l < L; ++l) {XL(col, 't')} += {out}[{c}][t][l];"
            for c, col in enumerate(h.v_cols)]


def _lanes_mlp_function(li: int, groups: list[MLPPlan], s: int, XL) -> str:
    """`_mlp_card_function` for every card of a group: the scratch tokens' groups (staged), the
    groups of all tokens (in place, over the cards' own tokens), then the staged updates."""
    e = Emitter()
    adds = []
    for gi, g in enumerate(groups):
        if g.tokens == "all":
            continue
        e(f"alignas(64) T g{gi}_u[{len(g.out_cols)}][{s}][L];")
        e.block(f"for (int q = 0; q < {s}; ++q)")
        e.block("for (int l = 0; l < L; ++l)")
        for o, value in enumerate(_units(e, g, lambda f: XL(f, "q"), f"g{gi}_")):
            e(f"g{gi}_u[{o}][q][l] = {value};")
        e.end()
        e.end()
        adds += [f"for (int q = 0; q < {s}; ++q) for (int l = 0; l < L; ++l) {XL(c, 'q')} += g{gi}_u[{o}][q][l];"
                 for o, c in enumerate(g.out_cols)]
    every = [(gi, g) for gi, g in enumerate(groups) if g.tokens == "all"]
    if every:
        e.block("for (int t = 0; t < N; ++t)")
        e.block("for (int l = 0; l < L; ++l)")
        outs = [(g, _units(e, g, lambda f: XL(f, "t"), f"a{gi}_")) for gi, g in every]
        for g, values in outs:
            for value, col in zip(values, g.out_cols):
                e(f"{XL(col, 't')} += {value};")
        e.end()
        e.end()
    for line in adds:
        e(line)
    return f"inline void mlps{li}_lanes(T* __restrict xl) {{\n{e.text()}\n}}"


# The C++ around the generated functions: a source file of its own, installed with the package.
TEMPLATE = (Path(__file__).parent / "native_src" / "card.cc").read_text()

