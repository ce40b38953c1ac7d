"""Batch-invariant evaluation: a whole batch of real-valued cards in one vectorised pass, each
card's result bit for bit what that card gives alone.

Real-valued machines (Stack.per_card: FLEQ) keep values that error correction does not snap back,
so a card's result depends on the order its sums are taken in. XLA's dot products and reductions
pick that order by shape: a batch-folded matrix product [B*t, r] @ [r, c] may block its
contraction differently for B = 1 and B = 64. This evaluator therefore uses no dot product and no
library sum. Every value is computed by:

* elementwise operations (IEEE-exact per element, whatever the array's shape), data movement
  (slices, gathers of static indices, concatenation, transposes) and maxima (exact in any order);
* sums in an order fixed by the card alone: contractions of two state-dependent operands and the
  softmax sums term after term in index order (`contract`, `ordered_sum`: one fused loop), linear
  maps by a pairwise tree of slice-and-add steps (`tree_sum`); the same order whatever the other
  axes' sizes;
* linear maps by the hand-set weights as fixed-order sparse sums (`FixedSum`): each output adds its
  non-zero terms (ascending input feature) by that tree. The weights are very sparse (a unit reads
  a handful of features), so this is also far less work than a dense product.

Every array is feature-major with the batch innermost ([features, tokens, B], as
kernels/batched.py): the batch axis is never summed over or reshaped with another, every operation
acts on each card's B-vector alike (vectorised along the batch on a CPU), and gathers move whole
[tokens, B] rows. A batch of 1 and a batch of 64 thus run the same per-card arithmetic.
tests/kernels/test_invariant.py checks that bit for bit through the runner (batches of 1, 3 and 64,
and mixed programs); tests/kernels/test_cuda_lowering.py lowers it for CUDA (plain StableHLO:
elementwise ops, gathers, no dot, no custom call).

It evaluates the kernel plan (kernels/plan.py) with kernels/fast.py's forms (scratch tokens apart,
the other tokens' written and read features apart, the same reassociated heads, row-wise and
general MLP groups); the raw values differ from fast's by rounding only (another summation order).
Check of the CPU code: XLA's CPU flags that could reorder float sums (xla_cpu_enable_fast_math and
its reassociation) are off by default; tests/kernels/test_invariant.py would see a change.

Multiply-adds. XLA:CPU always lets LLVM fuse a product into the addition that consumes it (one
rounding instead of two: FMA). Where an addition's two operands are both products, which one LLVM
fuses depends on the code around it: the vectorised body of a loop and its scalar remainder chose
differently (a FixedSum tree at 5, 9 or 13 cards gave another last bit on the remainder's card than
at 64; with LLVM's full unrolling capped, kernels/settings.py, at 1 card too). So no sum here adds two
bare products: the first product of a chain and the first half of a tree's products are `settled`
(the same value, but no longer a product LLVM can fuse), and only the other product of each such
pair can become a multiply-add, wherever its loop runs.

Unselected blocks. A part that acts only where selected (looped/layers.py skip_where: FLEQ's
function blocks) is left out, under a conditional, where no card of the batch selects it: a head's
pieces pass through unchanged, an MLP group adds its all-off update (FixedSum.of_zeros). The same
bits come out as when it is evaluated (tests/kernels/test_invariant.py), so a card alone and in a
batch still agree although a batch skips less.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from kernels.batched import Pieces, changed, keep_pieces, materializer
from kernels.common import BatchOps, Step, as_array, as_plan, built_once, take_rows
from kernels.plan import HeadPlan, MLPPlan

# ---- sums in a fixed order ----------------------------------------------------------------------------


def settled(x):
    """x itself (NaN stays NaN), as a value LLVM cannot fuse into a multiply-add: where both operands
    of an addition are products, settling one leaves one way to fuse them (module docstring,
    "Multiply-adds"). A select on x == x costs a compare and a blend; simpler identities (x + 0,
    max(x, -inf), a no-op reduce_precision) are folded away before LLVM sees them (measured)."""
    return jnp.where(x == x, x, jnp.nan)


def tree_sum(x, axis: int, keepdims: bool = False, products: bool = False):
    """The sum of x along `axis` as a fixed pairwise tree: zeros pad the axis to a power of two
    (adding +0 changes no sum), then the first half is added elementwise to the second, repeated.
    The tree depends only on that axis's length. `products`: x is a product computed in the same
    fused loop (its first half is `settled` before the first additions)."""
    n = x.shape[axis]
    size = _pow2(max(n, 1))
    if size != n:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (0, size - n)
        x = jnp.pad(x, pad)
    first = products
    while size > 1:
        size //= 2
        half = jax.lax.slice_in_dim(x, 0, size, axis=axis)
        x = (settled(half) if first else half) + jax.lax.slice_in_dim(x, size, 2 * size, axis=axis)
        first = False
    return x if keepdims else jnp.squeeze(x, axis)


def _pow2(x: int) -> int:
    return 1 << max(0, int(x - 1).bit_length())


def _column(a, ndim: int):
    """A per-feature table [F] (or [F, P]) shaped to broadcast over [F, (P,) ..., B]."""
    return a.reshape(a.shape + (1,) * (ndim - a.ndim))


@dataclass
class FixedSum:
    """y = w^T x for static weights w [F, c], along the leading (feature) axis of x [F, ..., B]:
    every output the tree sum of its non-zero terms coef * x[feature], in ascending feature order.
    Outputs are grouped by their count of terms rounded up to a power of two (zero-coefficient terms
    pad a group), one gather, product and tree per group; `order` puts the groups' outputs back in
    column order."""

    groups: list  # [(features [m, P] (np), coefficients [m, P] (array) or None: all ones)]
    order: np.ndarray | None  # output j is the order[j]-th of the groups' concatenated outputs
    zero_outputs: int  # outputs with no term (appended after the groups, as zeros)
    c: int

    @classmethod
    def build(cls, w: np.ndarray, dtype) -> "FixedSum":
        w = np.asarray(w, float)
        by_size: dict[int, list] = {}
        empty = []
        for j in range(w.shape[1]):
            nz = np.flatnonzero(w[:, j])
            (by_size.setdefault(_pow2(len(nz)), []).append(j) if len(nz) else empty.append(j))
        groups, placed = [], []
        for size in sorted(by_size):
            outputs = by_size[size]
            idx, coef = np.zeros((len(outputs), size), int), np.zeros((len(outputs), size))
            for i, j in enumerate(outputs):
                nz = np.flatnonzero(w[:, j])
                idx[i, : len(nz)], coef[i, : len(nz)] = nz, w[nz, j]
                idx[i, len(nz):] = nz[0]  # padding: a term with coefficient 0 on a feature read anyway
            groups.append((idx, None if np.all(coef == 1.0) else as_array(coef, dtype)))
            placed += outputs
        placed += empty
        order = np.argsort(np.asarray(placed, int)) if placed else np.zeros(0, int)
        return cls(groups, None if np.array_equal(order, np.arange(len(order))) else order, len(empty), w.shape[1])

    @classmethod
    def from_entries(cls, inputs, outputs, coefs, c: int, dtype) -> "FixedSum":
        """build() of the [F, c] matrix whose non-zero entries are (inputs, outputs, coefs), without
        forming it (FLEQ's MLPs: thousands of units over thousands of features)."""
        inputs, outputs, coefs = (np.asarray(a) for a in (inputs, outputs, coefs))
        keep = coefs != 0
        inputs, outputs, coefs = inputs[keep].astype(int), outputs[keep].astype(int), coefs[keep].astype(float)
        order = np.lexsort((inputs, outputs))
        inputs, outputs, coefs = inputs[order], outputs[order], coefs[order]
        counts = np.bincount(outputs, minlength=c)
        starts = np.concatenate([[0], np.cumsum(counts)])
        size_of = np.array([_pow2(int(k)) for k in counts])
        groups, placed = [], []
        for size in sorted(set(size_of[counts > 0].tolist())):
            chosen = np.flatnonzero((size_of == size) & (counts > 0))
            idx, coef = np.zeros((len(chosen), size), int), np.zeros((len(chosen), size))
            for i, j in enumerate(chosen.tolist()):
                a, b = starts[j], starts[j + 1]
                idx[i, : b - a], coef[i, : b - a] = inputs[a:b], coefs[a:b]
                idx[i, b - a:] = inputs[a]  # padding: a term with coefficient 0 on a feature read anyway
            groups.append((idx, None if np.all(coef == 1.0) else as_array(coef, dtype)))
            placed += chosen.tolist()
        empty = np.flatnonzero(counts == 0).tolist()
        placed += empty
        order = np.argsort(np.asarray(placed, int)) if placed else np.zeros(0, int)
        return cls(groups, None if np.array_equal(order, np.arange(len(order))) else order, len(empty), c)

    def __call__(self, x):
        pieces = []
        for idx, coef in self.groups:
            m, size = idx.shape
            if size <= COLUMN_TERMS and m * size > 8:
                pieces.append(self._by_columns(x, idx, coef))
                continue
            terms = take_rows(x, idx.reshape(-1)) if m * size <= 8 else jnp.take(x, idx.reshape(-1), axis=0, mode="clip")
            terms = terms.reshape((m, size) + x.shape[1:])
            if coef is not None:
                terms = terms * _column(coef, terms.ndim)
            pieces.append(tree_sum(terms, axis=1, products=coef is not None))
        if self.zero_outputs:
            pieces.append(jnp.zeros((self.zero_outputs,) + x.shape[1:], x.dtype))
        out = pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=0)
        # (`order` is a permutation: "clip" spares the default mode's bounds test and select per value)
        return out if self.order is None else jnp.take(out, self.order, axis=0, mode="clip")

    def of_zeros(self) -> np.ndarray:
        """This map of an all-zero (+0) input, signs of zero included [c]: each output sums its
        terms coef * (+0) (padding included), and a sum of signed zeros is -0 exactly where every
        term is -0, in whatever order and with or without multiply-adds (IEEE 754)."""
        # (numpy's own sum starts from +0, which would lose an all -0 sum's sign)
        pieces = [np.zeros(len(idx)) if coef is None else
                  np.where(np.all(np.signbit(np.asarray(coef, float) * 0.0), axis=1), -0.0, 0.0)
                  for idx, coef in self.groups]
        out = np.concatenate(pieces + [np.zeros(self.zero_outputs)])
        return out if self.order is None else out[self.order]

    @staticmethod
    def _by_columns(x, idx, coef):
        """tree_sum over the group's terms, formed column by column: term k of every output is one
        gather (and product), and the tree pairs the columns as tree_sum pairs its rows (k with
        k + size / 2, then again): the same order of additions, but XLA fuses the gathers into the
        tree's loop instead of forming [outputs * size, tokens, B] first (measured 5-10 % off a
        batch of calculators' step). Like every sum here, its order is the card's alone."""
        columns = []
        for k in range(idx.shape[1]):
            term = jnp.take(x, idx[:, k], axis=0, mode="clip")
            columns.append(term if coef is None else term * _column(coef[:, k], term.ndim))
        if coef is not None and len(columns) > 1:  # (products: no addition of two, module docstring)
            columns = [settled(c) for c in columns[: len(columns) // 2]] + columns[len(columns) // 2:]
        while len(columns) > 1:
            half = len(columns) // 2
            columns = [columns[i] + columns[i + half] for i in range(half)]
        return columns[0]


# A head's read-out on the scratch tokens is tested for queries shared by the slots
# (InvariantHead.attend_scratch) from this many multiply-adds per step ((value + key rows) x
# other tokens x scratch tokens): the test and its conditional cost about what that saves below it.
SHARED_QUERY_WORK = 300_000


def skips(row) -> bool:
    """Whether a part that acts only where selected (looped/layers.py skip_where) is left out, under
    a conditional, where no card of the batch selects it: always on a CPU, where the conditional
    costs less than the smallest such part (measured, one card: a 4 x 4 inverse 87 -> 58 us an
    instruction, 8 x 8 193 -> 121 us, against leaving out only parts of 50,000 multiply-adds or
    more); never elsewhere (a GPU's conditional waits for its predicate on the host)."""
    return row is not None and jax.default_backend() == "cpu"


# Groups of at most this many terms per output are summed column by column (FixedSum._by_columns).
COLUMN_TERMS = 16

# The longest sum taken as one chain: a chain is one operation per term, and chains over a card's
# tokens (hundreds) made the compile of a 32 x 32 FLEQ machine take minutes. Longer sums are chains
# over groups of CHAIN_TERMS to 2 CHAIN_TERMS - 1 terms (`contract`) or trees (`ordered_sum`).
CHAIN_TERMS = 16


def contract(a, b, axis: int, keepdims: bool = False):
    """sum over `axis` of a * b (broadcast against each other), term after term in index order:
    a contraction of two state-dependent operands. XLA fuses the chain into one loop that reads
    both operands once (measured 3x faster than a tree over the materialised product).

    Over more than CHAIN_TERMS terms (a card's tokens): G groups of `per` terms, G a power of two
    and CHAIN_TERMS <= per < 2 CHAIN_TERMS; group g chains terms g * per + k, k in order. The k-th
    terms of all groups are one strided slice of each operand, so every group's chain is one fused
    loop, and no product or padded copy is formed (the tree over the materialised product this
    replaces was a quarter of a FLEQ calculator batch's step). The groups' sums are then added by
    `ordered_sum` (a tree over G: no padding), and the terms after the groups' by `contract` again.
    The order depends on the axis's length alone, as the card's result must."""
    size = max(a.shape[axis], b.shape[axis])
    if size <= CHAIN_TERMS:
        return _chain(a, b, axis, 0, size, 1, 1, keepdims)
    # A power of two of groups, each of `per` terms (CHAIN_TERMS <= per < 2 CHAIN_TERMS), so that
    # their tree needs no padding (33 groups padded to 64 made a [206, 65, 64] copy per head at
    # 64 x 64); the terms past the groups follow, summed the same way.
    groups = _pow2_floor(size // CHAIN_TERMS)
    per = size // groups
    total = ordered_sum(_chain(a, b, axis, 0, per, per, groups, True), axis, keepdims=True)
    if groups * per < size:
        done = groups * per
        total = total + contract(_part(a, axis, done, size - done), _part(b, axis, done, size - done), axis,
                                 keepdims=True)
    return total if keepdims else jnp.squeeze(total, axis)


def _part(x, axis: int, start: int, count: int, stride: int = 1):
    """`count` entries start, start + stride, ... along `axis` (an axis of length 1 broadcasts: it
    is kept whole)."""
    if x.shape[axis] == 1:
        return x
    return jax.lax.slice_in_dim(x, start, start + stride * (count - 1) + 1, stride=stride, axis=axis)


def _pow2_floor(n: int) -> int:
    return 1 << (max(int(n), 1).bit_length() - 1)


def _chain(a, b, axis: int, start: int, terms: int, stride: int, count: int, keepdims: bool):
    """sum_k a_k * b_k for k < terms, in order, where a_k is the strided slice of `count` entries
    start + k, start + k + stride, ... along `axis` (an axis of length 1 broadcasts)."""
    kth = lambda x, k: _part(x, axis, start + k, count, stride)  # noqa: E731
    acc = settled(kth(a, 0) * kth(b, 0))  # (a sum that starts as a bare product: module docstring)
    for k in range(1, terms):
        acc = acc + kth(a, k) * kth(b, k)
    return acc if keepdims or count != 1 else jnp.squeeze(acc, axis)


def ordered_sum(x, axis: int, keepdims: bool = False):
    """sum over `axis`: term after term in index order up to CHAIN_TERMS terms; past that, a tree
    over the largest power of two of leading terms, plus the rest's ordered_sum (no padding)."""
    if x.shape[axis] > CHAIN_TERMS:
        # the largest power of two of terms as a tree (no padding), then the rest in the same way
        n = x.shape[axis]
        head = _pow2_floor(n)
        total = tree_sum(jax.lax.slice_in_dim(x, 0, head, axis=axis), axis, keepdims=True)
        if head < n:
            total = total + ordered_sum(jax.lax.slice_in_dim(x, head, n, axis=axis), axis, keepdims=True)
        return total if keepdims else jnp.squeeze(total, axis)
    acc = jax.lax.slice_in_dim(x, 0, 1, axis=axis)
    for k in range(1, x.shape[axis]):
        acc = acc + jax.lax.slice_in_dim(x, k, k + 1, axis=axis)
    return acc if keepdims else jnp.squeeze(acc, axis)


def largest(x, keep: int = 1):
    """The maximum over every axis but the last `keep` (exact in any order)."""
    return jnp.max(x, axis=tuple(range(x.ndim - keep))) if x.ndim > keep else x


def lattice_distance_per_card(x):
    """Largest distance of x [..., B] from {-1, 0, +1}, per card -> [B]."""
    return largest(jnp.abs(x - jnp.clip(jnp.round(x), -1.0, 1.0)))


# ---- feature-major state --------------------------------------------------------------------------
#
# Both token sets keep their features in kernels/batched.py's pieces ([features, tokens, B] arrays
# that every layer writes whole): an update is an elementwise add of whole pieces, never a scatter
# into, or a copy of, a larger array.


# ---- attention ------------------------------------------------------------------------------------


@dataclass
class InvariantHead:
    """A head of the plan with every product a fixed-order sum (kernels/fast.py's SparseHead, the
    same reassociations). Scratch values are S [d, s, B], the others' R [features, n-s, B]."""

    plan: HeadPlan
    q: FixedSum  # x[q_rows] -> wq^T x  [k]
    k: FixedSum  # x[k_rows] -> wk^T x  [k]
    v: FixedSum  # x[v_rows] -> wv^T x  [len(v_cols)]
    kt: FixedSum  # q [k] -> wk q  [len(k_rows)]
    qt: FixedSum  # k [k] -> wq k  [len(q_rows)]
    self_m: FixedSum  # x[k_rows] -> M x  [len(q_rows)] (M = wq wk^T: the self score)

    @classmethod
    def build(cls, head: HeadPlan, dtype) -> "InvariantHead":
        return cls(head, FixedSum.build(head.wq, dtype), FixedSum.build(head.wk, dtype),
                   FixedSum.build(head.wv, dtype), FixedSum.build(head.wk.T, dtype),
                   FixedSum.build(head.wq.T, dtype), FixedSum.build(head.bilinear.T, dtype))

    def attend_scratch(self, scratch, rest, lam, keep):
        """The scratch tokens' read-out [len(v_cols), s, B], softmax over every key (scratch and
        rest). `scratch`, `rest`: features -> their values on those tokens; `keep`: a boundary
        (kernels/batched.py's materializer), so that the scores, their maximum and the softmax
        weights are computed once rather than inside each consumer.

        Each query token's read-out depends on that token's query features alone (every sum runs
        over the keys, in the same order whatever the number of queries). So where every token but
        the last holds the same query features, bit for bit, in every card of the batch (FLEQ's
        fetch and a few other heads: every slot holds the same program counter), the read-out is
        computed for the first and the last token and the first's copied to the others: the same
        bits, at 2 queries' cost instead of s. Tested at run time (a conditional), for heads whose
        read-out is large (SHARED_QUERY_WORK), and on a CPU only (a GPU's conditional waits for
        its predicate on the host)."""
        q_in = scratch(self.plan.q_rows)  # [qr, s, B]
        s, rest_tokens = q_in.shape[1], rest(self.plan.k_rows).shape[1]
        work = (len(self.plan.v_rows) + len(self.plan.k_rows)) * rest_tokens * s
        if s < 4 or work < SHARED_QUERY_WORK or jax.default_backend() != "cpu":
            return self._read_out(q_in, scratch, rest, lam, keep)

        def alike():
            ends = self._read_out(jnp.concatenate([q_in[:, :1], q_in[:, s - 1:]], axis=1), scratch, rest, lam, keep)
            first = jnp.broadcast_to(ends[:, :1], (ends.shape[0], s - 1) + ends.shape[2:])
            return jnp.concatenate([first, ends[:, 1:]], axis=1)

        bits = jax.lax.bitcast_convert_type(q_in, jnp.dtype(f"uint{8 * q_in.dtype.itemsize}"))
        same = jnp.all(bits[:, 1 : s - 1] == bits[:, :1])
        return jax.lax.cond(same, alike, lambda: self._read_out(q_in, scratch, rest, lam, keep))

    def _read_out(self, q_in, scratch, rest, lam, keep):
        """attend_scratch for the query tokens whose query features are q_in [qr, s_q, B]."""
        u = keep(self.kt(self.q(q_in)))  # [kr, s_q, B]
        sk, rk = scratch(self.plan.k_rows), rest(self.plan.k_rows)  # [kr, s_k, B], [kr, n-s, B]
        sc_s = lam * contract(sk[:, :, None], u[:, None, :], 0)  # [s_k, s_q, B]
        sc_r = keep(lam * contract(u[:, :, None], rk[:, None, :], 0))  # [s_q, n-s, B]
        m = keep(jnp.maximum(jnp.max(sc_s, axis=0), jnp.max(sc_r, axis=1)))  # [s_q, B]
        e_s, e_r = keep((jnp.exp(sc_s - m[None]), jnp.exp(sc_r - m[:, None])))
        z = ordered_sum(e_s, axis=0) + ordered_sum(e_r, axis=1)  # [s_q, B]
        sv, rv = scratch(self.plan.v_rows), rest(self.plan.v_rows)  # [vr, s_k, B], [vr, n-s, B]
        pooled = contract(sv[:, :, None], e_s[None], 1) + contract(rv[:, None, :], e_r[None], 2)  # [vr, s_q, B]
        return self.v(keep(pooled / z[None]))

    def attend_rest(self, scratch, take, lam, keep):
        """The other tokens' read-out [len(v_cols), n-s, B] (heads the others query)."""
        k_s = self.k(scratch(self.plan.k_rows))  # [k, s, B]
        v_s = keep(self.v(scratch(self.plan.v_rows)))  # [c, s, B]
        u = keep(self.qt(k_s))  # [qr, s, B]
        xq = take(self.plan.q_rows)  # [qr, n-s, B]
        sc_s = lam * contract(u[:, :, None], xq[:, None, :], 0)  # [s, n-s, B]
        v_r = self.v(take(self.plan.v_rows))  # [c, n-s, B]
        if self.plan.keys == "scratch+self":
            sc_self = lam * contract(xq, self.self_m(take(self.plan.k_rows)), 0, keepdims=True)  # [1, n-s, B]
            m = jnp.maximum(jnp.max(sc_s, axis=0, keepdims=True), sc_self)
            e_s, e_self = keep((jnp.exp(sc_s - m), jnp.exp(sc_self - m)))
            z = ordered_sum(e_s, axis=0, keepdims=True) + e_self
            return (contract(v_s[:, :, None], e_s[None], 1) + e_self * v_r) / z
        # Every key (O(n^2) products): the scores keys x queries, then the weighted values.
        q_r, k_r = self.q(xq), self.k(take(self.plan.k_rows))  # [k, n-s, B]
        scores = jnp.concatenate([sc_s, lam * contract(k_r[:, :, None], q_r[:, None, :], 0)], axis=0)  # [keys, queries, B]
        e = keep(jnp.exp(scores - keep(jnp.max(scores, axis=0, keepdims=True))))
        p = keep(e / ordered_sum(e, axis=0, keepdims=True))
        s = k_s.shape[1]
        return contract(v_s[:, :, None], p[None, :s], 1) + contract(v_r[:, :, None], p[None, s:], 1)


def _columns(w: np.ndarray, rows: np.ndarray) -> list:
    """Each column of a head's query or key map as ((feature, coef), ...): what a score dimension
    reads."""
    return [tuple((int(rows[i]), float(w[i, c])) for i in np.flatnonzero(w[:, c])) for c in range(w.shape[1])]


@dataclass
class ScratchGroup:
    """Heads of one shape whose queries and keys are the scratch tokens (keys="scratch": FLEQ's
    product, sigmoid and transpose heads, one to three per row), evaluated side by side on a leading
    head axis. Score dimensions that every head of the group shares (FLEQ's own-slot separation,
    W of them per head) are computed once; each head adds its own dimensions. Every sum is a
    fixed-order sum, as in InvariantHead, so a card's result does not depend on its batch."""

    heads: int
    features: np.ndarray  # the scratch features the group reads
    q_common: FixedSum | None  # x[features] -> the shared dimensions' query values [kc]
    k_common: FixedSum | None
    q_own: FixedSum | None  # x[features] -> every head's own dimensions' query values [h * ko]
    k_own: FixedSum | None
    own: int  # ko
    v_rows: np.ndarray  # [h * vr] positions in features
    v: FixedSum  # pooled [h * vr] -> read-outs [h * vc], in ascending column order
    out_cols: np.ndarray  # the columns the read-outs are added to (sorted)
    skip_where: int | None = None  # every head acts only where this row is 0 (looped/layers.py)

    @classmethod
    def build(cls, heads: list, dtype) -> "ScratchGroup":
        features = np.unique(np.concatenate([np.concatenate([h.q_rows, h.k_rows, h.v_rows]) for h in heads]))
        at = lambda rows: np.searchsorted(features, rows)  # noqa: E731
        qs = [_columns(h.wq, h.q_rows) for h in heads]
        ks = [_columns(h.wk, h.k_rows) for h in heads]
        k = heads[0].wq.shape[1]
        common = [c for c in range(k) if len(heads) > 1 and all(q[c] == qs[0][c] and kk[c] == ks[0][c]
                                                                for q, kk in zip(qs, ks))]
        own = [c for c in range(k) if c not in common]

        def dims(columns_of, chosen, per_head):
            entries = [(int(at([f])[0]), (i * len(chosen) if per_head else 0) + o, coef)
                       for i, columns in enumerate(columns_of if per_head else columns_of[:1])
                       for o, c in enumerate(chosen) for f, coef in columns[c]]
            if not entries:
                entries = [(0, 0, 0.0)]
            i, o, coef = zip(*entries)
            return FixedSum.from_entries(i, o, coef, (len(heads) if per_head else 1) * len(chosen), dtype)

        out_cols = np.concatenate([h.v_cols for h in heads])
        if len(set(out_cols.tolist())) != len(out_cols):
            raise ValueError("heads of a group write the same column")
        rank = np.argsort(np.argsort(out_cols))  # each read-out's place among the sorted columns
        vr, vc = len(heads[0].v_rows), len(heads[0].v_cols)
        v_entries = [(i * vr + r, int(rank[i * vc + c]), float(h.wv[r, c]))
                     for i, h in enumerate(heads) for r, c in zip(*np.nonzero(h.wv))]
        vi, vo, vcoef = zip(*v_entries)
        return cls(len(heads), features,
                   dims(qs, common, False) if common else None, dims(ks, common, False) if common else None,
                   dims(qs, own, True) if own else None, dims(ks, own, True) if own else None, len(own),
                   np.concatenate([at(h.v_rows) for h in heads]), FixedSum.from_entries(vi, vo, vcoef, len(out_cols), dtype),
                   np.sort(out_cols), heads[0].skip_where)

    def attend(self, scratch, lam, keep):
        """The heads' read-outs [len(out_cols), s, B] on the scratch tokens."""
        h, x = self.heads, scratch(self.features)  # [F, s, B]
        s = x.shape[1]
        scores = jnp.zeros((h, s, s) + x.shape[2:], x.dtype)
        if self.own:
            oq = self.q_own(x).reshape((h, self.own) + x.shape[1:])  # [h, ko, s, B]
            ok = self.k_own(x).reshape((h, self.own) + x.shape[1:])
            scores = contract(ok[:, :, :, None], oq[:, :, None, :], 1)  # [h, s_k, s_q, B]
        if self.q_common is not None:
            cq, ck = self.q_common(x), self.k_common(x)  # [kc, s, B]
            # kept: XLA fused this [s, s] contraction into the sum over every head and computed
            # it once per head (128 times over at 64 x 64: 4.6 of 15 ms a step)
            scores = scores + keep(contract(ck[:, :, None], cq[:, None, :], 0))[None]
        scores = keep(lam * scores)
        m = keep(jnp.max(scores, axis=1))  # [h, s_q, B]
        e = keep(jnp.exp(scores - m[:, None]))
        z = ordered_sum(e, axis=1)  # [h, s_q, B]
        xv = jnp.take(x, self.v_rows, axis=0).reshape((h, -1, s) + x.shape[2:])  # [h, vr, s_k, B]
        pooled = contract(xv[:, :, :, None], e[:, None], 2)  # [h, vr, s_q, B]
        pooled = keep(pooled / z[:, None])
        return self.v(pooled.reshape((-1,) + pooled.shape[2:]))


def scratch_only(head: HeadPlan) -> bool:
    return head.queries == "scratch" and head.keys == "scratch"


def scratch_groups(heads: list, dtype) -> list:
    """The layer's keys="scratch" heads, one ScratchGroup per shape (rows read, columns written)
    and "not selected" row."""
    shapes: dict = {}
    for h in heads:
        if scratch_only(h):
            shapes.setdefault((len(h.q_rows), len(h.k_rows), len(h.v_rows), len(h.v_cols), h.wq.shape[1], h.skip_where),
                              []).append(h)
    return [ScratchGroup.build(group, dtype) for group in shapes.values()]


# ---- MLP groups ------------------------------------------------------------------------------------


@dataclass
class InvariantMLP:
    """An MLP group of the plan on feature-major x [len(in_rows), tokens, B]: row-wise, elementwise
    from the plan's per-feature tables, or general, hidden = relu(w1^T x + b1), update =
    w2^T hidden + b2, both maps fixed-order sums."""

    plan: MLPPlan
    tables: dict | None = None  # row-wise: cin, bias, cout [rows, units]; linear, b2 [rows]
    w1: FixedSum | None = None
    w2: FixedSum | None = None
    b1: jax.Array | None = None
    b2: jax.Array | None = None
    # The update where every unit is off [len(out_cols), 1, 1] (what a skipped group adds), for a
    # group that acts only where its plan's skip_where row is 0; else None.
    off_update: np.ndarray | None = None

    @classmethod
    def build(cls, mlp: MLPPlan, dtype) -> "InvariantMLP":
        if mlp.rowwise is not None:
            return cls(mlp, {name: as_array(table, dtype) for name, table in mlp.rowwise.items()})
        if mlp.reads is not None:  # the plan's sparse form: no dense [in_rows, units] matrix is made
            (ri, ru, rc), (wu, wo, wc) = mlp.reads, mlp.writes
            out = cls(mlp, None, FixedSum.from_entries(ri, ru, rc, mlp.units, dtype),
                      FixedSum.from_entries(wu, wo, wc, len(mlp.out_cols), dtype), as_array(mlp.b1, dtype),
                      as_array(mlp.b2, dtype))
        else:
            out = cls(mlp, None, FixedSum.build(mlp.w1, dtype), FixedSum.build(mlp.w2, dtype), as_array(mlp.b1, dtype),
                      as_array(mlp.b2, dtype))
        if mlp.skip_where is not None:  # every unit off: a hidden value of +0 (relu of a negative)
            out.off_update = (out.w2.of_zeros() + np.asarray(mlp.b2, float)).astype(dtype).reshape(-1, 1, 1)
        return out

    def update(self, x, keep=lambda v: v):
        """The group's update on out_cols [len(out_cols), tokens, B]. `keep`: a boundary
        (kernels/batched.py's materializer) for the hidden units, which XLA otherwise recomputes
        inside every output's gather (one 8 x 8 inverse: 0.200 -> 0.186 ms an instruction, 64 x 64
        11.2 -> 10.7 ms; in-process A/B, same bits)."""
        if self.tables is not None:  # b2 + sum_u cout_u relu(cin_u x + bias_u), then + linear x (MLPPlan)
            t, col = self.tables, lambda a: _column(a, x.ndim)
            out = col(t["b2"])
            for u in range(t["cin"].shape[1]):
                out = out + jax.nn.relu(x * col(t["cin"][:, u]) + col(t["bias"][:, u])) * col(t["cout"][:, u])
            if np.any(self.plan.rowwise["linear"] != 0):
                out = out + x * col(t["linear"])
            return jnp.broadcast_to(out, x.shape)
        hidden = keep(jax.nn.relu(self.w1(x) + _column(self.b1, x.ndim)))
        return self.w2(hidden) + _column(self.b2, x.ndim)


# ---- the batch operations --------------------------------------------------------------------------


def make_batch_ops(stack, lam: float, dtype, scratch_merge: int = 0) -> BatchOps:
    """open/advance/close/scratch_rows/select for a batch of cards [B, n, d], batch innermost.
    `scratch_merge`: neighbouring pieces of the scratch tokens' written features are joined up to
    this many features (kernels/batched.py Pieces); the arithmetic per value is the same either way."""
    plan = as_plan(stack)
    s, d = plan.scratch_tokens, plan.d
    layers = [([InvariantHead.build(h, dtype) for h in lay.heads if not scratch_only(h)],
               [InvariantMLP.build(m, dtype) for m in lay.mlps], scratch_groups(lay.heads, dtype))
              for lay in plan.layers]
    names = [lay.name or f"layer {i}" for i, lay in enumerate(plan.layers)]  # (profiles: XLA's op names)
    rest_of = Pieces(plan.write_sets("rest"), plan.read_on_rest)
    scratch_of = Pieces(plan.write_sets("scratch"), np.arange(d), scratch_merge)  # every feature: the runner reads the pc here
    corrected, check = plan.corrected_rows, plan.health_layer
    fixed, moving = plan.fixed_health_rows, plan.moving_health_rows
    lam = jnp.asarray(lam, dtype)

    def apply(layer, S, P, keep):
        """One layer. (Named scopes: XLA's op names say which layer and part an operation is of.)"""
        heads, mlps, groups = layer
        scratch = lambda f: scratch_of.take(S, f)  # noqa: E731
        rest = lambda f: rest_of.take(P, f)  # noqa: E731
        AS, AP = S, P  # every head reads the layer's input; their read-outs add up, in head order
        for k, group in enumerate(groups):  # (the keys="scratch" heads first, a group at a time)
            with jax.named_scope(f"scratch heads {k}"):
                AS = add_read_out(S, AS, group.skip_where, group.out_cols,
                                  lambda group=group: group.attend(scratch, lam, keep))
        for k, head in enumerate(heads):
            with jax.named_scope(f"head {k}"):
                if head.plan.queries != "others":
                    AS = add_read_out(S, AS, head.plan.skip_where, head.plan.v_cols,
                                      lambda head=head: head.attend_scratch(scratch, rest, lam, keep))
                if head.plan.queries != "scratch":
                    AP = rest_of.add(AP, head.plan.v_cols, head.attend_rest(scratch, rest, lam, keep))
        if heads or groups:  # what the attention wrote is read by every MLP group (kept: only the changed pieces)
            (AS,), (AP,) = keep_pieces(keep, (AS, changed(S, AS))), keep_pieces(keep, (AP, changed(P, AP)))
        S, P = AS, AP
        for k, mlp in enumerate(mlps):  # every MLP group reads the attention's output
            with jax.named_scope(f"mlp {k}"):
                compute = lambda mlp=mlp: mlp.update(scratch_of.take(AS, mlp.plan.in_rows), keep)  # noqa: E731
                if mlp.off_update is not None and skips(mlp.plan.skip_where):
                    all_off = lambda mlp=mlp: jnp.broadcast_to(mlp.off_update,  # noqa: E731
                                                               mlp.off_update.shape[:1] + AS[0].shape[1:])
                    update = jax.lax.cond(unselected(AS, mlp.plan.skip_where), all_off, compute)
                else:
                    update = compute()
                S = scratch_of.add(S, mlp.plan.out_cols, update)
                if mlp.plan.tokens == "all":
                    P = rest_of.add(P, mlp.plan.out_cols, mlp.update(rest_of.take(AP, mlp.plan.in_rows), keep))
        return S, P

    def unselected(S, row):
        """Whether `row` is 1 on the first scratch token of every card: a part that acts only where
        selected (looped/layers.py skip_where) that no card of the batch selects."""
        return jnp.all(scratch_of.take(S, [row])[0, 0] > 0.5)

    def add_read_out(S, AS, row, cols, readout):
        """AS with readout() added on `cols`. For a head that acts only where selected (`row`, its
        skip_where) this is under a conditional that, where no card selects it, passes the pieces
        the read-out covers through unchanged: a skipped head neither computes nor writes (a
        64 x 64 transpose's read-out is 4,096 rows)."""
        if not skips(row):
            return scratch_of.add(AS, cols, readout())
        touched = sorted({scratch_of.where[int(f)][0] for f in cols})

        def spliced(pieces):  # AS with the touched pieces replaced
            whole = list(AS)
            for k, piece in zip(touched, pieces):
                whole[k] = piece
            return tuple(whole)

        def added(pieces):
            new = scratch_of.add(spliced(pieces), cols, readout())
            return [new[k] for k in touched]

        return spliced(jax.lax.cond(unselected(S, row), lambda pieces: pieces, added, [AS[k] for k in touched]))

    def health_of(pieces_of, pieces, features, batch, dtype):
        health = jnp.zeros((batch,), dtype)
        for part in (pieces_of.parts(pieces, features) if len(features) else []):
            health = jnp.maximum(health, lattice_distance_per_card(part))
        return health

    def open_cards(X):  # [B, n, d]
        P = rest_of.open(X[:, s:])
        return {"card": X, "scratch": scratch_of.open(X[:, :s]), "pieces": P,
                "fixed_health": health_of(rest_of, P, fixed, X.shape[0], X.dtype)}

    def advance(state):
        S, P = state["scratch"], state["pieces"]
        keep = materializer(jnp.isfinite(S[0].reshape(-1)[0]))
        health = state["fixed_health"]
        for i, layer in enumerate(layers):
            if i == check:
                health = jnp.maximum(health, jnp.maximum(health_of(scratch_of, S, corrected, *health.shape, health.dtype),
                                                         health_of(rest_of, P, moving, *health.shape, health.dtype)))
            with jax.named_scope(names[i]):
                S, P = apply(layer, S, P, keep)
        return {**state, "scratch": S, "pieces": P}, health

    def close(state):
        X = rest_of.close(state["card"], state["pieces"], s)
        return scratch_of.close(X, state["scratch"], 0)

    def scratch_rows(state, features=None):  # [B, s, d] or [B, s, len(features)]
        features = np.arange(d) if features is None else np.arange(d)[features]
        return jnp.transpose(scratch_of.take(state["scratch"], features), (2, 1, 0))

    def holding(pieces_of, n_written):
        """The written pieces that hold a state row (all of them where the stack names none)."""
        if plan.state_rows is None:
            return set(range(n_written))
        return {pieces_of.where[int(f)][0] for f in plan.state_rows if int(f) in pieces_of.where} & set(range(n_written))

    kept_scratch, kept_rest = holding(scratch_of, scratch_of.n_written), holding(rest_of, rest_of.n_written)

    def select(active, new, old):
        """The active cards' new state, the others' old one. Only the written pieces change in a
        step (the card, the read-only runs and the fixed health are the same in both), and of those
        only the pieces that hold a state row (Stack.state_rows) need the old values: a stopped
        card's other written rows are +0 before and after a step. (Measured: the select over every
        written piece was 12-14 % of a 32-card FLEQ iteration.)"""
        def pick(new_pieces, old_pieces, kept):
            return tuple(jnp.where(active, a, b) if k in kept else a
                         for k, (a, b) in enumerate(zip(new_pieces, old_pieces)))

        return {**new, "scratch": pick(new["scratch"], old["scratch"], kept_scratch),
                "pieces": pick(new["pieces"], old["pieces"], kept_rest)}

    return BatchOps(open_cards, advance, close, scratch_rows, select)


# One card's scratch pieces are joined up to this many features (`make_batch_ops`). FLEQ's scratch
# refines into dozens of pieces, many of one feature, and a wide write (a clear, a correction) is one
# operation per piece: for one card that is per-operation cost. Joined, a write that covers a piece
# in part adds -0.0 to its other rows, which costs more elements: worth it for one card, not for a
# batch (measured in-process, one 32 x 32 inverse: 2.61 -> 2.27 ms an instruction, compile 10.9 ->
# 6.7 s; 32 calculators: no gain, or a loss of up to 10 %).
ONE_CARD_MERGE = 64


def with_invariant_batches(step: Step, stack, lam: float, dtype) -> Step:
    """`step` with its per_card batches (of every size, one card included) evaluated here, in one
    vectorised pass; the batch operations are built once, on first use (one card's apart:
    ONE_CARD_MERGE). A card gives the same bits either way (tests/kernels/test_invariant.py)."""
    one_card = built_once(lambda: make_batch_ops(stack, lam, dtype, ONE_CARD_MERGE))
    batches = built_once(lambda: make_batch_ops(stack, lam, dtype))
    return dataclasses.replace(step, invariant_batch=lambda batch_size=None: one_card() if batch_size == 1 else batches(),
                               compile_options=invariant_compile_options())


def invariant_compile_options() -> tuple:
    """On a CPU, XLA's older loop emitters: this evaluator's many small fused loops (fixed-order
    chains, trees, gathers of static rows) compile about twice as fast with them and run as fast
    or faster (measured on the 16 x 16 and 32 x 32 inverse machines: compile 12.6 -> 6.3 s and
    22.7 -> 8.4 s; per instruction 1,135 -> 854 us and 5.9 -> 5.3 ms; benchmarks/fleq_scale.py).
    Neither emitter reassociates a sum (fast math stays off), so the per-card arithmetic is still
    the same at every batch size (tests/kernels/test_invariant.py)."""
    return (("xla_cpu_use_fusion_emitters", False),) if jax.default_backend() == "cpu" else ()
