"""The kernel plan: everything the evaluators need to know about a stack, derived once, in NumPy.

A stack's weights are mostly zeros with a few repeated patterns. This module reads that structure
off the weights (and off the layers' hints, looped/layers.py) and hands it to the evaluators
(kernels/fast.py, kernels/batched.py, kernels/native.py, kernels/pallas.py), which differ only in
how they compute it:

* each head cut down to the rows it reads (`q_rows`, `k_rows`, `v_rows`) and the columns it
  writes (`v_cols`), with its query-key forms precomputed (`HeadPlan`);
* each layer's MLP parts grouped by token set and evaluated as one MLP per group (`MLPPlan`):
  * *row-wise* groups, whose every unit reads one feature and writes only that one (error
    correction, clears), as per-feature tables, with ReLU pairs that add up to a linear term
    folded into that term (`linear_pairs`);
  * general groups as sparse unit lists (each unit's inputs and outputs), or dense matrices;
* which features each layer writes and reads on the scratch tokens and on the others
  (`written_on_rest`, `read_on_rest`), and the rows the health figure is taken on.

Nothing here imports JAX: tests/kernels/test_plan.py checks the plan against the layer formula in NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A linear map whose outputs each read at most this many inputs is evaluated as a sum of
# single-feature terms (elementwise) rather than a matrix product.
SPARSE_TERMS = 4
# An MLP group whose units each read at most this many inputs (and at least GATHER_MIN_UNITS
# units) is evaluated by gathers rather than a dense matmul on the scratch tokens (MLPPlan.gathered).
GATHER_READS = 16
GATHER_MIN_UNITS = 256


# ---- index helpers ---------------------------------------------------------------------------------


def nonzero_rows(w: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.any(np.asarray(w) != 0, axis=1))


def nonzero_cols(w: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.any(np.asarray(w) != 0, axis=0))


def runs(idx) -> list[tuple[int, int, int]]:
    """Split an index list into (position, first, length) runs that are contiguous ascending
    (step 1) or constant (length counted, step 0 flagged by a negative length)."""
    idx = [int(i) for i in idx]
    out, p = [], 0
    while p < len(idx):
        q = p + 1
        if q < len(idx) and idx[q] == idx[p]:
            while q < len(idx) and idx[q] == idx[p]:
                q += 1
            out.append((p, idx[p], -(q - p)))
        else:
            while q < len(idx) and idx[q] == idx[q - 1] + 1:
                q += 1
            out.append((p, idx[p], q - p))
        p = q
    return out


def spans(features) -> list[tuple[int, int]]:
    """Sorted distinct features as (first, length) contiguous spans."""
    return [(first, length) for _, first, length in runs(sorted(set(int(f) for f in features)))]


# ---- linear maps ---------------------------------------------------------------------------------


def sparse_terms(rows: np.ndarray, w: np.ndarray) -> list | None:
    """w^T x[rows] as a sum of terms coef * x[features] (features [c], coef [c] or None for all
    ones), the k-th term holding each output's k-th input; None when some output reads more than
    SPARSE_TERMS inputs (a matrix product is better then)."""
    rows, w = np.asarray(rows), np.asarray(w)
    nnz = (w != 0).sum(axis=0)
    if not w.shape[1] or nnz.max(initial=0) > SPARSE_TERMS:
        return None
    terms = []
    for k in range(int(nnz.max(initial=0))):
        idx, coef = np.empty(w.shape[1], int), np.zeros(w.shape[1])
        for j in range(w.shape[1]):
            nz = np.flatnonzero(w[:, j])
            if k < len(nz):
                idx[j], coef[j] = rows[nz[k]], w[nz[k], j]
            else:  # pad with a zero coefficient on a feature this map reads anyway
                idx[j] = rows[nz[0]] if len(nz) else rows[0]
        terms.append((idx, None if np.all(coef == 1.0) else coef))
    return terms


# ---- MLP structure ------------------------------------------------------------------------------


def concatenated(parts):
    """The parts' hidden units side by side: (w1, b1, w2, b2)."""
    return (np.concatenate([p.w1 for p in parts], axis=1), np.concatenate([p.b1 for p in parts]),
            np.concatenate([p.w2 for p in parts], axis=0), np.sum([p.b2 for p in parts], axis=0))


def unit_rows(w1: np.ndarray, w2: np.ndarray) -> np.ndarray | None:
    """If every unit reads exactly one feature and writes only that feature, that feature per unit."""
    reads = [np.flatnonzero(w1[:, u]) for u in range(w1.shape[1])]
    if not all(len(r) == 1 for r in reads):
        return None
    rows = np.array([r[0] for r in reads], dtype=int)
    for u, row in enumerate(rows):
        written = np.flatnonzero(w2[u])
        if len(written) > 1 or (len(written) == 1 and written[0] != row):
            return None
    return rows


def rowwise_features(w1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> np.ndarray | None:
    """The feature of each unit when the MLP is row-wise (every unit reads one feature and writes
    at most that one, and the output bias sits on those features), else None."""
    rows = unit_rows(w1, w2)
    return rows if rows is not None and set(np.flatnonzero(b2)) <= set(rows.tolist()) else None


def part_groups(layer) -> list[list]:
    """The layer's MLP parts grouped by token set, row-wise parts apart from the others (each
    group is evaluated as one MLP)."""
    groups = []
    parts = [p for p in layer.parts if p.hidden > 0]
    for tokens in ("scratch", "all"):
        chosen = [(p, rowwise_features(p.w1, p.w2, p.b2) is not None) for p in parts if p.tokens == tokens]
        rowwise = [p for p, is_rowwise in chosen if is_rowwise]
        other = [p for p, is_rowwise in chosen if not is_rowwise]
        groups += [group for group in (rowwise, other) if group]
    return groups


def sort_units(w1: np.ndarray, w2: np.ndarray, b1: np.ndarray):
    """Reorder hidden units so that units with the same input pattern and successive rows sit
    next to each other (their column slices are then contiguous)."""

    def key(u):
        nz = np.flatnonzero(w1[:, u])
        out = np.flatnonzero(w2[u])
        return (tuple(np.round(w1[nz, u], 9)), tuple(np.round(w2[u, out], 9)), len(nz), tuple(nz), tuple(out))

    order = sorted(range(w1.shape[1]), key=key)
    return w1[:, order], w2[order], b1[order]


def linear_pairs(units):
    """A feature's row-wise units [(coefficient in, bias, coefficient out)] as (linear coefficient,
    remaining units): a pair c relu(a x) - c relu(-a x) is exactly the linear term a c x (one of
    the two is zero), so error correction and clears need fewer ReLUs."""
    units, linear = list(units), 0.0
    k = 0
    while k < len(units):
        a, b, c = units[k]
        partner = next((j for j in range(k + 1, len(units)) if b == 0 and units[j] == (-a, 0.0, -c)), None)
        if partner is None:
            k += 1
            continue
        linear += a * c
        del units[partner], units[k]
    return linear, units


# ---- the plan ------------------------------------------------------------------------------------


@dataclass
class HeadPlan:
    """A head cut to the rows it reads and the columns it writes (float64 NumPy weights)."""

    queries: str  # "all", "scratch" or "others" (looped/layers.py)
    keys: str  # "all" or "scratch+self"
    q_rows: np.ndarray
    k_rows: np.ndarray
    v_rows: np.ndarray
    v_cols: np.ndarray
    wq: np.ndarray  # [len(q_rows), k]
    wk: np.ndarray  # [len(k_rows), k]
    wv: np.ndarray  # [len(v_rows), len(v_cols)]

    @classmethod
    def of(cls, head) -> "HeadPlan":
        q_rows, k_rows = nonzero_rows(head.wq), nonzero_rows(head.wk)
        v_rows, v_cols = nonzero_rows(head.wv), nonzero_cols(head.wv)
        return cls(head.queries, head.keys, q_rows, k_rows, v_rows, v_cols,
                   np.asarray(head.wq[q_rows], float), np.asarray(head.wk[k_rows], float),
                   np.asarray(head.wv[np.ix_(v_rows, v_cols)], float))

    @property
    def bilinear(self) -> np.ndarray:
        """M [len(q_rows), len(k_rows)] = wq wk^T: the score of query x and key y is x[q_rows] M y[k_rows]."""
        return self.wq @ self.wk.T

    @property
    def reads_on_rest(self) -> set[int]:
        rows = set(self.k_rows.tolist()) | set(self.v_rows.tolist())
        return rows | set(self.q_rows.tolist()) if self.queries != "scratch" else rows


@dataclass
class MLPPlan:
    """MLP parts of one token set evaluated as one MLP.

    Row-wise (`rowwise` is not None): feature in_rows[i] gets
        b2[i] + sum_u cout[i, u] relu(cin[i, u] x + bias[i, u]) + linear[i] x   (x: that feature)
    summed in that order: an error correction's linear term is -x, and added last it cancels a
    tiny x exactly (added first, the bias absorbs it and x survives the correction).
    General: hidden = relu(x[in_rows] @ w1 + b1), update on out_cols = hidden @ w2 + b2, with units
    that can never fire dropped and units sorted so that similar ones are adjacent."""

    tokens: str  # "scratch" or "all"
    in_rows: np.ndarray
    out_cols: np.ndarray
    rowwise: dict | None = None  # cin, bias, cout [rows, units]; linear, b2 [rows]
    w1: np.ndarray | None = None  # [len(in_rows), units]
    b1: np.ndarray | None = None  # [units]
    w2: np.ndarray | None = None  # [units, len(out_cols)]
    b2: np.ndarray | None = None  # [len(out_cols)]

    @classmethod
    def of(cls, parts) -> "MLPPlan":
        w1, b1, w2, b2 = concatenated(parts)
        features = rowwise_features(w1, w2, b2)
        tokens = parts[0].tokens
        if features is not None:
            rows = np.unique(features)
            per_row = [linear_pairs([(w1[r, u], b1[u], w2[u, r]) for u in np.flatnonzero(features == r)]) for r in rows]
            U = max(len(units) for _, units in per_row)
            cin, bias, cout = (np.zeros((len(rows), U)) for _ in range(3))
            for i, (_, units) in enumerate(per_row):
                for j, (a, b, c) in enumerate(units):
                    cin[i, j], bias[i, j], cout[i, j] = a, b, c
            tables = {"cin": cin, "bias": bias, "cout": cout, "linear": np.array([lin for lin, _ in per_row], float),
                      "b2": np.asarray(b2[rows], float)}
            return cls(tokens, rows, rows, rowwise=tables)
        w1, w2, b1 = sort_units(w1, w2, b1)
        in_rows = nonzero_rows(w1)
        live = np.flatnonzero(np.any(w1 != 0, axis=0) | (b1 > 0))  # units that can ever fire
        out_cols = np.union1d(nonzero_cols(w2[live]), np.flatnonzero(b2)).astype(int)
        return cls(tokens, in_rows, out_cols, None, np.asarray(w1[np.ix_(in_rows, live)], float),
                   np.asarray(b1[live], float), np.asarray(w2[np.ix_(live, out_cols)], float),
                   np.asarray(b2[out_cols], float))

    @property
    def units(self) -> int:
        return self.rowwise["cin"].shape[1] if self.rowwise is not None else self.w1.shape[1]

    def sparse_units(self):
        """The general form unit by unit, where every unit reads and every output sums at most
        SPARSE_TERMS terms: ([(input position, coef)] per unit, [(unit, coef)] per output);
        None otherwise. Positions index in_rows."""
        if self.rowwise is not None:
            return None
        if max((self.w1 != 0).sum(axis=0).max(initial=0), (self.w2 != 0).sum(axis=0).max(initial=0)) > SPARSE_TERMS:
            return None
        reads = [[(int(i), float(self.w1[i, u])) for i in np.flatnonzero(self.w1[:, u])] for u in range(self.w1.shape[1])]
        writes = [[(int(u), float(self.w2[u, o])) for u in np.flatnonzero(self.w2[:, o])] for o in range(self.w2.shape[1])]
        return reads, writes

    def gathered(self) -> dict | None:
        """The general form as gathers, for MLPs with many units that each read a few of many
        inputs (FLEQ's function blocks, gated per row: a dense matmul there does in_rows times the
        work): None where a unit reads more than GATHER_READS inputs or a unit reads a quarter of
        the inputs or more (the matmul is cheaper then).

            hidden[u] = relu(b1[u] + sum_k w_in[k, u] x[in_index[k, u]])       (in_index into in_rows)
            update[o] = b2[o] + sum_e w_out[o, e] hidden[out_index[o, e]]     (out_index into units)

        The outputs come in `buckets` (outputs, out_index, w_out) of similar unit counts, their
        results concatenated and put back in order by `order`. Padding reads feature 0 with
        coefficient 0; padded outputs read the extra unit `units`, which the evaluator appends as
        a row of zeros."""
        if self.rowwise is not None or not self.w1.shape[1]:
            return None
        w1, w2 = self.w1, self.w2
        reads_per_unit = (w1 != 0).sum(axis=0)
        R = int(reads_per_unit.max(initial=0))
        if R > GATHER_READS or 4 * R > len(self.in_rows) or self.w1.shape[1] < GATHER_MIN_UNITS:
            return None
        units = w1.shape[1]
        in_index, w_in = np.zeros((R, units), int), np.zeros((R, units))
        for u in range(units):
            nz = np.flatnonzero(w1[:, u])
            in_index[: len(nz), u], w_in[: len(nz), u] = nz, w1[nz, u]
        per_output = [np.flatnonzero(w2[:, o]) for o in range(w2.shape[1])]
        # Outputs in buckets of similar unit counts (up to a power of two), so that one output that
        # sums thousands of units does not pad every other output to thousands.
        buckets = {}
        for o, nz in enumerate(per_output):
            buckets.setdefault(max(1, 1 << int(np.ceil(np.log2(max(len(nz), 1))))), []).append(o)
        out = []
        for E, outputs in sorted(buckets.items()):
            out_index, w_out = np.full((len(outputs), E), units, int), np.zeros((len(outputs), E))
            for i, o in enumerate(outputs):
                nz = per_output[o]
                out_index[i, : len(nz)], w_out[i, : len(nz)] = nz, w2[nz, o]
            out.append((np.array(outputs, int), out_index, w_out))
        order = np.concatenate([outputs for outputs, _, _ in out])
        return {"in_index": in_index, "w_in": w_in, "buckets": out, "order": np.argsort(order)}

    def evaluate(self, A: np.ndarray) -> np.ndarray:
        """The group's update on out_cols for tokens A [t, d] (NumPy, float64)."""
        if self.rowwise is not None:
            t = self.rowwise
            x = A[:, self.in_rows]
            out = t["b2"]
            for u in range(t["cin"].shape[1]):
                out = out + t["cout"][:, u] * np.maximum(x * t["cin"][:, u] + t["bias"][:, u], 0.0)
            return out + t["linear"] * x
        hidden = np.maximum(A[:, self.in_rows] @ self.w1 + self.b1, 0.0)
        return hidden @ self.w2 + self.b2


@dataclass
class LayerPlan:
    heads: list[HeadPlan]
    mlps: list[MLPPlan]


@dataclass
class Plan:
    """The evaluators' view of a stack."""

    d: int
    scratch_tokens: int
    layers: list[LayerPlan]
    corrected_rows: np.ndarray  # the health figure's rows
    health_layer: int  # the health figure is taken on this layer's input
    per_card: bool
    written_on_rest: np.ndarray = field(default=None)  # features some layer writes on the other tokens
    read_on_rest: np.ndarray = field(default=None)  # features some layer (or the health figure) reads there

    @classmethod
    def of(cls, stack) -> "Plan":
        layers = [LayerPlan([HeadPlan.of(h) for h in lay.heads], [MLPPlan.of(g) for g in part_groups(lay)])
                  for lay in stack.layers]
        corrected = np.asarray(stack.corrected_rows, int)
        written, read = set(), set(corrected.tolist())
        for lay in layers:
            for h in lay.heads:
                if h.queries != "scratch":
                    written |= set(h.v_cols.tolist())
                read |= h.reads_on_rest
            for m in lay.mlps:
                if m.tokens == "all":
                    written |= set(m.out_cols.tolist())
                    read |= set(m.in_rows.tolist())
        return cls(stack.layers[0].d, stack.scratch_tokens, layers, corrected, stack.health_layer, stack.per_card,
                   np.array(sorted(written), int), np.array(sorted(read), int))

    @property
    def moving_health_rows(self) -> np.ndarray:
        """Corrected rows that some layer writes on the non-scratch tokens: there the health figure
        must read them every step (on the scratch tokens it reads every corrected row)."""
        written = set(self.written_on_rest.tolist())
        return np.array([f for f in self.corrected_rows.tolist() if f in written], int)

    @property
    def fixed_health_rows(self) -> np.ndarray:
        """The other corrected rows: on the non-scratch tokens they never change while a card runs,
        so their distance from the lattice can be measured once, when the card is opened."""
        written = set(self.written_on_rest.tolist())
        return np.array([f for f in self.corrected_rows.tolist() if f not in written], int)

    @property
    def written_on_scratch(self) -> np.ndarray:
        cols = set()
        for lay in self.layers:
            for h in lay.heads:
                if h.queries != "others":
                    cols |= set(h.v_cols.tolist())
            for m in lay.mlps:
                cols |= set(m.out_cols.tolist())
        return np.array(sorted(cols), int)

    def write_sets(self, tokens: str) -> list[np.ndarray]:
        """Every feature set one part writes at once, on the scratch tokens ("scratch") or the
        others ("rest")."""
        sets = []
        for lay in self.layers:
            for h in lay.heads:
                if (h.queries != "others") if tokens == "scratch" else (h.queries != "scratch"):
                    sets.append(h.v_cols)
            for m in lay.mlps:
                if tokens == "scratch" or m.tokens == "all":
                    sets.append(m.out_cols)
        return sets

    def apply(self, X: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
        """One instruction on one card X [n, d], in float64 NumPy, from the plan alone (every key
        for every query; MLP groups on their token sets): the reference that tests hold the plan
        to, against the layer formula."""
        X = np.array(X, dtype=np.float64)
        s = self.scratch_tokens
        health = 0.0
        for i, lay in enumerate(self.layers):
            if i == self.health_layer:
                v = X[:, self.corrected_rows]
                health = float(np.max(np.abs(v - np.clip(np.round(v), -1, 1)), initial=0.0))
            A = X.copy()
            for h in lay.heads:
                q = X[:, h.q_rows] @ h.wq
                k = X[:, h.k_rows] @ h.wk
                scores = lam * q @ k.T
                scores -= scores.max(axis=1, keepdims=True)
                p = np.exp(scores)
                p /= p.sum(axis=1, keepdims=True)
                out = p @ (X[:, h.v_rows] @ h.wv)
                queries = {"all": np.arange(len(X)), "scratch": np.arange(s), "others": np.arange(s, len(X))}[h.queries]
                A[np.ix_(queries, h.v_cols)] += out[queries]
            X = A.copy()
            for m in lay.mlps:
                tokens = slice(0, s) if m.tokens == "scratch" else slice(None)
                X[tokens, m.out_cols] += m.evaluate(A[tokens])
        return X, health

