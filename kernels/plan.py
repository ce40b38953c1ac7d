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

import functools
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


def _dense(entries, shape) -> np.ndarray:
    w = np.zeros(shape)
    np.add.at(w, (entries[0], entries[1]), entries[2])
    return w


def part_weights(part):
    """An MLP part's weights as (features, units, coefs) of w1 and (units, features, coefs) of w2:
    the part's own sparse form where it has one (looped/layers.py UnitsMLP), else from its dense
    matrices."""
    sparse = getattr(part, "sparse", None)
    if sparse is not None:
        return sparse
    rf, ru = np.nonzero(part.w1)
    wu, wf = np.nonzero(part.w2)
    return (rf, ru, np.asarray(part.w1[rf, ru], float)), (wu, wf, np.asarray(part.w2[wu, wf], float))


def sparse_rowwise_features(reads, writes, b2, units: int) -> np.ndarray | None:
    """rowwise_features from sparse weights: each unit's one feature, or None."""
    (rf, ru, _), (wu, wf, _) = reads, writes
    if len(ru) != units or np.any(np.bincount(ru, minlength=units) != 1):
        return None
    features = np.empty(units, int)
    features[ru] = rf
    if np.any(np.bincount(wu, minlength=units) > 1) or np.any(wf != features[wu]):
        return None
    return features if set(np.flatnonzero(b2).tolist()) <= set(features.tolist()) else None


def sparse_unit_order(reads, writes, units: int) -> list[int]:
    """sort_units' order from sparse weights."""
    def per_unit(u_idx, f_idx, coefs):
        order = np.lexsort((f_idx, u_idx))
        u_idx, f_idx, coefs = u_idx[order], f_idx[order], np.round(coefs[order], 9)
        cuts = np.searchsorted(u_idx, np.arange(units + 1)).tolist()
        f_list, c_list = f_idx.tolist(), coefs.tolist()
        return ([tuple(f_list[a:b]) for a, b in zip(cuts[:-1], cuts[1:])],
                [tuple(c_list[a:b]) for a, b in zip(cuts[:-1], cuts[1:])])

    (rf, ru, rc), (wu, wf, wc) = reads, writes
    r_feat, r_coef = per_unit(ru, rf, rc)
    w_feat, w_coef = per_unit(wu, wf, wc)
    return sorted(range(units), key=lambda u: (r_coef[u], w_coef[u], len(r_feat[u]), r_feat[u], w_feat[u]))


def unit_nonzeros(w: np.ndarray) -> list[np.ndarray]:
    """The non-zero rows of each column of w (one pass over w, not one strided scan per column)."""
    cols, rows = np.nonzero(np.asarray(w).T)
    return np.split(rows, np.searchsorted(cols, np.arange(1, w.shape[1])))


def unit_rows(w1: np.ndarray, w2: np.ndarray) -> np.ndarray | None:
    """If every unit reads exactly one feature and writes only that feature, that feature per unit."""
    reads = w1 != 0
    if not np.all(reads.sum(axis=0) == 1):
        return None
    rows = np.argmax(reads, axis=0)
    writes = w2 != 0
    counts = writes.sum(axis=1)
    if np.any(counts > 1):
        return None
    written = counts == 1
    if np.any(np.argmax(writes, axis=1)[written] != rows[written]):
        return None
    return rows


def rowwise_features(w1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> np.ndarray | None:
    """The feature of each unit when the MLP is row-wise (every unit reads one feature and writes
    at most that one, and the output bias sits on those features), else None."""
    rows = unit_rows(w1, w2)
    return rows if rows is not None and set(np.flatnonzero(b2)) <= set(rows.tolist()) else None


def part_groups(layer, scratch_tokens: int = 1) -> list[list]:
    """The layer's MLP parts grouped by token set, row-wise parts apart from the others (each
    group is evaluated as one MLP). General scratch parts that act only where selected
    (MLP.skip_where) and not small (SELECTED_GROUP_WORK) form groups of their own, one per "not
    selected" row, after the others: an evaluator may leave such a group out (kernels/invariant.py)."""
    groups = []
    parts = [p for p in layer.parts if p.hidden > 0]
    for tokens in ("scratch", "all"):
        chosen = [(p, sparse_rowwise_features(*part_weights(p), p.b2, len(p.b1)) is not None)
                  for p in parts if p.tokens == tokens]
        rowwise = [p for p, is_rowwise in chosen if is_rowwise]
        other = [p for p, is_rowwise in chosen if not is_rowwise]
        apart: dict[int, list] = {}
        if tokens == "scratch":
            for p in other:
                if p.skip_where is not None and p.hidden * scratch_tokens >= SELECTED_GROUP_WORK:
                    apart.setdefault(p.skip_where, []).append(p)
            # (the same row's smaller parts join its group: one skip covers them all)
            for p in other:
                if p.skip_where in apart and all(p is not q for q in apart[p.skip_where]):
                    apart[p.skip_where].append(p)
            other = [p for p in other if p.skip_where not in apart]
        groups += [group for group in (rowwise, other) if group] + list(apart.values())
    return groups


# Units x scratch tokens from which a general MLP part that acts only where selected is a group
# of its own (part_groups), which an evaluator may leave out where no card selects it
# (kernels/invariant.py). Measured, one card and 32: a calculator 47 -> 33 and 356 -> 313 us an
# iteration, a 4 x 4 inverse 49 -> 48 and 600 -> 524 us, against 1,600; at 0 (every marked part
# apart) a few % more, but each machine compiled 0.5-1 s slower. The grouping is the card's (its
# sums' order must not depend on the batch); only the skipping depends on the batch.
SELECTED_GROUP_WORK = 500


def sort_units(w1: np.ndarray, w2: np.ndarray, b1: np.ndarray):
    """Reorder hidden units so that units with the same input pattern and successive rows sit
    next to each other (their column slices are then contiguous)."""
    def per_unit(w_units_first):  # each unit's non-zero features and their rounded coefficients, as lists
        units, features = np.nonzero(w_units_first)
        cuts = np.searchsorted(units, np.arange(1, w_units_first.shape[0])).tolist()
        coefs = np.round(w_units_first[units, features], 9).tolist()
        features = features.tolist()
        bounds = list(zip([0] + cuts, cuts + [len(features)]))
        return [tuple(features[a:b]) for a, b in bounds], [tuple(coefs[a:b]) for a, b in bounds]

    reads, read_coefs = per_unit(w1.T)
    writes, write_coefs = per_unit(w2)
    order = sorted(range(w1.shape[1]),
                   key=lambda u: (read_coefs[u], write_coefs[u], len(reads[u]), reads[u], writes[u]))
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
    skip_where: int | None = None  # the head acts only where this row is 0 (looped/layers.py)

    @classmethod
    def of(cls, head) -> "HeadPlan":
        q_rows, k_rows = nonzero_rows(head.wq), nonzero_rows(head.wk)
        entries = getattr(head, "value_entries", None)  # a value map kept sparse (looped/layers.py)
        if entries is not None:
            src, dst, coef = entries
            v_rows, v_cols = np.unique(src), np.unique(dst)
            wv = np.zeros((len(v_rows), len(v_cols)))
            np.add.at(wv, (np.searchsorted(v_rows, src), np.searchsorted(v_cols, dst)), coef)
        else:
            v_rows, v_cols = nonzero_rows(head.wv), nonzero_cols(head.wv)
            wv = np.asarray(head.wv[np.ix_(v_rows, v_cols)], float)
        return cls(head.queries, head.keys, q_rows, k_rows, v_rows, v_cols,
                   np.asarray(head.wq[q_rows], float), np.asarray(head.wk[k_rows], float), wv,
                   getattr(head, "skip_where", None))

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
    b1: np.ndarray | None = None  # [units]
    b2: np.ndarray | None = None  # [len(out_cols)]
    # General form, sparse: (in position, unit, coef) of w1 [len(in_rows), units] and (unit, out
    # position, coef) of w2 [units, len(out_cols)]; the dense w1 and w2 are made when asked for.
    reads: tuple | None = None
    writes: tuple | None = None
    # Every part of the group acts only where this row is 0 (looped/layers.py skip_where), or None.
    skip_where: int | None = None

    @functools.cached_property
    def w1(self) -> np.ndarray | None:
        return None if self.reads is None else _dense(self.reads, (len(self.in_rows), len(self.b1)))

    @functools.cached_property
    def w2(self) -> np.ndarray | None:
        return None if self.writes is None else _dense(self.writes, (len(self.b1), len(self.out_cols)))

    @classmethod
    def of(cls, parts) -> "MLPPlan":
        """From the parts' sparse weights (part_weights): never a dense [d, units] matrix (FLEQ's
        span thousands of rows and units, of which each unit touches a few)."""
        reads, writes, b1, b2, offset = [], [], [], 0.0, 0
        for p in parts:
            (rf, ru, rc), (wu, wf, wc) = part_weights(p)
            reads.append((rf, ru + offset, rc))
            writes.append((wu + offset, wf, wc))
            b1.append(np.asarray(p.b1, float))
            b2 = b2 + np.asarray(p.b2, float)
            offset += len(p.b1)
        rf, ru, rc = (np.concatenate(a) for a in zip(*reads))
        wu, wf, wc = (np.concatenate(a) for a in zip(*writes))
        plan = cls._of_sparse((rf.astype(int), ru.astype(int), rc), (wu.astype(int), wf.astype(int), wc),
                              np.concatenate(b1), np.asarray(b2, float), parts[0].tokens)
        rows = {p.skip_where for p in parts}
        plan.skip_where = rows.pop() if len(rows) == 1 else None
        return plan

    @classmethod
    def _of_sparse(cls, reads, writes, b1, b2, tokens) -> "MLPPlan":
        (rf, ru, rc), (wu, wf, wc) = reads, writes
        units = len(b1)
        features = sparse_rowwise_features(reads, writes, b2, units)
        if features is not None:
            rows = np.unique(features)
            read_coef = np.zeros(units)
            read_coef[ru] = rc
            write_coef = np.zeros(units)
            mine = wf == features[wu]
            write_coef[wu[mine]] = wc[mine]
            by_row = np.argsort(features, kind="stable")
            groups = np.split(by_row, np.searchsorted(features[by_row], rows[1:]))
            per_row = [linear_pairs([(read_coef[u], b1[u], write_coef[u]) for u in group.tolist()]) for group in groups]
            U = max(len(units) for _, units in per_row)
            cin, bias, cout = (np.zeros((len(rows), U)) for _ in range(3))
            for i, (_, units) in enumerate(per_row):
                for j, (a, b, c) in enumerate(units):
                    cin[i, j], bias[i, j], cout[i, j] = a, b, c
            tables = {"cin": cin, "bias": bias, "cout": cout, "linear": np.array([lin for lin, _ in per_row], float),
                      "b2": np.asarray(b2[rows], float)}
            return cls(tokens, rows, rows, rowwise=tables)
        order = sparse_unit_order(reads, writes, units)
        rank = np.empty(units, int)
        rank[order] = np.arange(units)
        b1 = b1[order]
        ru, wu = rank[ru], rank[wu]
        reads_any = np.zeros(units, bool)
        reads_any[ru] = True
        live = np.flatnonzero(reads_any | (b1 > 0))  # units that can ever fire
        new_unit = np.full(units, -1)
        new_unit[live] = np.arange(len(live))
        in_rows = np.unique(rf)
        keep = new_unit[wu] >= 0
        out_cols = np.union1d(wf[keep], np.flatnonzero(b2)).astype(int)
        keep_r = new_unit[ru] >= 0
        return cls(tokens, in_rows, out_cols, None, np.asarray(b1[live], float), np.asarray(b2[out_cols], float),
                   (np.searchsorted(in_rows, rf[keep_r]), new_unit[ru[keep_r]], rc[keep_r]),
                   (new_unit[wu[keep]], np.searchsorted(out_cols, wf[keep]), wc[keep]))

    @property
    def units(self) -> int:
        return self.rowwise["cin"].shape[1] if self.rowwise is not None else len(self.b1)

    def sparse_units(self):
        """The general form unit by unit, where every unit reads and every output sums at most
        SPARSE_TERMS terms: ([(input position, coef)] per unit, [(unit, coef)] per output);
        None otherwise. Positions index in_rows."""
        if self.rowwise is not None:
            return None
        (ri, ru, rc), (wu, wo, wc) = self.reads, self.writes
        if max(np.bincount(ru, minlength=1).max(), np.bincount(wo, minlength=1).max()) > SPARSE_TERMS:
            return None
        reads = [[] for _ in range(self.units)]
        for i, u, c in sorted(zip(ri.tolist(), ru.tolist(), rc.tolist())):
            reads[u].append((i, c))
        writes = [[] for _ in range(len(self.out_cols))]
        for u, o, c in sorted(zip(wu.tolist(), wo.tolist(), wc.tolist())):
            writes[o].append((u, c))
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
        if self.rowwise is not None or not self.units:
            return None
        units = self.units
        (ri, ru, rc), (wu, wo, wc) = self.reads, self.writes
        R = int(np.bincount(ru, minlength=units).max(initial=0))
        if R > GATHER_READS or 4 * R > len(self.in_rows) or units < GATHER_MIN_UNITS:
            return None
        in_index, w_in = np.zeros((max(R, 1), units), int), np.zeros((max(R, 1), units))
        order = np.lexsort((ri, ru))
        ri, ru, rc = ri[order], ru[order], rc[order]
        slot = np.arange(len(ru)) - np.searchsorted(ru, ru)  # k: the read's place among its unit's reads
        in_index[slot, ru], w_in[slot, ru] = ri, rc
        order = np.lexsort((wu, wo))
        wu, wo, wc = wu[order], wo[order], wc[order]
        counts = np.bincount(wo, minlength=len(self.out_cols))
        place = np.arange(len(wo)) - np.searchsorted(wo, wo)
        # Outputs in buckets of similar unit counts (up to a power of two), so that one output that
        # sums thousands of units does not pad every other output to thousands.
        size = np.array([max(1, 1 << int(np.ceil(np.log2(max(int(c), 1))))) for c in counts])
        out = []
        for E in sorted(set(size.tolist())):
            outputs = np.flatnonzero(size == E)
            where = np.full(len(self.out_cols), -1)
            where[outputs] = np.arange(len(outputs))
            out_index, w_out = np.full((len(outputs), E), units, int), np.zeros((len(outputs), E))
            mine = where[wo] >= 0
            out_index[where[wo[mine]], place[mine]] = wu[mine]
            w_out[where[wo[mine]], place[mine]] = wc[mine]
            out.append((outputs, out_index, w_out))
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
    name: str = ""


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
    state_rows: np.ndarray | None = None  # the rows that carry a card's state between steps (Stack.state_rows)

    @classmethod
    def of(cls, stack) -> "Plan":
        layers = [LayerPlan([HeadPlan.of(h) for h in lay.heads],
                            [MLPPlan.of(g) for g in part_groups(lay, stack.scratch_tokens)], lay.name)
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
        state = getattr(stack, "state_rows", None)
        return cls(stack.layers[0].d, stack.scratch_tokens, layers, corrected, stack.health_layer, stack.per_card,
                   np.array(sorted(written), int), np.array(sorted(read), int),
                   None if state is None else np.array(sorted(state), int))

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

