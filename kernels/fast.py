"""The fast evaluation: the same layers, at a cost per instruction linear in the card width n.

It exploits the structure of the hand-set weights, read off the weights themselves or promised by
the layers' hints (looped/layers.py), and is checked against the dense kernel by the tests:

* Zero blocks are skipped: every matrix is cut down to its non-zero input rows and output
  columns once, when the step is built.
* `queries="scratch"` heads: only the scratch tokens query (s x n scores instead of n x n).
* `keys="scratch+self"` heads: each token's softmax runs over the scratch tokens and itself
  (n x (s+1) scores).
* MLP parts with `tokens="scratch"` run on the scratch tokens only.
* MLP parts whose units each read one row and write only that row (error correction, clears)
  run elementwise instead of as a matmul.

Only the weights of keys that the hints drop are skipped, so the raw state can differ from the
dense kernel's by the softmax leak (far below the error-correction tolerance); the decoded state
is identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from kernels.common import as_array, lattice_distance, matmul


def as_index(idx: np.ndarray):
    """A slice when the indices are contiguous (a cheap slice instead of a gather), else the array."""
    idx = np.asarray(idx)
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


def add_columns(X, cols, update):
    """X with `update` added on the columns `cols`: a slice update where they are contiguous."""
    if isinstance(cols, slice):
        return jax.lax.dynamic_update_slice(X, X[:, cols] + update, (0, cols.start))
    return X.at[:, cols].add(update)


def nonzero_rows(w: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.any(w != 0, axis=1))


def nonzero_cols(w: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.any(w != 0, axis=0))


# ---- attention ------------------------------------------------------------------------------------


@dataclass
class SparseHead:
    """A head cut down to the rows it reads and the columns it writes."""

    q_rows: np.ndarray
    k_rows: np.ndarray
    v_rows: np.ndarray
    v_cols: np.ndarray
    wq: jax.Array  # [len(q_rows), k]
    wk: jax.Array  # [len(k_rows), k]
    wv: jax.Array  # [len(v_rows), len(v_cols)]
    queries: str
    keys: str

    @classmethod
    def build(cls, head, dtype) -> "SparseHead":
        q_rows, k_rows = nonzero_rows(head.wq), nonzero_rows(head.wk)
        v_rows, v_cols = nonzero_rows(head.wv), nonzero_cols(head.wv)
        return cls(
            as_index(q_rows), as_index(k_rows), as_index(v_rows), as_index(v_cols),
            as_array(head.wq[q_rows], dtype),
            as_array(head.wk[k_rows], dtype),
            as_array(head.wv[np.ix_(v_rows, v_cols)], dtype),
            head.queries, head.keys,
        )

    def project(self, X, rows, w):
        return matmul(X[:, rows], w)

    def __call__(self, S, R, lam):
        """The head's updates on the columns `v_cols` of the scratch tokens S [s, d] and of the
        other tokens R [n-s, d] (None where the head leaves them alone)."""
        qr, kr, vr = self.q_rows, self.k_rows, self.v_rows
        k_scratch, k_rest = self.project(S, kr, self.wk), self.project(R, kr, self.wk)
        v_scratch, v_rest = self.project(S, vr, self.wv), self.project(R, vr, self.wv)

        def attend_all(q):  # queries q against every key
            scores = lam * jnp.concatenate([matmul(q, k_scratch.T), matmul(q, k_rest.T)], axis=-1)
            weights = jax.nn.softmax(scores, axis=-1)
            s = k_scratch.shape[0]
            return matmul(weights[:, :s], v_scratch) + matmul(weights[:, s:], v_rest)

        q_scratch = self.project(S, qr, self.wq)
        if self.queries == "scratch":
            return attend_all(q_scratch), None
        q_rest = self.project(R, qr, self.wq)
        if self.keys == "scratch+self":
            # Each other token weighs the scratch keys and its own key only. (The scratch tokens
            # are few and attend over all keys, as in the dense formula.)
            scores = lam * jnp.concatenate(
                [matmul(q_rest, k_scratch.T), jnp.sum(q_rest * k_rest, axis=-1, keepdims=True)], axis=-1
            )
            weights = jax.nn.softmax(scores, axis=-1)
            s = k_scratch.shape[0]
            return attend_all(q_scratch), matmul(weights[:, :s], v_scratch) + weights[:, s:] * v_rest
        return attend_all(q_scratch), attend_all(q_rest)


# ---- MLP parts -------------------------------------------------------------------------------------


def _rowwise(w1: np.ndarray, w2: np.ndarray) -> np.ndarray | None:
    """If every unit reads exactly one row and writes only that row, that row per unit."""
    reads = [np.flatnonzero(w1[:, u]) for u in range(w1.shape[1])]
    if not all(len(r) == 1 for r in reads):
        return None
    rows = np.array([r[0] for r in reads])
    for u, row in enumerate(rows):
        written = np.flatnonzero(w2[u])
        if len(written) > 1 or (len(written) == 1 and written[0] != row):
            return None
    return rows


@dataclass
class SparseMLP:
    """MLP parts of one token set, concatenated and cut down to their non-zero rows/columns."""

    tokens: str
    in_rows: np.ndarray
    out_cols: np.ndarray
    w1: jax.Array
    b1: jax.Array
    w2: jax.Array
    b2: jax.Array
    rowwise: bool

    @classmethod
    def build(cls, parts, dtype) -> "SparseMLP":
        w1 = np.concatenate([p.w1 for p in parts], axis=1)
        b1 = np.concatenate([p.b1 for p in parts])
        w2 = np.concatenate([p.w2 for p in parts], axis=0)
        b2 = np.sum([p.b2 for p in parts], axis=0)
        unit_rows = _rowwise(w1, w2)
        if unit_rows is not None and set(np.flatnonzero(b2)) <= set(unit_rows.tolist()):
            # Group units by row: [R, U] tables of input coefficient, bias and output coefficient.
            rows = np.unique(unit_rows)
            U = max(int(np.sum(unit_rows == r)) for r in rows)
            cin, bias, cout = (np.zeros((len(rows), U)) for _ in range(3))
            for i, r in enumerate(rows):
                units = np.flatnonzero(unit_rows == r)
                cin[i, : len(units)] = w1[r, units]
                bias[i, : len(units)] = b1[units]
                cout[i, : len(units)] = w2[units, r]
            return cls(parts[0].tokens, as_index(rows), as_index(rows), as_array(cin, dtype), as_array(bias, dtype),
                       as_array(cout, dtype), as_array(b2[rows], dtype), True)
        in_rows = nonzero_rows(w1)
        out_cols = np.union1d(nonzero_cols(w2), np.flatnonzero(b2))
        return cls(
            parts[0].tokens, as_index(in_rows), as_index(out_cols),
            as_array(w1[in_rows], dtype), as_array(b1, dtype),
            as_array(w2[:, out_cols], dtype), as_array(b2[out_cols], dtype), False,
        )

    def __call__(self, A):
        """The update on `out_cols` for the tokens of A."""
        if self.rowwise:
            x = A[:, self.in_rows]  # [t, R]
            out = self.b2
            for u in range(self.w1.shape[1]):  # a few units per row: unrolled, fused elementwise
                out = out + jax.nn.relu(x * self.w1[:, u] + self.b1[:, u]) * self.w2[:, u]
            return out
        hidden = jax.nn.relu(matmul(A[:, self.in_rows], self.w1) + self.b1)
        return matmul(hidden, self.w2) + self.b2


def _is_rowwise(part) -> bool:
    rows = _rowwise(part.w1, part.w2)
    return rows is not None and set(np.flatnonzero(part.b2)) <= set(rows.tolist())


def _mlp_groups(layer, dtype) -> list[SparseMLP]:
    """The layer's MLP parts grouped by token set, row-wise parts apart from matmul parts."""
    groups = []
    parts = [p for p in layer.parts if p.hidden > 0]
    for tokens in ("scratch", "all"):
        chosen = [p for p in parts if p.tokens == tokens]
        rowwise = [p for p in chosen if _is_rowwise(p)]
        other = [p for p in chosen if not _is_rowwise(p)]
        groups += [SparseMLP.build(group, dtype) for group in (rowwise, other) if group]
    return groups


# ---- the step ---------------------------------------------------------------------------------------


def make_step(stack, lam: float, dtype):
    s = stack.scratch_tokens
    layers = [
        ([SparseHead.build(h, dtype) for h in lay.heads], _mlp_groups(lay, dtype)) for lay in stack.layers
    ]
    rows = jnp.asarray(stack.corrected_rows)
    check = stack.health_layer
    lam = jnp.asarray(lam, dtype)

    def apply(layer, S, R):
        heads, mlps = layer
        AS, AR = S, R
        for head in heads:
            dS, dR = head(S, R, lam)
            AS = add_columns(AS, head.v_cols, dS)
            AR = AR if dR is None else add_columns(AR, head.v_cols, dR)
        S, R = AS, AR
        for mlp in mlps:
            S = add_columns(S, mlp.out_cols, mlp(AS))
            if mlp.tokens == "all":
                R = add_columns(R, mlp.out_cols, mlp(AR))
        return S, R

    def step(X):
        # The scratch tokens and the others are kept apart: most updates touch only the former.
        S, R = X[:s], X[s:]
        health = jnp.zeros((), dtype)
        for i, layer in enumerate(layers):
            if i == check:
                health = jnp.maximum(lattice_distance(S[:, rows]), lattice_distance(R[:, rows]))
            S, R = apply(layer, S, R)
        return jnp.concatenate([S, R], axis=0), health

    return step
