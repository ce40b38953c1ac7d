"""One plain transformer layer, as weights, and small builders for writing them by hand.

A layer maps the state X [n, d] to

    A  = X + sum_h softmax(lam * (X @ wq_h) @ (X @ wk_h).T, axis=-1) @ (X @ wv_h)
    X' = A + relu(A @ w1 + b1) @ w2 + b2

with no normalisation, no masks and broadcast biases. Building blocks return `Attention` and
`MLP` parts; `layer(...)` sums parts into one `Layer` (heads are summed into the residual, and
MLP hidden units in parallel add their outputs, so independent parts compose by concatenation).

Each part also carries *structure hints* that the fast kernels may exploit (see kernels/fast.py);
the dense kernel ignores them. The hints are promises about the weights, checked by the tests
that compare the fast and dense kernels:

* Head.queries == "scratch": only scratch tokens' attention output matters; on the other tokens
  the head writes only into rows that the same layer's MLP clears.
* Head.queries == "others": the mirror image: only the other tokens' attention output matters;
  on the scratch tokens the head writes only into rows that the same layer's MLP clears.
* Head.keys == "scratch+self": every query token puts all but a negligible weight on the scratch
  tokens and on itself.
* Head.keys == "scratch": (with queries == "scratch") evaluating the softmax over the scratch
  tokens alone leaves the layer's output unchanged: every query that matters gives the other
  tokens weights that underflow to exactly 0 (FLEQ's function heads push them down by 800), and
  the others write only into rows the same layer's MLP clears.
* MLP.tokens == "scratch": the MLP changes only scratch tokens (provided the rows the heads write
  on other tokens are zero there).
* Head.skip_where == r / MLP.skip_where == r (a block that acts only where it is selected, r its
  "not selected" row, 0 or 1): where feature r is 1 on the first scratch token, leaving the part
  out changes no bit of the layer's output. An MLP part's every unit is then off (its
  pre-activation is below zero by the gate, looped/blocks/gates.py), so the part adds only its
  fixed output for all-zero units; a head writes only rows that, in the same layer, units gated
  off by r alone read and the MLP clears. Kernels may skip such parts for a batch whose every
  card has r = 1 (kernels/invariant.py); tests compare skipping and not, bit for bit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from looped.layout import Rows


@dataclass(frozen=True)
class Head:
    wq: np.ndarray  # [d, k]
    wk: np.ndarray  # [d, k]
    wv: np.ndarray  # [d, d]
    queries: str = "all"  # or "scratch" or "others"
    keys: str = "all"  # or "scratch+self" or "scratch"
    name: str = ""
    skip_where: int | None = None  # the part's "not selected" row (module docstring)


@dataclass(frozen=True)
class MLP:
    w1: np.ndarray  # [d, h]
    b1: np.ndarray  # [h]
    w2: np.ndarray  # [h, d]
    b2: np.ndarray  # [d]
    tokens: str = "all"  # or "scratch"
    name: str = ""
    skip_where: int | None = None  # the part's "not selected" row (module docstring)

    @property
    def hidden(self) -> int:
        return self.w1.shape[1]


@dataclass(frozen=True)
class Layer:
    """Heads and MLP parts. The parts' hidden units run side by side: the layer's MLP is their
    concatenation (`mlp`); kernels may also evaluate each part on its own token set."""

    heads: tuple[Head, ...]
    parts: tuple[MLP, ...]
    d: int
    name: str = ""

    @functools.cached_property
    def mlp(self) -> MLP:
        return concat_mlps(list(self.parts), self.d, self.name)


def layer(name: str, *parts: "Head | MLP | Iterable[Head]", d: int) -> Layer:
    """Sum attention heads and MLP parts into one layer (MLP parts are concatenated)."""
    heads: list[Head] = []
    mlps: list[MLP] = []
    for part in parts:
        if isinstance(part, MLP):
            mlps.append(part)
        elif isinstance(part, Head):
            heads.append(part)
        else:
            heads.extend(part)
    return Layer(tuple(heads), tuple(mlps), d, name)


def concat_mlps(mlps: list[MLP], d: int, name: str = "") -> MLP:
    if not mlps:
        return MLP(np.zeros((d, 0)), np.zeros(0), np.zeros((0, d)), np.zeros(d), "scratch", name)
    return MLP(
        w1=np.concatenate([m.w1 for m in mlps], axis=1),
        b1=np.concatenate([m.b1 for m in mlps]),
        w2=np.concatenate([m.w2 for m in mlps], axis=0),
        b2=np.sum([m.b2 for m in mlps], axis=0),
        tokens="scratch" if all(m.tokens == "scratch" for m in mlps) else "all",
        name=name,
    )


# ---- builders -----------------------------------------------------------------------------------


class Units:
    """Collects ReLU hidden units one at a time:

        out[row] += coef * relu(sum_i w_i * x[i] + bias)   for each (row, coef) in outputs

    `inputs` and `outputs` map feature rows to coefficients."""

    def __init__(self, d: int, name: str = "", tokens: str = "all"):
        self.d, self.name, self.tokens = d, name, tokens
        self._w1: list[np.ndarray] = []
        self._b1: list[float] = []
        self._w2: list[np.ndarray] = []

    def add(self, inputs: Mapping[int, float], bias: float, outputs: Mapping[int, float]) -> None:
        self._w1.append({int(row): float(coef) for row, coef in inputs.items() if coef != 0})
        self._b1.append(float(bias))
        self._w2.append({int(row): float(coef) for row, coef in outputs.items() if coef != 0})

    def mlp(self) -> MLP:
        return UnitsMLP(b1=self._b1, tokens=self.tokens, name=self.name, d=self.d, reads=self._w1, writes=self._w2)



class SparseValueHead(Head):
    """A head whose value map [d, d] is kept as its few entries (src, dst, coef): FLEQ's function
    heads each copy one to H rows, and a hundred dense d x d maps were most of a 32 x 32 machine's
    build. The dense map is made only when asked for; the kernel plan reads `value_entries`."""

    def __init__(self, wq, wk, wv=None, queries: str = "all", keys: str = "all", name: str = "",
                 skip_where: int | None = None, *, d: int | None = None, values=()):
        """From `d` and the value entries [(src, dst, coef)]; or, as dataclasses.replace makes a
        copy, from a dense `wv`."""
        if wv is not None:
            d = wv.shape[0]
            values = [(int(i), int(j), float(wv[i, j])) for i, j in zip(*np.nonzero(wv))]
        src = np.array([v[0] for v in values], dtype=int)
        dst = np.array([v[1] for v in values], dtype=int)
        coef = np.array([v[2] for v in values], dtype=np.float64)
        keep = coef != 0
        for name_, value in (("wq", wq), ("wk", wk), ("d", d), ("value_entries", (src[keep], dst[keep], coef[keep])),
                             ("queries", queries), ("keys", keys), ("name", name), ("skip_where", skip_where)):
            object.__setattr__(self, name_, value)

    @functools.cached_property
    def wv(self) -> np.ndarray:
        src, dst, coef = self.value_entries
        w = np.zeros((self.d, self.d))
        np.add.at(w, (src, dst), coef)
        return w

    def __repr__(self) -> str:
        return f"SparseValueHead({self.name!r}, queries={self.queries!r}, keys={self.keys!r})"


class UnitsMLP(MLP):
    """An MLP part kept as its units' few reads and writes (Units.mlp). FLEQ's parts span thousands
    of rows and units, of which each unit touches a few: the dense w1 [d, h] and w2 [h, d] (gigabytes
    for a 64 x 64 machine) are made only when asked for (the dense kernel, export); the kernel plan
    reads `sparse` (kernels/plan.py part_weights)."""

    def __init__(self, w1=None, b1=(), w2=None, b2=None, tokens: str = "all", name: str = "",
                 skip_where: int | None = None, *, d: int | None = None, reads: list[dict] = (),
                 writes: list[dict] = ()):
        """From `d` and each unit's reads and writes ({feature: coef}); or, as dataclasses.replace
        makes a copy, from dense w1 and w2."""
        if w1 is not None:
            d = w1.shape[0]
            reads = [{int(f): float(w1[f, u]) for f in np.flatnonzero(w1[:, u])} for u in range(w1.shape[1])]
            writes = [{int(f): float(w2[u, f]) for f in np.flatnonzero(w2[u])} for u in range(w2.shape[0])]

        def entries(per_unit):
            units = [u for u, terms in enumerate(per_unit) for _ in terms]
            rows = [row for terms in per_unit for row in terms]
            coefs = [coef for terms in per_unit for coef in terms.values()]
            return np.array(units, dtype=int), np.array(rows, dtype=int), np.array(coefs, dtype=np.float64)

        ru, rf, rc = entries(reads)
        wu, wf, wc = entries(writes)
        b2 = np.zeros(d) if b2 is None else np.asarray(b2, dtype=np.float64)
        for name_, value in (("d", d), ("b1", np.array(b1, dtype=np.float64)), ("b2", b2),
                             ("tokens", tokens), ("name", name), ("skip_where", skip_where),
                             ("sparse", ((rf, ru, rc), (wu, wf, wc)))):
            object.__setattr__(self, name_, value)

    @functools.cached_property
    def w1(self) -> np.ndarray:
        (rf, ru, rc), _ = self.sparse
        w = np.zeros((self.d, len(self.b1)))
        w[rf, ru] = rc
        return w

    @functools.cached_property
    def w2(self) -> np.ndarray:
        _, (wu, wf, wc) = self.sparse
        w = np.zeros((len(self.b1), self.d))
        w[wu, wf] = wc
        return w

    @property
    def hidden(self) -> int:
        return len(self.b1)

    def __repr__(self) -> str:
        return f"UnitsMLP({self.name!r}, {self.hidden} units, tokens={self.tokens!r})"


def projection(d: int, maps: Mapping[Rows, float]) -> np.ndarray:
    """A [d, k] query/key map that adds each row block (all of size k) times its coefficient."""
    sizes = {rows.size for rows in maps}
    if len(sizes) != 1:
        raise ValueError(f"projected blocks differ in size: {[r.name for r in maps]}")
    k = sizes.pop()
    w = np.zeros((d, k))
    for rows, coef in maps.items():
        w[rows.slice, :] += coef * np.eye(k)
    return w


def copy_map(d: int, pairs: Iterable[tuple[Rows, Rows]]) -> np.ndarray:
    """A [d, d] value map that copies each source block into its destination block."""
    w = np.zeros((d, d))
    for src, dst in pairs:
        if src.size != dst.size:
            raise ValueError(f"cannot copy {src.name} ({src.size}) into {dst.name} ({dst.size})")
        w[src.slice, dst.slice] += np.eye(src.size)
    return w


@dataclass(frozen=True)
class Stack:
    """An instruction: the layers applied in order, with what the runner needs to know about the
    state (which rows error correction snaps, and where the health figure is taken)."""

    layers: tuple[Layer, ...]
    corrected_rows: tuple[int, ...] = field(default=())
    health_before: int = -1  # the health figure is taken on the input of this layer
    scratch_tokens: int = 1  # tokens [0, scratch_tokens) are the scratchpad (for the hints)
    # Evaluate a batch one card at a time with the one-card computation: the state holds real
    # values, which a batch-shaped evaluation would round differently from a card alone (integer
    # machines round every value back exactly, so they batch freely).
    per_card: bool = False
    # The rows that carry a card's state from one instruction to the next; every other row that a
    # layer writes is +0 between instructions (each layer clears what it wrote), so a stopped card
    # is frozen by keeping these rows alone (kernels/invariant.py select). None: every row.
    state_rows: tuple[int, ...] | None = None

    @property
    def health_layer(self) -> int:
        return self.health_before % len(self.layers)

    def table(self) -> list[dict]:
        """Per-layer size table: heads, hidden units, non-zero weights."""
        out = []
        for lay in self.layers:
            nnz = sum(int(np.count_nonzero(w)) for h in lay.heads for w in (h.wq, h.wk, h.wv))
            nnz += sum(int(np.count_nonzero(w)) for w in (lay.mlp.w1, lay.mlp.b1, lay.mlp.w2, lay.mlp.b2))
            out.append({"layer": lay.name, "heads": len(lay.heads), "hidden": lay.mlp.hidden, "nonzero": nnz})
        return out
