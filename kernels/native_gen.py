"""C++ source for one instruction, generated from a kernel plan (kernels/plan.py).

The plan is turned into straight-line code for cards of n tokens: every weight is a literal,
every zero weight is left out, every loop has a constant length. kernels/native.py compiles it,
once per machine and card width, into an XLA FFI target.

Two paths compute the same instruction:
- `card_step`, one card: the heads and the MLP groups of all tokens are loops over the card's
  tokens (vectorised along them); the scratch tokens' MLP groups are short scalar code.
- `lanes_step`, a group of L = 8 cards in the lanes form (8 floats: a 256-bit vector):
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


def generate(plan: Plan, lam: float, n: int, ctype: str) -> str:
    s, width = plan.scratch_tokens, padded(n)
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
    return (TEMPLATE.replace("@CTYPE@", ctype).replace("@N@", str(n)).replace("@NP@", str(width))
            .replace("@D@", str(plan.d)).replace("@S@", str(s)).replace("@EXP@", _exp_polynomial(ctype))
            .replace("@FUNCTIONS@", "\n\n".join(functions))
            .replace("@CARD@", card.text()).replace("@LANES@", lanes.text()))


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
            e.block("for (int t = 0; t < NP; ++t)")
            e.block("for (int l = 0; l < L; ++l)")
            score = _score(h, XL, lambda i: f"{tag}_u{i}[l]")
            e(f"{tag}_w[t][l] = t < N ? {score} : -std::numeric_limits<T>::infinity();")
            e.end()
            e.end()
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


TEMPLATE = r"""// Generated by kernels/native_gen.py: one instruction on one card or a group of cards. Do not edit.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <algorithm>
#include <atomic>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <memory>
#include <thread>
#include <type_traits>
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

typedef @CTYPE@ T;
constexpr int N = @N@;  // tokens
constexpr int NP = @NP@;  // tokens and padding: the length of a row
constexpr int D = @D@;
constexpr int S_TOKENS = @S@;
// The cards of a group: a 256-bit vector of floats, a 512-bit vector of doubles (measured: FLEQ's
// doubles in groups of 4 ran a Jacobi program 1.6x slower; floats in groups of 16 gained 0-6 %, and
// larger groups share a batch among fewer threads and compute more lanes of stopped cards)
constexpr int L = 8;
// exp(a) is taken as 0 below this: there it is below the smallest normal number (2^-126 at
// a = -87.34 in float, 2^-1022 at -708.40 in double), which a call flushes to zero anyway; at and
// above it, 2^k in `weight` (k >= -126, -1022) is a normal number
constexpr T CUT = sizeof(T) == 4 ? T(-87.5) : T(-708.5);

inline T relu(T v) { return v > T(0) ? v : T(0); }

@EXP@

// A softmax weight exp(a), a <= 0: exactly 1 at a == 0, exactly 0 below CUT, NaN for NaN.
// Branch-free so that loops over it vectorise: a = k ln2 + r with |r| <= ln2 / 2 (ln2 in two
// parts, k ln2_hi exact), a polynomial for exp(r), times 2^k (exact where the result is normal; a
// subnormal result is flushed to zero in a call, as it was when 2^k was applied in two halves).
inline T weight(T a) {
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> I;
  constexpr int MANTISSA = sizeof(T) == 4 ? 23 : 52;
  constexpr I BIAS = sizeof(T) == 4 ? 127 : 1023;
  constexpr T LN2_HI = sizeof(T) == 4 ? T(0x1.63p-1) : T(0x1.62e42feep-1);
  constexpr T LN2_LO = sizeof(T) == 4 ? T(-0x1.bd0106p-13) : T(0x1.a39ef35793c76p-33);
  const T b = a < CUT ? CUT : a;
  const T k = std::nearbyint(b * T(0x1.71547652b82fep0));  // >= -126 (float), -1022 (double)
  const T r = (b - k * LN2_HI) - k * LN2_LO;
  const T p = exp_polynomial(r);
  const T scale = __builtin_bit_cast(T, I((I(k) + BIAS) << MANTISSA));  // 2^k, a normal number
  return a < CUT ? T(0) : p * scale;
}

// Loops over a row run 16 lanes at a time (NP is a multiple of 16), so that they vectorise; a
// reduction keeps 16 running values and combines them by halves, always in the same order.
inline T largest(const T* v) {
  T lane[16];
  for (int l = 0; l < 16; ++l) lane[l] = v[l];
  for (int i = 16; i < NP; i += 16)
    for (int l = 0; l < 16; ++l) lane[l] = v[i + l] > lane[l] ? v[i + l] : lane[l];
  for (int l = 0; l < 8; ++l) lane[l] = lane[l + 8] > lane[l] ? lane[l + 8] : lane[l];
  for (int l = 0; l < 4; ++l) lane[l] = lane[l + 4] > lane[l] ? lane[l + 4] : lane[l];
  for (int l = 0; l < 2; ++l) lane[l] = lane[l + 2] > lane[l] ? lane[l + 2] : lane[l];
  return lane[1] > lane[0] ? lane[1] : lane[0];
}

inline T reduce(T* lane) {
  for (int l = 0; l < 8; ++l) lane[l] += lane[l + 8];
  for (int l = 0; l < 4; ++l) lane[l] += lane[l + 4];
  for (int l = 0; l < 2; ++l) lane[l] += lane[l + 2];
  return lane[0] + lane[1];
}

// 16 values of T as one vector (GCC's vector extension), and a mask for two-vector shuffles
typedef T V16 __attribute__((vector_size(16 * sizeof(T))));
typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> MaskLane;
typedef MaskLane M16 __attribute__((vector_size(16 * sizeof(T))));

inline V16 load16(const T* p) {
  V16 v;
  std::memcpy(&v, p, sizeof(V16));
  return v;
}

// Halve two vectors of per-row partial sums into one: lanes of `a` then of `b`, each pair of
// neighbouring blocks of `width` lanes added (the same order as `reduce`: lane j with j + width).
template <int WIDTH>
inline V16 fold(V16 a, V16 b) {
  M16 low, high;
  for (int i = 0; i < 16; ++i) {
    const int block = i / WIDTH, within = i % WIDTH;  // block of the result: row pair
    const int source = (block % (8 / WIDTH) ) * 2 * WIDTH + within + (block >= 8 / WIDTH ? 16 : 0);
    low[i] = source;
    high[i] = source + WIDTH;
  }
  return __builtin_shuffle(a, b, low) + __builtin_shuffle(a, b, high);
}

// out[i] = the sum over tokens of ws[i][t] * x[rows[i] + t], for R rows: per row 16 running sums,
// then the rows' sums halved together (16 rows into one vector in 15 steps of two shuffles and an
// add, where reducing each row alone takes four steps of its own), in `reduce`'s order
template <int R>
inline void dots(const T* const* ws, const T* __restrict x, const int* rows, T* __restrict out) {
  for (int r0 = 0; r0 < R; r0 += 16) {
    V16 acc[16];
    for (int i = 0; i < 16; ++i) {
      acc[i] = V16{};
      if (r0 + i >= R) continue;
      const T* row = x + rows[r0 + i];
      const T* w = ws[r0 + i];
      acc[i] = load16(w) * load16(row);
      for (int t = 16; t < NP; t += 16) acc[i] += load16(w + t) * load16(row + t);
    }
    V16 b[8], c[4], d[2];
    for (int i = 0; i < 8; ++i) b[i] = fold<8>(acc[2 * i], acc[2 * i + 1]);
    for (int i = 0; i < 4; ++i) c[i] = fold<4>(b[2 * i], b[2 * i + 1]);
    for (int i = 0; i < 2; ++i) d[i] = fold<2>(c[2 * i], c[2 * i + 1]);
    const V16 e = fold<1>(d[0], d[1]);
    for (int i = 0; i < 16 && r0 + i < R; ++i) out[r0 + i] = e[i];
  }
}

inline T total(const T* __restrict a) {
  T lane[16];
  for (int l = 0; l < 16; ++l) lane[l] = a[l];
  for (int i = 16; i < NP; i += 16)
    for (int l = 0; l < 16; ++l) lane[l] += a[i + l];
  return reduce(lane);
}

// each row of scores [NP] into softmax weights, exp(score - the row's largest), and their totals;
// the H rows side by side in one loop (independent work for the same instructions)
template <int H>
inline void softmax_weights(T* const* rows, T* totals) {
  T most[H];
  for (int h = 0; h < H; ++h) most[h] = largest(rows[h]);
  for (int i = 0; i < NP; i += 16)
    for (int h = 0; h < H; ++h)
      for (int l = 0; l < 16; ++l) rows[h][i + l] = weight(rows[h][i + l] - most[h]);
  for (int h = 0; h < H; ++h) totals[h] = total(rows[h]);
}

// the distance of v from {-1, 0, 1} (NaN for NaN): |v| below 1/2, ||v| - 1| above (exact: |v| - 1
// is exact for |v| in [1/2, 2] and rounds as v - sign(v) does beyond)
inline T off_lattice(T v) {
  const T a = std::fabs(v), b = std::fabs(a - T(1));
  return a < b ? a : b;
}

// A distance's bits as an integer: distances have no sign bit, so their bits order as their values
// do, with NaN above infinity. The largest of them as integers is the largest distance, NaN if any
// is NaN: one integer maximum per value in `lanes_lattice`, where a maximum and a NaN mark made an
// instruction of the lanes form a third slower.
typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> Bits;
inline Bits distance_bits(T d) { return __builtin_bit_cast(Bits, d); }

// the largest distance from {-1, 0, 1} of the rows at offsets `rows` over every token but the
// scratch ones (the padding tokens are 0, at distance 0), and of the values at offsets `cells`;
// NaN if any is NaN. 16 running maxima and 16 NaN marks (a NaN distance kept apart: the maximum
// alone would drop it), combined at the end. (The integer maximum of `distance_bits`, which the
// lanes form uses, measured 12 % slower on a whole instruction here: the compiler vectorises it
// less well in this loop.)
inline T lattice(const T* x, const int* rows, int nr, const int* cells, int nc) {
  T most[16], nan[16];
  for (int l = 0; l < 16; ++l) most[l] = nan[l] = T(0);
  auto take = [&](int l, T d) {
    most[l] = d > most[l] ? d : most[l];
    nan[l] = d != d ? d : nan[l];
  };
  for (int k = 0; k < nr; ++k) {
    const T* v = x + rows[k];
    for (int i = 0; i < NP; i += 16)
      for (int l = 0; l < 16; ++l) {
        const T value = v[i + l];
        take(l, off_lattice(i + l < S_TOKENS ? T(0) : value));
      }
  }
  for (int k = 0; k < nc; k += 16) {  // (gathered first, so that the distances vectorise)
    alignas(64) T value[16];
    for (int l = 0; l < 16; ++l) value[l] = k + l < nc ? x[cells[k + l]] : T(0);
    for (int l = 0; l < 16; ++l) take(l, off_lattice(value[l]));
  }
  T w = T(0), bad = T(0);
  for (int l = 0; l < 16; ++l) {
    w = most[l] > w ? most[l] : w;
    bad = nan[l] != nan[l] ? nan[l] : bad;
  }
  return bad != bad ? bad : w;
}

// ---- the lanes form: a group of L cards with its cards along the vector lanes ----------------
//
// xl[(f * NP + t) * L + l] is feature f of token t of the group's card l; a row over the tokens,
// per card, is T r[NP][L]. Every operation of the one-card code is done for the L cards at once,
// and sums over the tokens keep the one-card code's order (16 running values, combined by halves:
// `largest`, `total`, `dots`), so that a card's result is the same bit for bit in either form.

inline void lanes_largest(const T (*v)[L], T* __restrict out) {
  alignas(64) T m[16][L];
  for (int j = 0; j < 16; ++j)
    for (int l = 0; l < L; ++l) m[j][l] = v[j][l];
  for (int i = 16; i < NP; i += 16)
    for (int j = 0; j < 16; ++j)
      for (int l = 0; l < L; ++l) m[j][l] = v[i + j][l] > m[j][l] ? v[i + j][l] : m[j][l];
  for (int half = 8; half >= 2; half /= 2)
    for (int j = 0; j < half; ++j)
      for (int l = 0; l < L; ++l) m[j][l] = m[j + half][l] > m[j][l] ? m[j + half][l] : m[j][l];
  for (int l = 0; l < L; ++l) out[l] = m[1][l] > m[0][l] ? m[1][l] : m[0][l];
}

inline void lanes_reduce(T (*a)[L], T* __restrict out) {  // `reduce`, for each card
  for (int half = 8; half >= 2; half /= 2)
    for (int j = 0; j < half; ++j)
      for (int l = 0; l < L; ++l) a[j][l] += a[j + half][l];
  for (int l = 0; l < L; ++l) out[l] = a[0][l] + a[1][l];
}

inline void lanes_total(const T (*v)[L], T* __restrict out) {  // `total`, for each card
  alignas(64) T a[16][L];
  for (int j = 0; j < 16; ++j)
    for (int l = 0; l < L; ++l) a[j][l] = v[j][l];
  for (int i = 16; i < NP; i += 16)
    for (int j = 0; j < 16; ++j)
      for (int l = 0; l < L; ++l) a[j][l] += v[i + j][l];
  lanes_reduce(a, out);
}

// the sum over tokens of w * a row of the state (row = xl + f * NP * L), in `dots`' order
inline void lanes_dot(const T (*w)[L], const T* __restrict row, T* __restrict out) {
  alignas(64) T a[16][L];
  for (int j = 0; j < 16; ++j)
    for (int l = 0; l < L; ++l) a[j][l] = w[j][l] * row[j * L + l];
  for (int i = 16; i < NP; i += 16)
    for (int j = 0; j < 16; ++j)
      for (int l = 0; l < L; ++l) a[j][l] += w[i + j][l] * row[(i + j) * L + l];
  lanes_reduce(a, out);
}

// `softmax_weights` of one row of scores for each card: the weights in place, their totals in z
inline void lanes_softmax(T (*w)[L], T* __restrict z) {
  alignas(64) T most[L];
  lanes_largest(w, most);
  for (int t = 0; t < NP; ++t)
    for (int l = 0; l < L; ++l) w[t][l] = weight(w[t][l] - most[l]);
  lanes_total(w, z);
}

// `lattice` for each card: rows and cells are offsets in tokens (f * NP, f * NP + t)
inline void lanes_lattice(const T* __restrict xl, const int* rows, int nr, const int* cells, int nc, T* __restrict out) {
  alignas(64) Bits most[L];
  for (int l = 0; l < L; ++l) most[l] = 0;
  auto take = [&](const T* v) {
    for (int l = 0; l < L; ++l) {
      const Bits b = distance_bits(off_lattice(v[l]));
      most[l] = b > most[l] ? b : most[l];
    }
  };
  for (int k = 0; k < nr; ++k)
    for (int t = S_TOKENS; t < N; ++t) take(xl + (rows[k] + t) * L);
  for (int k = 0; k < nc; ++k) take(xl + cells[k] * L);
  for (int l = 0; l < L; ++l) out[l] = __builtin_bit_cast(T, most[l]);
}

@FUNCTIONS@

// one instruction on one card
void card_step(T* __restrict x, T* __restrict health) {
@CARD@
}

// one instruction on a group of L cards in the lanes form (every lane: lanes without a running
// card are computed and dropped)
void lanes_step(T* __restrict xl, T* __restrict healths) {
@LANES@
}

// At most this many running cards in a group: the one-card code, card by card (measured on 32-column
// float cards: an instruction of a group of 8 costs as much as 5-6 cards alone; on 100 columns, 8)
constexpr int CARD_BY_CARD = 4;

// A group's cards in the lanes form, in a buffer of its own (gathered from and scattered to the
// cards' places in the batch, feature-major [D][NP] each).
struct Lanes {
  T* xl = static_cast<T*>(std::aligned_alloc(64, sizeof(T) * D * NP * L));
  ~Lanes() { std::free(xl); }
  void gather(T* const* cards) {
    for (int k = 0; k < D * NP; ++k)
      for (int l = 0; l < L; ++l) xl[k * L + l] = cards[l][k];
  }
  void scatter(int l, T* __restrict card) const {
    for (int k = 0; k < D * NP; ++k) card[k] = xl[k * L + l];
  }
};

// Subnormal numbers are flushed to zero, results and operands (MXCSR's FTZ and DAZ), as XLA does
// on the CPU: the same arithmetic as the other evaluators (a softmax weight below 2^-126 is 0, as
// XLA's exp gives it), and no slow microcoded steps on subnormal values. Set for the duration of
// a call on each thread that works on it.
struct FlushSubnormals {
#if defined(__SSE__)
  unsigned saved = _mm_getcsr();
  FlushSubnormals() { _mm_setcsr(saved | 0x8040u); }
  ~FlushSubnormals() { _mm_setcsr(saved); }
#endif
};

// `claim(*work)` on the calling thread and on helper tasks on XLA's thread pool: one fewer than
// `threads`, or (0) one per thread of the pool, which keeps the pool's threads busy rather than
// spinning idle beside the caller (measured faster), and at most one per further group. Once every
// group is claimed, the caller waits for the helpers still computing one (a helper that has not
// started by then claims nothing when it does: `work` is shared, and outlives the call).
template <typename W, typename F>
void share(ffi::ThreadPool& pool, int64_t threads, const std::shared_ptr<W>& work, F claim) {
  int64_t helpers = threads > 0 ? threads - 1 : pool.num_threads();
  helpers = std::min(helpers, work->groups - 1);
  for (int64_t i = 0; i < helpers; ++i)
    pool.Schedule([work, claim] {
      work->busy.fetch_add(1);
      claim(*work);
      work->busy.fetch_sub(1);
    });
  claim(*work);
  while (work->busy.load() > 0) std::this_thread::yield();
}

// The groups of a call, claimed one at a time by the calling thread and by helpers on XLA's
// thread pool. Shared through a shared_ptr: a helper that starts late finds nothing to claim.
struct Work {
  T* x;
  T* health;
  const bool* active;
  int64_t cards, groups;
  std::atomic<int64_t> next{0};
  std::atomic<int> busy{0};
};

// One instruction on the live cards of group g: card by card when few are live, else in the
// lanes form (the group gathered, stepped, and its live cards scattered back).
void run_group(Work& w, int64_t g) {
  const int64_t b0 = g * L;
  const int cards = int(std::min<int64_t>(L, w.cards - b0));
  bool live[L];
  T health[L];
  T* place[L];
  int count = 0;
  for (int l = 0; l < L; ++l) {
    live[l] = l < cards && w.active[b0 + l];
    count += live[l];
    place[l] = w.x + (b0 + (l < cards ? l : 0)) * D * NP;
    if (l < cards) w.health[b0 + l] = T(0);
  }
  if (count > CARD_BY_CARD) {
    Lanes lanes;
    lanes.gather(place);
    lanes_step(lanes.xl, health);
    for (int l = 0; l < L; ++l) if (live[l]) lanes.scatter(l, place[l]);
  } else {
    for (int l = 0; l < L; ++l) if (live[l]) card_step(place[l], health + l);
  }
  for (int l = 0; l < L; ++l) if (live[l]) w.health[b0 + l] = health[l];
}

void claim(Work& w) {
  FlushSubnormals flush;
  for (int64_t g = w.next.fetch_add(1); g < w.groups; g = w.next.fetch_add(1)) run_group(w, g);
}

ffi::Error step(ffi::ThreadPool pool, ffi::AnyBuffer state, ffi::Buffer<ffi::PRED> active,
                ffi::Result<ffi::AnyBuffer> out, ffi::Result<ffi::AnyBuffer> health, int64_t threads) {
  auto dims = state.dimensions();
  if (dims.size() != 3 || dims[1] != D || dims[2] != NP)
    return ffi::Error::InvalidArgument("state must be [B, d, padded n] of this machine");
  const int64_t B = dims[0];
  T* xo = static_cast<T*>(out->untyped_data());
  const T* xi = static_cast<const T*>(state.untyped_data());
  if (xo != xi) std::memcpy(xo, xi, sizeof(T) * B * D * NP);
  auto work = std::make_shared<Work>();
  work->x = xo;
  work->health = static_cast<T*>(health->untyped_data());
  work->active = active.typed_data();
  work->cards = B;
  work->groups = (B + L - 1) / L;
  share(pool, threads, work, claim);
  return ffi::Error::Success();
}

// ---- many instructions per call: each group of cards runs on its own ----------------------
//
// The runner's loop (looped/runner.py) for a chunk of iterations, card by card: a card runs while
// it is not done, below max_steps and healthy; each instruction adds a step, takes the health
// figure (the larger of the step's and the card's fixed rows', NaN winning) into the worst one,
// marks the step at which health first crosses the bound (the card then stops), and sets done
// when the program counter reads the card's halt address. The cards of a group step together
// (in the lanes form while more than CARD_BY_CARD run, then card by card); groups are independent.

struct Chunk {
  T* x;
  const int32_t* halt;
  int32_t* steps;
  bool* done;
  T* worst;
  int32_t* bad;
  const T* fixed;
  int64_t cards, groups;
  int32_t max_steps, length, min_running;
  int64_t pc_token, pc_start, pc_width;
  T bound;
  std::atomic<int64_t> next{0};
  std::atomic<int> busy{0};
  // cards still running, and whether one has lost its health: the runner wants the chunk to end
  // once no more than min_running cards run (it regroups them), or at a health loss
  std::atomic<int64_t> running{0};
  std::atomic<bool> lost{false};
};

// One card's counts while its group runs: kept by the group (the arrays of the call are written
// back once, at the end: neighbouring cards' entries share cache lines between threads)
inline bool still_running(bool done, int32_t steps, int32_t max_steps, int32_t bad) {  // as the runner's loop
  return !done && steps < max_steps && bad < 0;
}

struct Counts {
  int32_t steps, bad, halt;
  bool done;
  T worst, fixed;
  bool runs(int32_t max_steps) const { return still_running(done, steps, max_steps, bad); }
};

inline T larger(T a, T b) { return a != a ? a : (b != b ? b : (b > a ? b : a)); }  // NaN wins

inline int32_t pc_of(const T* x, const Chunk& c) {  // the pc rows' signs, most significant first
  int32_t v = 0;
  for (int64_t i = 0; i < c.pc_width; ++i) v = (v << 1) | int32_t(x[(c.pc_start + i) * NP + c.pc_token] > T(0));
  return v;
}

inline int32_t pc_of_lanes(const T* xl, int l, const Chunk& c) {  // pc_of, card l of a group
  int32_t v = 0;
  for (int64_t i = 0; i < c.pc_width; ++i)
    v = (v << 1) | int32_t(xl[((c.pc_start + i) * NP + c.pc_token) * L + l] > T(0));
  return v;
}

// A group's cards for a chunk: in the lanes form while more than CARD_BY_CARD of them run, then
// card by card. A card that stops in the lanes form is scattered back at once (its state at its
// last step); the lanes form is never entered again once left (cards only stop).
void chunk_group(Chunk& c, int64_t g) {
  const int64_t b0 = g * L;
  const int cards = int(std::min<int64_t>(L, c.cards - b0));
  Counts k[L];
  T* place[L];
  for (int l = 0; l < L; ++l) {
    const int64_t b = b0 + (l < cards ? l : 0);
    place[l] = c.x + b * D * NP;
    if (l < cards) k[l] = Counts{c.steps[b], c.bad[b], c.halt[b], c.done[b], c.worst[b], c.fixed[b]};
  }
  std::unique_ptr<Lanes> lanes;  // while in the lanes form
  bool held[L] = {};  // the card's state is in the lanes form (to scatter)
  bool live[L];
  T health[L];
  for (int it = 0; it < c.length; ++it) {
    if (c.lost.load(std::memory_order_relaxed) || c.running.load(std::memory_order_relaxed) <= c.min_running) break;
    int count = 0;
    for (int l = 0; l < L; ++l) count += live[l] = l < cards && k[l].runs(c.max_steps);
    if (count == 0) break;
    if (count > CARD_BY_CARD) {
      if (!lanes) {
        lanes = std::make_unique<Lanes>();
        lanes->gather(place);
      }
      lanes_step(lanes->xl, health);
      for (int l = 0; l < L; ++l) held[l] = held[l] || live[l];
    } else {
      if (lanes) {  // leave the lanes form
        for (int l = 0; l < L; ++l) if (held[l]) lanes->scatter(l, place[l]), held[l] = false;
        lanes.reset();
      }
      for (int l = 0; l < L; ++l) if (live[l]) card_step(place[l], health + l);
    }
    for (int l = 0; l < L; ++l) {
      if (!live[l]) continue;
      Counts& n = k[l];
      n.steps += 1;
      const T h = larger(health[l], n.fixed);
      n.worst = larger(n.worst, h);
      if (!(h <= c.bound)) { n.bad = n.steps; c.lost.store(true); }
      n.done = (lanes ? pc_of_lanes(lanes->xl, l, c) : pc_of(place[l], c)) == n.halt;
      if (!n.runs(c.max_steps)) {
        c.running.fetch_sub(1);
        if (held[l]) lanes->scatter(l, place[l]), held[l] = false;
      }
    }
  }
  if (lanes)
    for (int l = 0; l < L; ++l) if (held[l]) lanes->scatter(l, place[l]);
  for (int l = 0; l < cards; ++l) {
    const int64_t b = b0 + l;
    c.steps[b] = k[l].steps;
    c.bad[b] = k[l].bad;
    c.done[b] = k[l].done;
    c.worst[b] = k[l].worst;
  }
}

void claim_chunks(Chunk& c) {
  FlushSubnormals flush;
  for (int64_t g = c.next.fetch_add(1); g < c.groups; g = c.next.fetch_add(1)) chunk_group(c, g);
}

template <typename A, typename R>
void copy_into(const A& in, R& out, size_t bytes) {
  if (out->untyped_data() != in.untyped_data()) std::memcpy(out->untyped_data(), in.untyped_data(), bytes);
}

ffi::Error chunk(ffi::ThreadPool pool, ffi::AnyBuffer state, ffi::Buffer<ffi::S32> halt, ffi::Buffer<ffi::S32> steps,
                 ffi::Buffer<ffi::PRED> done, ffi::AnyBuffer worst, ffi::Buffer<ffi::S32> bad, ffi::AnyBuffer fixed,
                 ffi::Buffer<ffi::S32> limits, ffi::Result<ffi::AnyBuffer> x_out,
                 ffi::Result<ffi::Buffer<ffi::S32>> steps_out, ffi::Result<ffi::Buffer<ffi::PRED>> done_out,
                 ffi::Result<ffi::AnyBuffer> worst_out, ffi::Result<ffi::Buffer<ffi::S32>> bad_out,
                 int64_t pc_token, int64_t pc_start, int64_t pc_width, double bound, int64_t threads) {
  auto dims = state.dimensions();
  if (dims.size() != 3 || dims[1] != D || dims[2] != NP)
    return ffi::Error::InvalidArgument("state must be [B, d, padded n] of this machine");
  const int64_t B = dims[0];
  copy_into(state, x_out, sizeof(T) * B * D * NP);
  copy_into(steps, steps_out, sizeof(int32_t) * B);
  copy_into(done, done_out, sizeof(bool) * B);
  copy_into(worst, worst_out, sizeof(T) * B);
  copy_into(bad, bad_out, sizeof(int32_t) * B);
  auto c = std::make_shared<Chunk>();
  c->x = static_cast<T*>(x_out->untyped_data());
  c->halt = halt.typed_data();
  c->steps = steps_out->typed_data();
  c->done = done_out->typed_data();
  c->worst = static_cast<T*>(worst_out->untyped_data());
  c->bad = bad_out->typed_data();
  c->fixed = static_cast<const T*>(fixed.untyped_data());
  c->cards = B;
  c->groups = (B + L - 1) / L;
  c->max_steps = limits.typed_data()[0];
  c->length = limits.typed_data()[1];
  c->min_running = limits.typed_data()[2];
  int64_t running = 0;
  for (int64_t b = 0; b < B; ++b) running += still_running(c->done[b], c->steps[b], c->max_steps, c->bad[b]);
  c->running = running;
  c->pc_token = pc_token;
  c->pc_start = pc_start;
  c->pc_width = pc_width;
  c->bound = T(bound);
  share(pool, threads, c, claim_chunks);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(LoopedCardStep, step,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("threads"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(LoopedCardChunk, chunk,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::PRED>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("pc_token")
                                  .Attr<int64_t>("pc_start")
                                  .Attr<int64_t>("pc_width")
                                  .Attr<double>("bound")
                                  .Attr<int64_t>("threads"));
"""
