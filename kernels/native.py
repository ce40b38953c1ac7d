"""The native evaluation: one instruction for a whole batch in one call of compiled C++ code.

XLA spends most of a small card's instruction on per-operation overhead (~0.1 us for each of some
100 operations) and most of a batch's on intermediate arrays (kernels/batched.py). Here the whole
instruction is one XLA custom call (an FFI target, kernels/native/step.cc) that evaluates the
kernel plan (kernels/plan.py) directly:

* the state is feature-major across the batch, x [d, B, n], so per-token work runs along
  contiguous memory and per-card work along runs of n tokens;
* the plan is encoded once into two flat arrays (integers: structure and indices; floats: the
  weights in the state's dtype) that the C++ code walks each step;
* cards that have stopped are skipped (the runner passes which cards are active), so the state is
  updated in place with no select pass;
* a batch is split between threads card-wise (OpenMP); every card is computed by the same
  operations whatever its batch, so a card's result never depends on its companions, for real
  values (FLEQ) too.

It computes the same formula as the other evaluators: softmax attention with the same weights and
ReLU units with the same weights. Two shortcuts are exact: a softmax weight whose exponent lies
below the exponential's underflow point is 0 without calling exp, and zero weights are left out of
the sums. tests/test_native.py compares it with the dense kernel after every step.

The library is compiled on first use with the C++ compiler (`c++`, or $CXX) into the user's cache
folder (`LOOPED_CACHE`, else ~/.cache/looped/native), keyed by the source, the compiler flags and
the XLA FFI headers. Where no compiler is found or the build fails, `available()` is False and the
fast backend keeps its XLA evaluators (kernels/fast.py, kernels/batched.py).

Supported structure: heads with `queries="scratch"` (every key) and `queries="others"` with
`keys="scratch+self"` (and "all"+"scratch+self": the scratch tokens take the first form, the
others the second), MLP groups of either token set. `supports(plan)` says whether a plan fits.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from kernels.common import BatchOps, Step
from kernels.plan import Plan

SOURCE = Path(__file__).resolve().parent / "native" / "step.cc"
TARGET = "looped_native_step"
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-fopenmp", "-std=c++17", "-shared",
         "-fPIC", "-w", "-g"]
VERSION = 1


class NativeUnavailable(RuntimeError):
    pass


def _cache_folder() -> Path:
    root = os.environ.get("LOOPED_CACHE")
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "looped"
    return base / "native"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


@functools.cache
def _library() -> ctypes.CDLL:
    """The compiled library (built now if the cache has none for this source and these flags)."""
    compiler = _compiler()
    if compiler is None:
        raise NativeUnavailable("no C++ compiler found (set CXX)")
    include = jax.ffi.include_dir()
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join([compiler] + FLAGS).encode()
                         + Path(include, "xla/ffi/api/ffi.h").read_bytes()).hexdigest()[:16]
    folder = _cache_folder()
    path = folder / f"step-{key}.so"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".step-{key}-{os.getpid()}.so"
        done = subprocess.run([compiler, *FLAGS, f"-I{include}", str(SOURCE), "-o", str(tmp)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise NativeUnavailable(f"building {SOURCE.name} failed:\n{done.stderr[-2000:]}")
        os.replace(tmp, path)
    return ctypes.CDLL(str(path))


@functools.cache
def _registered() -> bool:
    lib = _library()
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.LoopedStep), platform="cpu")
    return True


@functools.cache
def available() -> bool:
    """Whether the native evaluator can run here (a CPU backend and a working build)."""
    if jax.default_backend() != "cpu" or os.environ.get("LOOPED_NATIVE", "1") == "0":
        return False
    try:
        return _registered()
    except (NativeUnavailable, OSError) as err:
        print(f"looped: native kernel unavailable ({str(err).splitlines()[0]}); using the XLA kernels",
              file=sys.stderr)
        return False


def supports(plan: Plan) -> bool:
    for lay in plan.layers:
        for h in lay.heads:
            if h.queries != "scratch" and h.keys != "scratch+self":
                return False
    return True


# ---- the plan as two flat arrays ---------------------------------------------------------------------


def moving_rows(plan: Plan) -> np.ndarray:
    """Corrected rows that some layer writes on the non-scratch tokens (the health figure reads
    them every step; the other corrected rows there never change)."""
    return np.intersect1d(plan.corrected_rows, plan.written_on_rest).astype(int)


def fixed_rows(plan: Plan) -> np.ndarray:
    return np.setdiff1d(plan.corrected_rows, plan.written_on_rest).astype(int)


def encode(plan: Plan, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """(integers, floats): the layout walked by kernels/native/step.cc, in the same order."""
    moving = moving_rows(plan)
    ints: list[int] = [VERSION, plan.d, plan.scratch_tokens, len(plan.layers), plan.health_layer,
                       len(plan.corrected_rows), *plan.corrected_rows.tolist(), len(moving), *moving.tolist()]
    floats: list[np.ndarray] = [np.array([lam], float)]

    def put(*arrays):
        for a in arrays:
            floats.append(np.asarray(a, float).reshape(-1))

    for lay in plan.layers:
        out_rows = sum(len(h.v_cols) * ((h.queries != "others") + (h.queries != "scratch")) for h in lay.heads)
        ints += [len(lay.heads), len(lay.mlps), out_rows]
        for h in lay.heads:
            k = h.wq.shape[1]
            ints += [int(h.queries != "others"), int(h.queries != "scratch"), len(h.q_rows), len(h.k_rows),
                     len(h.v_rows), len(h.v_cols), k, *h.q_rows.tolist(), *h.k_rows.tolist(), *h.v_rows.tolist(),
                     *h.v_cols.tolist()]
            r, c = np.nonzero(h.wv)
            ints += [len(r), *np.stack([r, c], axis=1).reshape(-1).tolist()]
            put(h.wq, h.wk, h.wv[r, c])
            if h.queries != "scratch":
                M = h.bilinear
                mr, mc = np.nonzero(M)
                ints += [len(mr), *np.stack([mr, mc], axis=1).reshape(-1).tolist()]
                put(M[mr, mc])
        ints.append(sum(len(m.out_cols) for m in lay.mlps))
        for m in lay.mlps:
            ints += [int(m.tokens == "all")]
            if m.rowwise is not None:
                t = m.rowwise
                ints += [0, len(m.in_rows), t["cin"].shape[1], *m.in_rows.tolist()]
                put(t["cin"], t["bias"], t["cout"], t["linear"], t["b2"])
                continue
            ints += [1, len(m.in_rows), *m.in_rows.tolist(), len(m.out_cols), *m.out_cols.tolist(), m.w1.shape[1]]
            put(m.b2)
            for u in range(m.w1.shape[1]):
                ins, outs = np.flatnonzero(m.w1[:, u]), np.flatnonzero(m.w2[u])
                ints += [len(ins), *ins.tolist(), len(outs), *outs.tolist()]
                put([m.b1[u]], m.w1[ins, u], m.w2[u, outs])
    return np.asarray(ints, np.int32), np.concatenate(floats)


# ---- the evaluator -----------------------------------------------------------------------------------


def make_batch_ops(stack, lam: float, dtype, lanes: bool = False, plan: Plan | None = None) -> BatchOps:
    """open/advance/close/scratch_rows for a batch of cards [B, n, d]. The state is
    (x, fixed health [B]) with x [d, B, n] (card-major: one card's tokens contiguous, for small
    batches) or, with `lanes`, x [d, n, B] (batch innermost: the loops run across the cards)."""
    plan = plan or Plan.of(stack)
    if not supports(plan):
        raise NotImplementedError("the native kernel evaluates scratch-query and scratch+self heads only")
    _registered()
    ints, floats = encode(plan, float(lam))
    s = plan.scratch_tokens
    fixed = fixed_rows(plan)
    to_state, from_state = ((2, 1, 0), (2, 1, 0)) if lanes else ((2, 0, 1), (1, 2, 0))

    def call(state, active):
        x, fixed_health = state
        out = (jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(active.shape, x.dtype))
        x, health = jax.ffi.ffi_call(TARGET, out, input_output_aliases={0: 0}, vmap_method="sequential")(
            x, jnp.asarray(ints), jnp.asarray(floats, x.dtype), active,
            scratch=np.int64(s), threads=np.int64(0), lanes=np.int64(lanes))
        return (x, fixed_health), jnp.where(active, jnp.maximum(health, fixed_health), 0)

    def open_cards(X):  # [B, n, d] -> the state
        rest = X[:, s:, fixed] if len(fixed) else jnp.zeros((X.shape[0], 0), X.dtype)
        distance = jnp.abs(rest - jnp.clip(jnp.round(rest), -1, 1)).reshape(X.shape[0], -1)
        return jnp.transpose(X, to_state), jnp.max(distance, axis=1, initial=0)

    def close(state):
        return jnp.transpose(state[0], from_state)

    def advance(state):
        return call(state, jnp.ones(state[1].shape, bool))

    def scratch_rows(state, features=None):  # [B, s, d] or [B, s, len(features)]
        x = state[0]
        rows = x if features is None else x[features]
        rows = rows[:, :s] if lanes else rows[:, :, :s]
        return jnp.transpose(rows, (2, 1, 0) if lanes else (1, 2, 0))

    def select(active, new, old):
        pick = active[None, None, :] if lanes else active[None, :, None]
        return jnp.where(pick, new[0], old[0]), new[1]

    return BatchOps(open_cards, advance, close, scratch_rows, select, call)


# Batches of at least this many cards are held batch-innermost (measured: see make_step).
LANES_FROM = 8


def make_step(stack, lam: float, dtype) -> Step:
    """A Step evaluated natively at every batch size: card-major below LANES_FROM cards,
    batch-innermost from there (one card: a batch of 1)."""
    plan = Plan.of(stack)
    by_layout = {lanes: make_batch_ops(stack, lam, dtype, lanes, plan) for lanes in (False, True)}
    one = by_layout[False]

    def advance(state):
        state, health = one.advance(state)
        return state, health[0]

    return Step(advance, scratch_tokens=stack.scratch_tokens, open=lambda X: one.open(X[None]),
                close=lambda state: one.close(state)[0], scratch=lambda state: one.scratch_rows(state)[0],
                batch_for=lambda batch, width: by_layout[batch >= LANES_FROM], per_card=False)
