"""The fast evaluation: the same layers, at a cost per instruction linear in the card width n.

This file evaluates one card (a batch is its vmap); kernels/batched.py evaluates a whole batch
with the batch innermost, and the fast backend picks between them by batch size and card width.

It is an evaluator of the kernel plan (kernels/plan.py), which reads the structure of the
hand-set weights off the weights themselves and off the layers' hints (looped/layers.py): heads
cut to their rows (HeadPlan), MLP groups (MLPPlan), the features written and read on the other
tokens. This file only decides how to compute it, and is checked against the dense kernel by the
tests:

* The scratch tokens S = X[:s] and the other tokens R = X[s:] are kept apart: most updates touch
  only S, which is a handful of rows.
* On R only a few features are ever written (for SUBLEQ: mem, pc and the transient write
  buffer) and a few more are read. Each contiguous run of them is transposed once per step into a
  feature-major block [run, n-s]: read-only *blocks* and written *slabs*. All updates on R go to
  the slabs, which are written back once at the end; the rest of the card is never touched.
  (Feature-major, every elementwise op runs along the tokens: XLA's CPU code for ops on narrow
  column slices of a token-major card was measured several times slower.)
* Zero blocks are skipped: the plan cuts every matrix down to its non-zero input rows and output
  columns. Maps whose columns each have a few non-zeros (copy maps, projections, most MLP units)
  run as sums of row slices instead of matmuls; the plan orders hidden units so that those slices
  are contiguous (no gathers).
* `queries="scratch"` heads: only the scratch tokens query, and the products are reassociated so
  that nothing of size n x k x k is formed: scores = (wk q^T)^T R^T[k_rows], read-out =
  (softmax . R^T[v_rows]) wv. Cost O(n (|k_rows| + |v_rows|)).
* `keys="scratch+self"` heads: each token's softmax runs over the scratch tokens and itself
  (n x (s+1) scores, the self score as the bilinear form x_q (wq wk^T) x_k).
* MLP parts with `tokens="scratch"` run on the scratch tokens only.
* MLP parts whose units each read one row and write only that row (error correction, clears)
  run elementwise, from the plan's per-feature tables (ReLU pairs folded into a linear term).

Only the weights of keys that the hints drop are skipped, so the raw state can differ from the
dense kernel's by the softmax leak and by float rounding in a different summation order (far below
the error-correction tolerance); the decoded state is identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from kernels import batched
from kernels.common import PRECISION, Step, as_array, as_plan, built_once, lattice_distance, matmul, take_rows
from kernels.plan import HeadPlan, MLPPlan, sparse_terms, spans


def as_index(idx: np.ndarray):
    """A slice when the indices are contiguous (a cheap slice instead of a gather), else the array."""
    idx = np.asarray(idx)
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


def add_columns(X, cols, update):
    """X with `update` added on the columns `cols`: a slice update where they are contiguous."""
    if isinstance(cols, slice):
        if cols.start == 0 and cols.stop == X.shape[-1]:
            return X + update
        return jax.lax.dynamic_update_slice(X, X[:, cols] + update, (0, cols.start))
    return X.at[:, cols].add(update)


def add_rows(x, rows, update):
    """x with `update` added on the rows `rows` of a feature-major array."""
    if isinstance(rows, slice):
        if rows.start == 0 and rows.stop == x.shape[0]:
            return x + update
        return jax.lax.dynamic_update_slice(x, x[rows] + update, (rows.start, 0))
    return x.at[rows].add(update)


def state_product(a, b):
    """a [p, r] @ b [r, q] for two state-dependent operands (an outer product when r == 1).
    (Measured on CPU: writing the other contractions with one scratch token as broadcast products
    and sums was slower than dots, batched or not.)"""
    if a.shape[1] == 1:
        return a * b
    return matmul(a, b)


def contract_tokens(a, b):
    """a [p, t] . b [q, t] over the tokens -> [p, q]."""
    return jax.lax.dot_general(a, b, (((1,), (1,)), ((), ())), precision=PRECISION)


# ---- the non-scratch tokens: read-only input plus written slabs -----------------------------------
#
# On the non-scratch tokens everything is feature-major: R^T [d, n-s], so that a feature block is a
# contiguous run of memory and every elementwise op runs along the tokens (XLA's CPU code for ops on
# narrow column slices of a token-major card is several times slower).


class Tokens:
    """The current values of R^T. Feature rows that some layer writes on R live in *slabs*, the
    ones that are only read in read-only blocks; each is one contiguous run of features,
    transposed once per step."""

    def __init__(self, written: np.ndarray, read: np.ndarray):
        written = np.unique(np.asarray(written, int))
        read = np.setdiff1d(np.asarray(read, int), written)
        self.slabs = spans(written)
        self.blocks = spans(read)
        self.where = {}  # feature -> (source, offset); sources: slabs, then read-only blocks
        for k, (first, length) in enumerate(self.slabs + self.blocks):
            for o in range(length):
                self.where[first + o] = (k, o)

    def open(self, R) -> "TokenState":
        pieces = [R[:, first : first + length].T for first, length in self.slabs + self.blocks]
        pieces = list(jax.lax.optimization_barrier(pieces))  # transpose once, not in every consumer
        return TokenState(self, pieces[: len(self.slabs)], pieces[len(self.slabs) :])


@dataclass
class TokenState:
    layout: Tokens
    slabs: list  # [length, n-s] current values of the written features
    blocks: list  # [length, n-s] the read-only features

    def take(self, cols):
        """R^T[cols] (current values, [len(cols), n-s]) for a static list of features."""
        cols = [int(c) for c in cols]
        sources = self.slabs + self.blocks
        pieces, p = [], 0
        while p < len(cols):  # group consecutive features by source
            src = self.layout.where[cols[p]][0]
            q = p + 1
            while q < len(cols) and self.layout.where[cols[q]][0] == src:
                q += 1
            pieces.append(take_rows(sources[src], [self.layout.where[c][1] for c in cols[p:q]]))
            p = q
        return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=0)

    def add(self, cols, update):
        """Add update [len(cols), n-s] on the features `cols` (all of them in slabs)."""
        cols = [int(c) for c in cols]
        slabs = list(self.slabs)
        for k in range(len(slabs)):
            mine = [j for j, c in enumerate(cols) if self.layout.where[c][0] == k]
            if not mine:
                continue
            part = take_rows(update, mine) if len(mine) < len(cols) else update
            slabs[k] = add_rows(slabs[k], as_index([self.layout.where[cols[j]][1] for j in mine]), part)
        return TokenState(self.layout, slabs, self.blocks)

    def close(self, X, S):
        """The new card: X with the slabs written back (transposed) and the scratch rows S."""
        s = S.shape[0]
        slabs = jax.lax.optimization_barrier(self.slabs)  # computed once, then copied in place
        for (first, _), slab in zip(self.layout.slabs, slabs):
            X = jax.lax.dynamic_update_slice(X, slab.T.astype(X.dtype), (s, first))
        return jax.lax.dynamic_update_slice(X, S.astype(X.dtype), (0, 0))


# ---- linear maps ----------------------------------------------------------------------------------


@dataclass
class Linear:
    """w^T @ x[rows] for a static w [len(rows), c] on feature-major x, as a matmul or as a sum
    of row slices."""

    rows: np.ndarray  # input features
    wt: jax.Array | None  # [c, len(rows)] for the matmul form
    terms: list  # sparse form: [(input features [c], coefficients [c, 1] or None)]
    c: int

    @classmethod
    def build(cls, rows: np.ndarray, w: np.ndarray, dtype, sparse: bool = True) -> "Linear":
        rows, w = np.asarray(rows), np.asarray(w)
        terms = sparse_terms(rows, w) if sparse else None
        if terms is not None:
            terms = [(idx, None if coef is None else as_array(coef[:, None], dtype)) for idx, coef in terms]
            return cls(rows, None, terms, w.shape[1])
        return cls(rows, as_array(w.T, dtype), [], w.shape[1])

    def __call__(self, take_fn):
        """take_fn(features) -> values [len(features), t]; returns [c, t]."""
        if self.wt is not None:
            return matmul(self.wt, take_fn(self.rows))
        out = None
        for idx, coef in self.terms:
            term = take_fn(idx)
            term = term if coef is None else term * coef
            out = term if out is None else out + term
        return out


# ---- attention ------------------------------------------------------------------------------------


@dataclass
class SparseHead:
    """A head cut down to the rows it reads and the columns it writes: its HeadPlan (rows, columns,
    which tokens query and which are keys) and its weights as device arrays."""

    plan: HeadPlan
    wq: jax.Array  # [len(q_rows), k]
    wk: jax.Array  # [len(k_rows), k]
    wv: jax.Array  # [len(v_rows), len(v_cols)]
    # on the non-scratch tokens (all-query heads): self score x_q M x_k with M = wq wk^T
    self_m: Linear | None = None  # x_k -> x_k @ M^T, [t, len(q_rows)]
    v_rest: Linear | None = None  # x -> x[v_rows] @ wv

    @classmethod
    def build(cls, head: HeadPlan, dtype) -> "SparseHead":
        self_m = v_rest = None
        if head.queries != "scratch":
            self_m = Linear.build(head.k_rows, head.bilinear.T, dtype)
            v_rest = Linear.build(head.v_rows, head.wv, dtype)
        return cls(head, as_array(head.wq, dtype), as_array(head.wk, dtype), as_array(head.wv, dtype), self_m, v_rest)

    def attend_scratch(self, S, T: TokenState, lam):
        """The scratch tokens' read-out [s, len(v_cols)]: softmax over every key, scratch and rest.

        scores on the rest = u^T @ R^T[k_rows] with u = wk @ q^T; read-out = (p @ R[:, v_rows]) @ wv."""
        q = matmul(S[:, as_index(self.plan.q_rows)], self.wq)  # [s, k]
        u = matmul(self.wk, q.T)  # [kr, s]
        sc_s = lam * state_product(S[:, as_index(self.plan.k_rows)], u)  # [s_keys, s_queries]
        sc_r = lam * state_product(u.T, T.take(self.plan.k_rows))  # [s_queries, n-s]
        m = jnp.maximum(jnp.max(sc_s, axis=0), jnp.max(sc_r, axis=1))  # [s]
        e_s, e_r = jnp.exp(sc_s - m), jnp.exp(sc_r - m[:, None])
        z = jnp.sum(e_s, axis=0) + jnp.sum(e_r, axis=1)  # [s]
        pooled = state_product(e_s.T, S[:, as_index(self.plan.v_rows)]) + contract_tokens(e_r, T.take(self.plan.v_rows))  # [s, vr]
        return matmul(pooled / z[:, None], self.wv)

    def attend_rest(self, S, T: TokenState, lam):
        """The other tokens' read-out, feature-major [len(v_cols), n-s] (all-query heads)."""
        take_r = T.take
        k_s = matmul(S[:, as_index(self.plan.k_rows)], self.wk)  # [s, k]
        v_s = matmul(S[:, as_index(self.plan.v_rows)], self.wv)  # [s, c]
        u = matmul(self.wq, k_s.T)  # [qr, s]
        xq = take_r(self.plan.q_rows)  # [qr, n-s]
        sc_s = lam * state_product(u.T, xq)  # [s, n-s]
        v_r = self.v_rest(take_r)  # [c, n-s]
        if self.plan.keys == "scratch+self":
            sc_self = lam * jnp.sum(xq * self.self_m(take_r), axis=0, keepdims=True)  # [1, n-s]
            m = jnp.maximum(jnp.max(sc_s, axis=0, keepdims=True), sc_self)
            e_s, e_self = jnp.exp(sc_s - m), jnp.exp(sc_self - m)
            z = jnp.sum(e_s, axis=0, keepdims=True) + e_self
            return (state_product(v_s.T, e_s) + e_self * v_r) / z
        # Every key (O(n^2); no SUBLEQ head takes this path).
        q_r = matmul(self.wq.T, xq)  # [k, n-s]
        k_r = matmul(self.wk.T, take_r(self.plan.k_rows))  # [k, n-s]
        scores = jnp.concatenate([sc_s, lam * contract_tokens(k_r.T, q_r.T)], axis=0)  # keys x queries
        p = jax.nn.softmax(scores, axis=0)
        s = k_s.shape[0]
        return state_product(v_s.T, p[:s]) + matmul(v_r, p[s:])


@dataclass
class ScratchHeads:
    """Heads with queries="scratch" and keys="scratch" (FLEQ's per-row function heads), evaluated
    side by side: each one's softmax runs over the scratch tokens only, and all of them are stacked
    on a leading head axis (rows gathered per head, weights zero-padded to a common size), so a
    hundred small heads cost a few batched products, not a hundred chains of small operations.
    Every score and read-out sums the same non-zero terms as the head alone."""

    q_index: np.ndarray  # [h, qr] rows of S each head's query reads (padded)
    k_index: np.ndarray
    v_index: np.ndarray
    out_cols: np.ndarray  # [h * vc] the columns the heads' read-outs are added to (padded: weight 0)
    wq: jax.Array  # [h, qr, k]
    wk: jax.Array  # [h, kr, k]
    wv: jax.Array  # [h, vr, vc]

    @classmethod
    def build(cls, heads: list, dtype) -> "ScratchHeads":
        def padded(rows_of, w_of, width):
            R = max(len(rows_of(h)) for h in heads)
            index = np.zeros((len(heads), R), int)
            w = np.zeros((len(heads), R, width))
            for i, h in enumerate(heads):
                rows, hw = rows_of(h), w_of(h)
                index[i, : len(rows)], index[i, len(rows):] = rows, rows[0]
                w[i, : len(rows), : hw.shape[1]] = hw
            return index, w

        k = max(h.wq.shape[1] for h in heads)
        vc = max(len(h.v_cols) for h in heads)
        q_index, wq = padded(lambda h: h.q_rows, lambda h: h.wq, k)
        k_index, wk = padded(lambda h: h.k_rows, lambda h: h.wk, k)
        v_index, wv = padded(lambda h: h.v_rows, lambda h: h.wv, vc)
        out_cols = np.array([[h.v_cols[c] if c < len(h.v_cols) else h.v_cols[0] for c in range(vc)] for h in heads])
        return cls(q_index, k_index, v_index, out_cols.reshape(-1), as_array(wq, dtype), as_array(wk, dtype),
                   as_array(wv, dtype))

    def attend(self, S, lam):
        """The heads' read-outs, summed into S's columns: [s, d] -> the update of S."""
        q = jnp.einsum("shr,hrk->hsk", jnp.take(S, self.q_index, axis=1), self.wq, precision=PRECISION)
        k = jnp.einsum("shr,hrk->hsk", jnp.take(S, self.k_index, axis=1), self.wk, precision=PRECISION)
        scores = lam * jnp.einsum("hqk,hpk->hqp", q, k, precision=PRECISION)
        e = jnp.exp(scores - jnp.max(scores, axis=2, keepdims=True))
        z = jnp.sum(e, axis=2, keepdims=True)
        pooled = jnp.einsum("hqp,phr->hqr", e, jnp.take(S, self.v_index, axis=1), precision=PRECISION) / z
        out = jnp.einsum("hqr,hrc->qhc", pooled, self.wv, precision=PRECISION)  # [s, h, vc]
        return out.reshape(S.shape[0], -1)


def scratch_only(head: HeadPlan) -> bool:
    return head.queries == "scratch" and head.keys == "scratch"


# ---- MLP parts -------------------------------------------------------------------------------------


@dataclass
class SparseMLP:
    """An MLP group of the plan (MLPPlan): row-wise, as per-feature tables, or general, cut down to
    its non-zero rows/columns and live units."""

    tokens: str
    in_rows: np.ndarray
    out_cols: np.ndarray
    # row-wise: the plan's tables as arrays (cin, bias, cout [rows, units]; linear, b2 [rows]) and
    # whether some feature has a linear term
    rowwise: dict | None = None
    linear: bool = False
    w1: jax.Array | None = None  # general: [len(in_rows), units], [units], [units, len(out_cols)], [len(out_cols)]
    b1: jax.Array | None = None
    w2: jax.Array | None = None
    b2: jax.Array | None = None
    first: Linear | None = None  # sparse forms for the non-scratch tokens
    second: Linear | None = None
    gather: dict | None = None  # the plan's gathered form (MLPPlan.gathered) for the scratch tokens

    @classmethod
    def build(cls, mlp: MLPPlan, dtype) -> "SparseMLP":
        if mlp.rowwise is not None:
            tables = {name: as_array(table, dtype) for name, table in mlp.rowwise.items()}
            return cls(mlp.tokens, mlp.in_rows, mlp.out_cols, tables, bool(np.any(mlp.rowwise["linear"] != 0)))
        first = second = None
        if mlp.tokens == "all":
            first = Linear.build(mlp.in_rows, mlp.w1, dtype)
            second = Linear.build(np.arange(mlp.units), mlp.w2, dtype)
        gathered = mlp.gathered() if mlp.tokens == "scratch" else None
        if gathered is not None:  # (the dense matrices are never made)
            gathered = {"in_index": gathered["in_index"], "order": gathered["order"],
                        "w_in": as_array(gathered["w_in"][:, :, None], dtype),
                        "buckets": [(index, as_array(w[:, :, None], dtype)) for _, index, w in gathered["buckets"]]}
            return cls(mlp.tokens, mlp.in_rows, mlp.out_cols, None, False, None, as_array(mlp.b1, dtype), None,
                       as_array(mlp.b2, dtype), first, second, gathered)
        return cls(mlp.tokens, mlp.in_rows, mlp.out_cols, None, False, as_array(mlp.w1, dtype),
                   as_array(mlp.b1, dtype), as_array(mlp.w2, dtype), as_array(mlp.b2, dtype), first, second)

    @property
    def units(self) -> int:
        return self.rowwise["cin"].shape[1] if self.rowwise is not None else self.b1.shape[0]

    def rowwise_update(self, x, axis: int = -1):
        """Elementwise update of x, whose rows run along `axis` (-1: token-major, 0: feature-major):
        b2 + sum_u cout_u relu(cin_u x + bias_u) + linear x per feature, in that order."""
        shape = (-1,) if axis == -1 else (-1, 1)
        t = self.rowwise
        out = t["b2"].reshape(shape)
        for u in range(self.units):  # a few units per row: unrolled, fused elementwise
            cin, bias, cout = (t[name][:, u].reshape(shape) for name in ("cin", "bias", "cout"))
            out = out + jax.nn.relu(x * cin + bias) * cout
        if self.linear:  # last (see MLPPlan): a correction's -x then cancels x exactly
            out = out + x * t["linear"].reshape(shape)
        return out

    def on_scratch(self, A):
        """The update on `out_cols` for the scratch tokens A [s, d]."""
        if self.rowwise is not None:
            return self.rowwise_update(A[:, as_index(self.in_rows)])
        if self.gather is not None:
            return self.gathered_update(A[:, as_index(self.in_rows)].T).T
        hidden = jax.nn.relu(matmul(A[:, as_index(self.in_rows)], self.w1) + self.b1)
        return matmul(hidden, self.w2) + self.b2

    def gathered_update(self, x):
        """The update [len(out_cols), t] for feature-major inputs x [len(in_rows), t], by gathers:
        each unit's few inputs, then each output's few units (a zero row appended for padding)."""
        g = self.gather
        pre = self.b1[:, None]
        for k in range(g["in_index"].shape[0]):
            pre = pre + g["w_in"][k] * jnp.take(x, g["in_index"][k], axis=0)
        hidden = jnp.concatenate([jax.nn.relu(pre), jnp.zeros((1, x.shape[1]), x.dtype)], axis=0)
        sums = [jnp.sum(w * jnp.take(hidden, index, axis=0), axis=1) for index, w in g["buckets"]]
        return jnp.take(jnp.concatenate(sums, axis=0), g["order"], axis=0) + self.b2[:, None]

    def on_rest(self, T: TokenState):
        """The update on `out_cols` for the other tokens, feature-major."""
        if self.rowwise is not None:
            return self.rowwise_update(T.take(self.in_rows), axis=0)
        hidden = jax.nn.relu(self.first(T.take) + self.b1[:, None])
        return self.second(lambda idx: take_rows(hidden, idx)) + self.b2[:, None]


# ---- the step ---------------------------------------------------------------------------------------


def build_layers(plan, dtype):
    """Each layer of the plan as ([SparseHead], [SparseMLP], [ScratchHeads]): the heads whose keys
    and queries are the scratch tokens go together, one ScratchHeads per shape (rows read, columns
    written), so that no head is padded to another's size (FLEQ: a transpose head's H rows against
    a product head's 2)."""
    out = []
    for lay in plan.layers:
        shapes = {}
        for h in lay.heads:
            if scratch_only(h):
                shapes.setdefault((len(h.q_rows), len(h.k_rows), len(h.v_rows), len(h.v_cols)), []).append(h)
        heads = [SparseHead.build(h, dtype) for h in lay.heads if not scratch_only(h)]
        out.append((heads, [SparseMLP.build(m, dtype) for m in lay.mlps],
                    [ScratchHeads.build(group, dtype) for group in shapes.values()]))
    return out


def make_step(stack, lam: float, dtype, attend_scratch=None, rowwise_rest=None, batch: bool = True):
    """One instruction for one card of `stack` (a Stack or its Plan), and (with `batch`) the
    batch-innermost evaluation of kernels/batched.py for large batches, from the same plan.
    kernels/pallas.py passes replacements for two hot parts: `attend_scratch(head, S, T, lam)` (a
    head's scratch-query read-out) and `rowwise_rest(mlp, x)` (a row-wise MLP group's update on the
    non-scratch tokens)."""
    plan = as_plan(stack)
    s = plan.scratch_tokens
    layers = build_layers(plan, dtype)
    rows = plan.corrected_rows
    tokens = Tokens(plan.written_on_rest, plan.read_on_rest)
    check = plan.health_layer
    lam = jnp.asarray(lam, dtype)
    attend_scratch = attend_scratch or (lambda head, S, T, lam: head.attend_scratch(S, T, lam))
    rowwise_rest = rowwise_rest or (lambda mlp, x: mlp.rowwise_update(x, axis=0))

    def apply(layer, S, T: TokenState):
        heads, mlps, groups = layer
        AS, AT = S, T
        for grouped in groups:
            AS = AS.at[:, grouped.out_cols].add(grouped.attend(S, lam))
        for head in heads:
            if head.plan.queries != "others":
                AS = add_columns(AS, as_index(head.plan.v_cols), attend_scratch(head, S, T, lam))
            if head.plan.queries != "scratch":
                AT = AT.add(head.plan.v_cols, head.attend_rest(S, T, lam))
        S, T = AS, AT
        for mlp in mlps:
            S = add_columns(S, as_index(mlp.out_cols), mlp.on_scratch(AS))
            if mlp.tokens == "all":
                update = rowwise_rest(mlp, AT.take(mlp.in_rows)) if mlp.rowwise is not None else mlp.on_rest(AT)
                T = T.add(mlp.out_cols, update)
        return S, T

    # While a run lasts the card is kept as {card, scratch rows, slabs, read-only blocks}: the slabs
    # and scratch rows are all that changes, so nothing is transposed or written back per step.
    # Corrected features that no layer writes on the other tokens keep their distance from the
    # lattice there for the whole run: it is measured once, when the card is opened (as batched.py).
    fixed, moving = plan.fixed_health_rows, plan.moving_health_rows

    def rest_health(T: TokenState, features):
        return lattice_distance(T.take(features)) if len(features) else jnp.zeros((), dtype)

    def open_card(X):
        T = tokens.open(X[s:])
        return {"card": X, "scratch": X[:s], "slabs": T.slabs, "blocks": T.blocks, "fixed_health": rest_health(T, fixed)}

    def advance(state):
        S, T = state["scratch"], TokenState(tokens, state["slabs"], state["blocks"])
        health = jnp.zeros((), dtype)
        for i, layer in enumerate(layers):
            if i == check:
                health = jnp.maximum(jnp.maximum(lattice_distance(S[:, as_index(rows)]), rest_health(T, moving)),
                                     state["fixed_health"])
            S, T = apply(layer, S, T)
        return {**state, "scratch": S, "slabs": T.slabs}, health

    def close_card(state):
        T = TokenState(tokens, state["slabs"], state["blocks"])
        return T.close(state["card"], state["scratch"])

    # (built on first use: a per-card machine's batches never ask, and it took 2 s of a 32 x 32
    # FLEQ machine's first run)
    batch_ops = built_once(lambda: batched.make_batch_ops(plan, lam, dtype))

    def batch_for(batch_size, width):  # kernels/batched.py where measured faster (batched.preferred)
        known = batch_size is not None and width is not None
        return batch_ops() if batch and known and batched.preferred(batch_size, width) else None

    return Step(advance, scratch_tokens=s, open=open_card, close=close_card, scratch=lambda state: state["scratch"],
                batch_for=batch_for, per_card=plan.per_card)
