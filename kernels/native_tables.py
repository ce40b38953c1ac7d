"""The table form of the native code: the plan's weights as data, walked by fixed loops.

The literal form (kernels/native_gen.py) writes every weight into straight-line code. Its size,
and the compiler's time, grow with the weights: a FLEQ machine's source ran to megabytes and took
minutes to compile (issue 20). Here the weights become arrays (sparse sums: terms of an index and a
weight, in the order of the literal form's balanced sums) that the same few functions walk
(kernels/native_src/tables.cc); the code is the same for every machine, so the compile time is
bounded, and the arrays cost the compiler little (about 3 us a number).

It computes the same expressions in the same order as the literal form, so a card's result is the
same bit for bit in either form (tests/kernels/test_native_tables.py); it is slower per
instruction (the loops read the weights), and is chosen for machines whose literal code would be
too large (kernels/native.py: `choose_form`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kernels.plan import HeadPlan, MLPPlan, Plan


class Tables:
    """The arrays of one machine: sums of terms (TS: each sum's first term; TI, TJ: indices; TC,
    TB, TD: weights), lists (ML: length, then entries) and values (TV)."""

    def __init__(self):
        self.ts = [0]
        self.ti, self.tj, self.tc, self.tb, self.td = [], [], [], [], []
        self.ml, self.tv = [], []
        self.most_terms = 1

    def sum(self, terms) -> int:
        """A sum of terms (index, weight[, second index, bias, out weight]); its number."""
        for term in terms:
            i, c, j, b, d = (tuple(term) + (0, 0.0, 0.0))[:5]
            self.ti.append(int(i))
            self.tc.append(float(c))
            self.tj.append(int(j))
            self.tb.append(float(b))
            self.td.append(float(d))
        self.ts.append(len(self.ti))
        self.most_terms = max(self.most_terms, len(terms))
        return len(self.ts) - 2

    def list(self, values) -> int:
        """A list of ints; its offset in ML."""
        values = [int(v) for v in values]
        self.most_terms = max(self.most_terms, len(values) + 1)
        self.ml.append(len(values))
        self.ml.extend(values)
        return len(self.ml) - len(values) - 1

    def sums(self, term_lists) -> int:
        """Several sums, as a list of their numbers."""
        return self.list([self.sum(terms) for terms in term_lists])

    def values(self, values) -> int:
        self.tv.extend(float(v) for v in values)
        return len(self.tv) - len(values)

    def size(self) -> int:
        return len(self.ti)

    def source(self, ctype: str) -> str:
        def ints(name, values):
            return f"static const int {name}[] = {{{','.join(map(str, values)) or '0'}}};"

        def reals(name, values):
            return f"static const T {name}[] = {{{','.join(_real(v) for v in values) or '0'}}};"

        return "\n".join([ints("TS", self.ts), ints("TI", self.ti), ints("TJ", self.tj), reals("TC", self.tc),
                          reals("TB", self.tb), reals("TD", self.td), ints("ML", self.ml), reals("TV", self.tv),
                          f"constexpr int MAX_TERMS = {self.most_terms + 1};"])


def _real(v: float) -> str:
    """A weight as a literal of the state's type (rounded like a cast, as the literal form's)."""
    return "0" if v == 0 else f"T({float(v).hex()})"


def _nonzero(column) -> list[int]:
    return np.flatnonzero(np.asarray(column) != 0).tolist()


def scratch_head(tables: Tables, h: HeadPlan) -> str:
    """The ScratchHead initialiser of a head with scratch queries (kernels/native_gen.py `_query`,
    `_score`, `_output`)."""
    qv = tables.sums([[(h.q_rows[i], h.wq[i, j]) for i in _nonzero(h.wq[:, j])] for j in range(h.wq.shape[1])])
    u = tables.sums([[(j, h.wk[i, j]) for j in _nonzero(h.wk[i])] for i in range(len(h.k_rows))])
    out = tables.sums([[(i, h.wv[i, c]) for i in _nonzero(h.wv[:, c])] for c in range(len(h.v_cols))])
    return f"{{{qv}, {u}, {tables.list(h.k_rows)}, {tables.list(h.v_rows)}, {out}, {tables.list(h.v_cols)}}}"


def rest_head(tables: Tables, h: HeadPlan, lam: float) -> str:
    """The RestHead initialiser of a head with queries on the other tokens (`_rest_keys`, `_rest_token`)."""
    M = h.bilinear
    U = tables.sums([[(h.k_rows[b], M[a, b]) for b in _nonzero(M[a])] for a in range(len(h.q_rows))])
    V = tables.sums([[(h.v_rows[i], h.wv[i, c]) for i in _nonzero(h.wv[:, c])] for c in range(len(h.v_cols))])
    own = [(h.q_rows[a], lam * M[a, b], h.k_rows[b]) for a in range(M.shape[0]) for b in range(M.shape[1]) if M[a, b] != 0]
    sf = tables.list([tables.sum(own)])
    return f"{{{U}, {V}, {tables.list(h.q_rows)}, {sf}, {tables.list(h.v_cols)}}}"


def group(tables: Tables, g: MLPPlan) -> str:
    """The Group initialiser of an MLP group (`_units`)."""
    every = int(g.tokens == "all")
    if g.rowwise is not None:
        tb, rows = g.rowwise, []
        for i in range(len(g.in_rows)):
            terms = [(0, tb["b2"][i])] if tb["b2"][i] != 0 else []
            for u in range(tb["cin"].shape[1]):
                if tb["cout"][i, u] != 0:
                    kind = 2 if tb["bias"][i, u] != 0 else 1
                    terms.append((kind, tb["cin"][i, u], 0, tb["bias"][i, u], tb["cout"][i, u]))
            if tb["linear"][i] != 0:
                terms.append((3, tb["linear"][i]))
            rows.append(terms)
        rows_list = tables.list(g.in_rows)
        return f"{{1, {every}, {rows_list}, {tables.sums(rows)}, 0, 0, 0, 0, 0, {rows_list}, 0}}"
    units = g.w1.shape[1]
    unit_sums, kinds = [], []
    for u in range(units):
        ins = _nonzero(g.w1[:, u])
        unit_sums.append([(g.in_rows[i], g.w1[i, u]) for i in ins])
        kinds.append(2 if not ins else 1 if g.b1[u] != 0 else 0)
    out_sums = [[(u, g.w2[u, o]) for u in _nonzero(g.w2[:, o])] for o in range(len(g.out_cols))]
    okinds = [int(b != 0) for b in g.b2]
    return (f"{{0, {every}, 0, {tables.sums(unit_sums)}, {tables.list(kinds)}, {tables.values(g.b1)}, "
            f"{tables.sums(out_sums)}, {tables.list(okinds)}, {tables.values(g.b2)}, {tables.list(g.out_cols)}, {units}}}")


def functions(plan: Plan, lam: float, ctype: str) -> tuple[str, list[str], list[str]]:
    """The table form's functions (tables, the generic loops and a call per layer part) and the
    calls of one instruction: (source, one card's lines, a group's lines in the lanes form). The
    health figure's function comes from kernels/native_gen.py, as in the literal form."""
    tables, layers, card, lanes = Tables(), [], [], []
    for li, lay in enumerate(plan.layers):
        card.append(f"// layer {li}")
        lanes.append(f"// layer {li}")
        if li == plan.health_layer:
            card.append("*health = health_of(x);")
            lanes.append("health_of_lanes(xl, healths);")
        if lay.heads:
            scratch = [scratch_head(tables, h) for h in lay.heads if h.queries != "others"]
            rest = [rest_head(tables, h, lam) for h in lay.heads if h.queries != "scratch"]
            layers.append(f"static const ScratchHead scratch_heads{li}[] = {{{', '.join(scratch) or '{}'}}};")
            layers.append(f"static const RestHead rest_heads{li}[] = {{{', '.join(rest) or '{}'}}};")
            call = f"scratch_heads{li}, {len(scratch)}, rest_heads{li}, {len(rest)}"
            card.append(f"layer_heads<1>(x, {call});")
            lanes.append(f"layer_heads<L>(xl, {call});")
        if lay.mlps:
            layers.append(f"static const Group groups{li}[] = {{{', '.join(group(tables, g) for g in lay.mlps)}}};")
            card.append(f"layer_mlps<1>(x, groups{li}, {len(lay.mlps)});")
            lanes.append(f"layer_mlps<L>(xl, groups{li}, {len(lay.mlps)});")
    source = "\n\n".join([f"constexpr T LAM = T({float(lam).hex()});", tables.source(ctype), CODE, *layers])
    return source, card, lanes


def terms_of(plan: Plan) -> int:
    """How many terms the machine's tables hold (the table form's size)."""
    tables = Tables()
    for lay in plan.layers:
        for h in lay.heads:
            if h.queries != "others":
                scratch_head(tables, h)
            if h.queries != "scratch":
                rest_head(tables, h, 1.0)
        for g in lay.mlps:
            group(tables, g)
    return tables.size()


CODE = (Path(__file__).parent / "native_src" / "tables.cc").read_text()
