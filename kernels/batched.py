"""The fast evaluation for a whole batch at once: the batch is the innermost axis.

kernels/fast.py evaluates one card, and a batch is its vmap: every operation then works on
[B, features, tokens] arrays whose innermost axis is the card's token count (31 for n = 32), and
the contractions between two state-dependent operands become batched matrix products of tiny
matrices. On a CPU both are slow (measured: the same elementwise correction takes 3x longer on
[64, 13, 31] than on [13, 31, 64]; XLA's batched dots loop over the batch).

Here every piece of state is feature-major with the batch innermost, [features, tokens, B], so
that:

* every elementwise op runs along contiguous runs of B cards (vectorised, no remainder per card);
* a contraction between two state-dependent operands (scores, softmax sums, pooled values) is a
  chain of products of slices, fused by XLA into one loop (no batched dot, no library reduction);
* a linear map by a weight matrix is one matrix product with all tokens of all cards as columns,
  or, where each output reads a few inputs, a sum of single feature rows; sparse MLPs on the
  other tokens run unit by unit, so that a whole layer's update is one fused loop per piece;
* row-wise ReLU pairs that add up to a linear term (in error correction and clears) are
  evaluated as that term.

Written features live in *pieces*: per token set (scratch, other tokens), the coarsest split of
the written features such that every layer writes whole pieces, so an update is a plain
elementwise add (no scatter, no partial copies); features that are only read stay in read-only
runs. Values that many consumers read (softmax scores, maxima, weights, each layer's attention
output) are materialised at explicit boundaries (`materializer`).

Like kernels/fast.py it is an evaluator of the kernel plan (kernels/plan.py: heads cut to their
rows, MLP groups with their row-wise tables and sparse unit lists, the features each part writes
and reads), and computes the same machine: tests/kernels/test_batched.py compares it with the dense
kernel after every step (raw state within the correction bound, every feature decoding alike).
The fast backend uses it where it is faster (`preferred`): cards of up to a few hundred tokens,
and batches of 16 cards or more.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from kernels.common import PRECISION, BatchOps, as_array, as_plan, take_rows
from kernels.plan import HeadPlan, MLPPlan, sparse_terms, spans


def preferred(batch: int, width: int) -> bool:
    """Whether the fast backend should evaluate `batch` cards of `width` tokens this way rather
    than as a vmap of kernels/fast.py. Measured on a 2-core CPU (16-bit words): this form is
    faster for cards up to a few hundred tokens at any batch size (2.8x at n = 64, batch 1) and
    for 16 cards or more at any width; one wide card is cheaper per card (kernels/fast.py keeps the
    tokens innermost, where its reductions over tokens vectorise)."""
    return width <= 384 or batch >= 16


# ---- linear maps along the feature axis --------------------------------------------------------------


@dataclass
class FeatureMap:
    """y[c] = sum_r w[r, c] x[rows[r]] for a static w, on arrays whose leading axis is features.
    As a sum of row slices where each output reads at most SPARSE_TERMS inputs, else one matmul
    with every other axis flattened into its columns."""

    rows: np.ndarray
    c: int
    wt: jax.Array | None  # [c, len(rows)]
    terms: list  # [(features [c], coefficients [c] or None)]

    @classmethod
    def build(cls, rows, w: np.ndarray, dtype) -> "FeatureMap":
        rows, w = np.asarray(rows, int), np.asarray(w, float)
        terms = sparse_terms(rows, w)
        if terms is not None:
            return cls(rows, w.shape[1], None, terms)
        return cls(rows, w.shape[1], as_array(w.T, dtype), [])

    def __call__(self, take_fn):
        """take_fn(features) -> [len(features), ...]; returns [c, ...]."""
        if self.wt is not None:
            x = take_fn(self.rows)
            y = jnp.matmul(self.wt, x.reshape(x.shape[0], -1), precision=PRECISION)
            return y.reshape((self.c,) + x.shape[1:])
        out = None
        for idx, coef in self.terms:
            term = take_fn(idx)
            if coef is not None:
                term = term * jnp.asarray(coef, term.dtype).reshape((-1,) + (1,) * (term.ndim - 1))
            out = term if out is None else out + term
        return out


def materializer(probe):
    """keep(x): x, computed once into a buffer of its own before its consumers run.

    XLA:CPU fuses cheap producers (slices, maxima, sums) into every consumer and recomputes them
    per element: the softmax's max over all tokens was being redone for every token. An
    optimisation barrier does not stop that on CPU; a conditional is a boundary no fusion
    crosses. Both branches return x, so the predicate `probe` (a boolean read off the state,
    shared by every boundary of a step) never matters.
    (Measured with a read head at batch 64: 12 us without, 6 us with.) Elsewhere than on a CPU
    the values pass straight through: a GPU conditional waits for its predicate on the host."""
    if jax.default_backend() != "cpu":
        return lambda x: x

    def keep(x):
        return jax.lax.cond(probe, lambda v: v, lambda v: jax.tree_util.tree_map(lambda a: a * 1, v), x)

    return keep


def keep_pieces(keep, *selections) -> list[tuple]:
    """For each (pieces, indices): the pieces tuple with those at `indices` passed through `keep`,
    all selections through one boundary; the other pieces as they are."""
    kept = keep([[pieces[k] for k in indices] for pieces, indices in selections])
    out = []
    for (pieces, indices), values in zip(selections, kept):
        pieces = list(pieces)
        for k, v in zip(indices, values):
            pieces[k] = v
        out.append(tuple(pieces))
    return out


def changed(before, after) -> list[int]:
    """The indices of the pieces a layer wrote (new arrays; the others are passed on as they were)."""
    return [k for k in range(len(after)) if after[k] is not before[k]]


# Reductions chain at most this many slices; longer axes are folded in groups of this size first.
CHAIN = 32


def fold(op, x, axis: int, identity: float):
    """Reduce x over `axis` with `op` as chains of elementwise ops on its slices, which XLA fuses
    into one vectorised loop over the remaining axes per chain. (Measured: XLA's CPU reductions
    over a leading or middle axis, handed to its YNN library, cost up to 100x more at these sizes;
    a tree of halving slices is split into one kernel per level.) An axis longer than CHAIN is
    padded with `identity`, split into groups of CHAIN and reduced group-wise first."""
    axis = axis % x.ndim
    while x.shape[axis] > CHAIN:
        groups = -(-x.shape[axis] // CHAIN)
        pad = groups * CHAIN - x.shape[axis]
        if pad:
            filler = jnp.full(x.shape[:axis] + (pad,) + x.shape[axis + 1 :], identity, x.dtype)
            x = jnp.concatenate([x, filler], axis=axis)
        x = fold(op, x.reshape(x.shape[:axis] + (groups, CHAIN) + x.shape[axis + 1 :]), axis + 1, identity)
    out = jax.lax.index_in_dim(x, 0, axis, keepdims=False)
    for i in range(1, x.shape[axis]):
        out = op(out, jax.lax.index_in_dim(x, i, axis, keepdims=False))
    return out


def total(x, axis: int):
    return fold(jnp.add, x, axis, 0.0)


def largest(x, axis: int):
    return fold(jnp.maximum, x, axis, -jnp.inf)


def weighted_total(weights, parts):
    """sum_j weights[j] * x[j] over the leading axis, where x is the concatenation of `parts`
    (never formed): weights [r, ...a], parts [r_i, ...b] broadcastable -> [...]."""
    out, o = None, 0
    for part in parts:
        for j in range(part.shape[0]):
            term = weights[o + j] * part[j]
            out = term if out is None else out + term
        o += part.shape[0]
    return out


def contract(a, b, axis: int):
    """sum_i a_i * b_i over `axis` of two broadcastable arrays, as one chain of products of their
    slices (the product array is never formed; over a long axis, it is, and summed by total)."""
    if max(a.shape[axis], b.shape[axis]) > CHAIN:
        return total(a * b, axis)
    out = None
    for i in range(max(a.shape[axis], b.shape[axis])):
        ai = jax.lax.index_in_dim(a, min(i, a.shape[axis] - 1), axis, keepdims=False)
        bi = jax.lax.index_in_dim(b, min(i, b.shape[axis] - 1), axis, keepdims=False)
        out = ai * bi if out is None else out + ai * bi
    return out


def leading(v, ndim: int):
    """A per-feature vector [c] shaped to broadcast against [c, ...] arrays of `ndim` axes."""
    return v.reshape((-1,) + (1,) * (ndim - 1))


# ---- state: scratch tokens and the pieces of the other tokens ----------------------------------------


class Pieces:
    """Where each feature of a token set lives: written features in pieces that every writing
    layer covers whole, read-only features in contiguous runs. With `merge_up_to`, neighbouring
    pieces are joined up to that many features (fewer, larger arrays; a write may then cover a
    piece in part)."""

    def __init__(self, write_sets: list[np.ndarray], read: np.ndarray, merge_up_to: int = 0):
        written = sorted(set().union(*[set(np.asarray(w).tolist()) for w in write_sets]))
        groups = [written] if written else []
        for w in write_sets:  # refine: each piece lies wholly inside or outside every write set
            w = set(np.asarray(w).tolist())
            groups = [g for group in groups for g in ([f for f in group if f in w], [f for f in group if f not in w]) if g]
        self.spans = [span for group in groups for span in spans(group)]
        self.merged = merge_up_to > 1  # (then a write may cover a piece in part)
        if self.merged:
            self.spans = _merged(self.spans, merge_up_to)
        self.n_written = len(self.spans)
        self.spans += spans(set(np.asarray(read).tolist()) - set(written))
        self.where = {first + o: (k, o) for k, (first, length) in enumerate(self.spans) for o in range(length)}

    def open(self, R):
        """R [B, t, d] -> pieces [length, t, B]."""
        return tuple(jnp.transpose(R[:, :, first : first + length], (2, 1, 0)) for first, length in self.spans)

    def take(self, pieces, features):
        """Current values of `features` [len, t, B]."""
        return _joined(self.parts(pieces, features))

    def parts(self, pieces, features):
        """Current values of `features` as consecutive parts (their concatenation, not formed)."""
        features = [int(f) for f in features]
        out, p = [], 0
        while p < len(features):  # consecutive features from the same piece
            k = self.where[features[p]][0]
            q = p + 1
            while q < len(features) and self.where[features[q]][0] == k:
                q += 1
            out.append(take_rows(pieces[k], [self.where[f][1] for f in features[p:q]]))
            p = q
        return out

    def add(self, pieces, features, update):
        """Add update on `features` (sorted, a union of whole pieces): an array [len(features), t, B]
        or a list of parts whose concatenation is one."""
        features = [int(f) for f in features]
        pieces = list(pieces)
        update = rows_of(update)
        p = 0
        while p < len(features):
            k, offset = self.where[features[p]]
            first, length = self.spans[k]
            q = p + 1  # the write's features in piece k: p .. q - 1
            while q < len(features) and self.where[features[q]][0] == k:
                q += 1
            if features[p:q] == list(range(first, first + length)):
                pieces[k] = pieces[k] + update(p, q)
            elif self.merged:  # a joined piece the write covers in part: its other rows add -0.0 (no change)
                pieces[k] = pieces[k] + _spread(update(p, q), [f - first for f in features[p:q]], length)
            else:
                raise ValueError("a write must cover whole pieces")  # guaranteed by the refinement
            p = q
        return tuple(pieces)

    def close(self, X, pieces, start: int):
        """X [B, n, d] with the written pieces put back on tokens start, start + 1, ..."""
        for (first, length), piece in zip(self.spans[: self.n_written], pieces[: self.n_written]):
            t = piece.shape[1]
            X = X.at[:, start : start + t, first : first + length].set(jnp.transpose(piece, (2, 1, 0)).astype(X.dtype))
        return X


def _merged(pieces: list[tuple[int, int]], most: int) -> list[tuple[int, int]]:
    """Neighbouring pieces (first, length) joined while they stay adjacent and at most `most`
    features long: a write then adds to fewer, larger arrays (each piece is one operation of a
    write; FLEQ's scratch refined into 57 pieces, many of one feature)."""
    out = []
    for first, length in sorted(pieces):
        if out and out[-1][0] + out[-1][1] == first and out[-1][1] + length <= most:
            out[-1] = (out[-1][0], out[-1][1] + length)
        else:
            out.append((first, length))
    return out


def _spread(update, rows: list[int], length: int):
    """update [len(rows), ...] placed at `rows` of a [length, ...] array, -0.0 elsewhere: x + -0.0
    is x for every float x, -0.0 and NaN included (where subnormal inputs are read as zero, as on
    XLA's CPU, none is ever stored: every stored value is a result, flushed the same way)."""
    filler = jnp.full((1,) + update.shape[1:], -0.0, update.dtype)
    source = jnp.concatenate([update, filler], axis=0)
    where = np.full(length, len(rows))
    where[np.asarray(rows)] = np.arange(len(rows))
    return take_rows(source, where.tolist())


def rows_of(value):
    """(start, stop) -> rows [start, stop) of an array or of the concatenation of a list of parts
    (sliced from one part where they all lie in it: `take_parts`)."""
    if not isinstance(value, (list, tuple)):
        return lambda start, stop: value[start:stop]
    return lambda start, stop: take_parts(value, range(start, stop))


# ---- attention -----------------------------------------------------------------------------------


@dataclass
class BatchHead:
    """A head cut to the rows it reads and writes (its HeadPlan), with its query-key form
    precomputed."""

    plan: HeadPlan  # its rows, columns, and which tokens query and which are keys
    query_keys: FeatureMap  # x_q[q_rows] -> wk wq^T x_q: dotted with x_k[k_rows] gives the score
    key_queries: FeatureMap  # x_k[k_rows] -> wq wk^T x_k: dotted with x_q[q_rows]
    value: FeatureMap  # x[v_rows] -> wv^T x[v_rows]

    @classmethod
    def build(cls, head: HeadPlan, dtype) -> "BatchHead":
        return cls(
            head,
            FeatureMap.build(head.q_rows, (head.wk @ head.wq.T).T, dtype),
            FeatureMap.build(head.k_rows, head.bilinear.T, dtype),
            FeatureMap.build(head.v_rows, head.wv, dtype),
        )

    def scratch_readout(self, scratch, rest, lam, keep):
        """What the scratch tokens read [len(v_cols), s, B], their softmax over every key.
        scratch(features) -> [len, s, B]; rest(features) -> the features' values on the other
        tokens, as parts [r_i, t, B]."""
        u = self.query_keys(scratch)[:, :, None]  # [kr, s, 1, B]
        sc_r = lam * weighted_total(u, [p[:, None] for p in rest(self.plan.k_rows)])  # [s, t, B]
        sc_s = lam * weighted_total(u, [scratch(self.plan.k_rows)[:, None]])  # [s queries, s keys, B]
        sc_r, sc_s = keep((sc_r, sc_s))
        m = keep(jnp.maximum(largest(sc_r, axis=1), largest(sc_s, axis=1))[:, None])  # [s, 1, B]
        e_r, e_s = keep((jnp.exp(sc_r - m), jnp.exp(sc_s - m)))
        z = total(e_r, axis=1) + total(e_s, axis=1)  # [s, B]
        v_s = scratch(self.plan.v_rows)[:, None]  # [vr, 1, s keys, B]
        pooled = [contract(e_r[None], p[:, None], axis=2) for p in rest(self.plan.v_rows)]  # [r_i, s, B]
        pooled = _joined(pooled) + contract(e_s[None], v_s, axis=2)
        return self.value(positions(pooled / z, self.plan.v_rows))

    def rest_readout(self, scratch, rest, lam, keep):
        """What the other tokens read [len(v_cols), t, B] from the scratch tokens and themselves
        (keys="scratch+self")."""
        whole = lambda f: _joined(rest(f))  # noqa: E731
        u = self.key_queries(scratch)[:, :, None]  # [qr, s, 1, B]
        x_q = rest(self.plan.q_rows)  # parts [r_i, t, B]
        sc_s = lam * weighted_total(u, [p[:, None] for p in x_q])  # [s, t, B]
        sc_self = lam * weighted_total(self.key_queries(whole), x_q)  # [t, B]
        v_s = self.value(scratch)[:, :, None]  # [c, s, 1, B]
        v_r = self.value(whole)  # [c, t, B]
        if sc_s.shape[0] == 1:
            # Two keys, the scratch token and itself: the softmax is a logistic of the difference
            # (one exp per token instead of two, no max or sum).
            w = keep(jax.nn.sigmoid(sc_s[0] - sc_self))  # [t, B]
            return v_r + w * (v_s[:, 0] - v_r)
        sc_s, sc_self = keep((sc_s, sc_self))
        m = jnp.maximum(largest(sc_s, axis=0), sc_self)
        e_s, e_self = jnp.exp(sc_s - m), jnp.exp(sc_self - m)
        e_s, e_self, z = keep((e_s, e_self, total(e_s, axis=0) + e_self))
        return (weighted_total(jnp.moveaxis(v_s, 1, 0), [e_s]) + e_self * v_r) / z


def _joined(parts):
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=0)


def positions(x, rows):
    """take_fn over an array x [len(rows), ...] whose leading axis holds the features `rows`."""
    where = {int(r): i for i, r in enumerate(np.asarray(rows).tolist())}
    return lambda features: take_rows(x, [where[int(f)] for f in features])


# ---- MLP parts -----------------------------------------------------------------------------------


@dataclass
class MLPGroup:
    """MLP parts of one token set, either row-wise (each unit reads and writes one feature:
    elementwise) or general (two feature maps)."""

    tokens: str
    in_rows: np.ndarray
    out_cols: np.ndarray
    # (coefficient in, bias, coefficient out) [rows, units], (bias out, linear coefficient) [rows]
    rowwise: tuple | None
    first: FeatureMap | None = None
    b1: jax.Array | None = None
    second: FeatureMap | None = None
    b2: jax.Array | None = None
    # Unit by unit, where every unit reads and every output sums a few terms: [(feature, coef)],
    # bias per unit; [(unit, coef)], bias per output. Evaluated as expressions of single
    # feature rows, which XLA fuses into one loop per output piece (nothing in between formed).
    units: tuple | None = None
    linear: bool = False  # row-wise: whether some feature has a linear term

    @classmethod
    def build(cls, mlp: MLPPlan, dtype) -> "MLPGroup":
        if mlp.rowwise is not None:
            tables = tuple(as_array(mlp.rowwise[name], dtype) for name in ("cin", "bias", "cout", "b2", "linear"))
            return cls(mlp.tokens, mlp.in_rows, mlp.out_cols, tables, linear=bool(np.any(mlp.rowwise["linear"] != 0)))
        units = mlp.sparse_units()
        if units is not None:  # input positions -> features
            reads, writes = units
            units = ([[(int(mlp.in_rows[i]), coef) for i, coef in unit] for unit in reads], [float(b) for b in mlp.b1],
                     writes, [float(b) for b in mlp.b2])
        return cls(mlp.tokens, mlp.in_rows, mlp.out_cols, None,
                   FeatureMap.build(mlp.in_rows, mlp.w1, dtype), as_array(mlp.b1, dtype),
                   FeatureMap.build(np.arange(mlp.units), mlp.w2, dtype), as_array(mlp.b2, dtype), units)

    def rest_update(self, parts_fn):
        """The update on out_cols of the other tokens, whose features parts_fn gives as parts:
        row-wise groups work part by part and return a list of parts."""
        if self.rowwise is None and self.units is not None:
            return self._by_units(lambda f: _joined(parts_fn(f)))
        if self.rowwise is None:
            return self.update(lambda f: _joined(parts_fn(f)))
        out, o = [], 0
        for x in parts_fn(self.in_rows):
            out.append(self._rowwise(x, o))
            o += x.shape[0]
        return out

    def _by_units(self, take):
        """The update on out_cols as parts (term_sums) from take(features) -> those features'
        values [len, ...]."""
        reads, b1, writes, b2 = self.units
        hidden = [jax.nn.relu(part) for part in term_sums(take, reads, b1)]
        return term_sums(lambda idx: take_parts(hidden, idx), writes, b2)

    def _rowwise(self, x, offset: int = 0):
        """Row-wise update of x, whose rows are features in_rows[offset : offset + len(x)]."""
        cin, bias, cout, b2, linear = (a[offset : offset + x.shape[0]] for a in self.rowwise)
        out = leading(b2, x.ndim)
        for u in range(cin.shape[1]):  # a few units per feature, unrolled and fused
            out = out + jax.nn.relu(x * leading(cin[:, u], x.ndim) + leading(bias[:, u], x.ndim)) * leading(cout[:, u], x.ndim)
        if self.linear:  # last (see MLPPlan): a correction's -x then cancels x exactly
            out = out + x * leading(linear, x.ndim)
        return out

    def update(self, take_fn):
        """The update on out_cols [len(out_cols), ...] of tokens whose features take_fn gives."""
        if self.rowwise is not None:
            return self._rowwise(take_fn(self.in_rows))
        hidden = self.first(take_fn)
        hidden = jax.nn.relu(hidden + leading(self.b1, hidden.ndim))
        out = self.second(lambda idx: take_rows(hidden, idx))
        return out + leading(self.b2, out.ndim)


def term_sums(take, terms, bias) -> list:
    """Rows r = sum_k coef_rk * x[index_rk] + bias_r for rows of terms [(index, coef)], from
    take(indices) -> x[indices] [len, ...], as a list of parts (consecutive blocks of rows; their
    concatenation is not formed). A block is a run of rows with the same number of terms whose
    k-th indices are, for every k, one contiguous or constant run: term k of the block is then one
    product of a slice (or a broadcast row) with a coefficient column, and the block one fused
    loop rather than a loop per row. Each element's sum is formed in the same order either way
    (0, then the terms in order, then the bias), so the rows come out with the same bits."""
    if not all(terms):
        raise ValueError("every row sums at least one term")  # (MLPPlan.sparse_units lists none without)
    column = lambda values, x: leading(jnp.asarray(values, x.dtype), x.ndim)  # noqa: E731
    parts = []
    for first, stop in _runs_of_terms(terms):
        rows, total = terms[first:stop], 0
        for k in range(len(rows[0])):
            x = take([t[k][0] for t in rows])
            total = total + x * column([t[k][1] for t in rows], x)
        parts.append(total + column(bias[first:stop], total))
    return parts


def _runs_of_terms(terms) -> list[tuple[int, int]]:
    """Consecutive blocks [first, stop) of rows with as many terms each and, for every k, k-th
    indices that step by one or stay the same from row to row."""
    blocks, first = [], 0
    for r in range(1, len(terms) + 1):
        if r < len(terms) and len(terms[r]) == len(terms[first]):
            steps = {terms[r][k][0] - terms[r - 1][k][0] for k in range(len(terms[r]))}
            same_step = r - first < 2 or all(
                terms[r][k][0] - terms[r - 1][k][0] == terms[first + 1][k][0] - terms[first][k][0]
                for k in range(len(terms[r])))
            if steps <= {0, 1} and same_step:
                continue
        blocks.append((first, r))
        first = r
    return blocks


def take_parts(parts, idx):
    """Rows idx of the concatenation of `parts` (each [rows, ...]), sliced from one part where
    they all lie in it."""
    bounds = np.cumsum([0] + [p.shape[0] for p in parts])
    lo, hi = min(idx), max(idx)
    k = int(np.searchsorted(bounds, lo, side="right")) - 1
    if hi < bounds[k + 1]:
        return take_rows(parts[k], [i - bounds[k] for i in idx])
    return take_rows(_joined(parts), idx)


# ---- the batch step --------------------------------------------------------------------------------


def lattice_distance_per_card(x):
    """Largest distance from {-1, 0, +1} over every axis but the last (the batch) -> [B]."""
    distance = jnp.abs(x - jnp.clip(jnp.round(x), -1.0, 1.0))
    while distance.ndim > 1:
        distance = largest(distance, axis=0)
    return distance


def make_batch_ops(stack, lam: float, dtype) -> BatchOps:
    """open/advance/close/scratch_rows for a batch of cards [B, n, d] of `stack` (a Stack or its
    Plan), batch innermost."""
    plan = as_plan(stack)
    s, d = plan.scratch_tokens, plan.d
    if any(h.queries != "scratch" and h.keys != "scratch+self" for lay in plan.layers for h in lay.heads):
        raise ValueError("the batched kernel evaluates all-query heads only with keys='scratch+self'")
    layers = [([BatchHead.build(h, dtype) for h in lay.heads], [MLPGroup.build(m, dtype) for m in lay.mlps])
              for lay in plan.layers]
    corrected = plan.corrected_rows
    check = plan.health_layer
    # Both token sets keep their features in pieces that every layer writes whole (class Pieces).
    rest_of = Pieces(plan.write_sets("rest"), plan.read_on_rest)
    scratch_of = Pieces(plan.write_sets("scratch"), np.arange(d))  # every feature: the runner reads the pc here
    lam = jnp.asarray(lam, dtype)

    def apply(layer, S, P, keep):
        heads, mlps = layer
        scratch = lambda f: scratch_of.take(S, f)  # noqa: E731
        rest = lambda f: rest_of.parts(P, f)  # noqa: E731
        AS, AP = S, P
        for head in heads:
            if head.plan.queries != "others":
                AS = scratch_of.add(AS, head.plan.v_cols, head.scratch_readout(scratch, rest, lam, keep))
            if head.plan.queries != "scratch":
                AP = rest_of.add(AP, head.plan.v_cols, head.rest_readout(scratch, rest, lam, keep))
        if heads:  # what the attention wrote is read many times by the MLP
            AS, AP = keep_pieces(keep, (AS, changed(S, AS)), (AP, changed(P, AP)))
        scratch_a = lambda f: scratch_of.take(AS, f)  # noqa: E731
        rest_a = lambda f: rest_of.parts(AP, f)  # noqa: E731
        S, P = AS, AP
        for m in mlps:
            S = scratch_of.add(S, m.out_cols, m.update(scratch_a))
            if m.tokens == "all":
                P = rest_of.add(P, m.out_cols, m.rest_update(rest_a))
        return S, P

    # Corrected features that no layer writes on the other tokens keep their distance from the
    # lattice for the whole run: it is measured once, when the cards are opened.
    fixed, moving = plan.fixed_health_rows.tolist(), plan.moving_health_rows.tolist()

    def health_of(parts, B, dtype):
        health = jnp.zeros(B, dtype)
        for part in parts:
            health = jnp.maximum(health, lattice_distance_per_card(part))
        return health

    # The pieces the health check reads, computed once: XLA fused the layer that writes them into
    # both the check and the step's later readers (the runner's select), computing it twice
    # (64 gcd instances with one straggler, in-process A/B: 4-5 % off the batch).
    health_s = sorted({scratch_of.where[int(f)][0] for f in corrected})
    health_p = sorted({rest_of.where[int(f)][0] for f in moving})

    def open_cards(X):  # [B, n, d]
        P = rest_of.open(X[:, s:])
        return {"card": X, "scratch": scratch_of.open(X[:, :s]), "pieces": P,
                "fixed_health": health_of(rest_of.parts(P, fixed), X.shape[0], X.dtype)}

    def advance(state):
        S, P = state["scratch"], state["pieces"]
        keep = materializer(jnp.isfinite(S[0].reshape(-1)[0]))
        health = state["fixed_health"]
        for i, layer in enumerate(layers):
            if i == check:
                S, P = keep_pieces(keep, (S, health_s), (P, health_p))
                parts = scratch_of.parts(S, corrected) + rest_of.parts(P, moving)
                health = jnp.maximum(health, health_of(parts, health.shape[0], health.dtype))
            S, P = apply(layer, S, P, keep)
        return {**state, "scratch": S, "pieces": P}, health

    def close(state):
        X = rest_of.close(state["card"], state["pieces"], s)
        return scratch_of.close(X, state["scratch"], 0)

    def scratch_rows(state, features=None):  # [B, s, d] or [B, s, len(features)]
        features = np.arange(d) if features is None else np.arange(d)[features]
        return jnp.transpose(scratch_of.take(state["scratch"], features), (2, 1, 0))

    def select(active, new, old):
        """The active cards' new state, the others' old one: only the written pieces change in a
        step (the card, the read-only runs and the fixed health are the same in both)."""
        def pick(new_pieces, old_pieces, n_written):
            return tuple(jnp.where(active, a, b) if k < n_written else a
                         for k, (a, b) in enumerate(zip(new_pieces, old_pieces)))

        return {**new, "scratch": pick(new["scratch"], old["scratch"], scratch_of.n_written),
                "pieces": pick(new["pieces"], old["pieces"], rest_of.n_written)}

    return BatchOps(open_cards, advance, close, scratch_rows, select)
