"""The native evaluation: one instruction for a whole batch in one call of compiled C++ code.

XLA spends most of a small card's instruction on per-operation overhead (~0.1 us for each of some
100 operations) and much of a batch's on intermediate arrays (kernels/batched.py). Here the whole
instruction is one XLA custom call (an FFI target) whose code is generated from the kernel plan
(kernels/native_gen.py) for one machine and card width: every weight a literal, zero weights left
out, each MLP group one loop over its tokens computing all its units, token loops of constant
length that the compiler vectorises. Cards are split between threads (OpenMP); stopped cards are
skipped (the runner passes which cards are active, `BatchOps.advance_masked`), so the state is
updated in place with no select pass. Every card runs the same code whatever its batch, so a
card's result never depends on its companions, for real values (FLEQ) too.

It computes the same formula as the other evaluators, with the same weights: softmax attention
and ReLU units. The exact shortcuts are listed in kernels/native_gen.py. tests/test_native.py
compares it with the dense kernel after every step.

The code is compiled on first use of a machine shape with the C++ compiler (`c++`, or $CXX), a
few seconds, into the user's cache folder (`LOOPED_CACHE`, else ~/.cache/looped/native), keyed by
the source, the flags and the XLA FFI headers. Where no compiler is found or the build fails,
`available()` is False and the backend is not offered.

Supported structure: heads with `queries="scratch"` (every key) and `keys="scratch+self"` for the
other tokens, MLP groups of either token set; `supports(plan)` says whether a plan fits.
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

FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-fopenmp", "-std=c++17", "-shared",
         "-fPIC", "-w", "-g"]


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


def _build(source: bytes, stem: str) -> tuple[Path, str]:
    """The shared library for a C++ source (compiled now unless the cache has it) and its key."""
    compiler = _compiler()
    if compiler is None:
        raise NativeUnavailable("no C++ compiler found (set CXX)")
    include = jax.ffi.include_dir()
    key = hashlib.sha256(source + " ".join([compiler] + FLAGS).encode()
                         + Path(include, "xla/ffi/api/ffi.h").read_bytes()).hexdigest()[:16]
    folder = _cache_folder()
    path = folder / f"{stem}-{key}.so"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        src = folder / f"{stem}-{key}.cc"  # kept next to the library, for reading and profiling
        src.write_bytes(source)
        tmp = folder / f".{stem}-{key}-{os.getpid()}.so"
        done = subprocess.run([compiler, *FLAGS, f"-I{include}", str(src), "-o", str(tmp)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise NativeUnavailable(f"building {stem} failed:\n{done.stderr[-2000:]}")
        os.replace(tmp, path)
    return path, key


@functools.cache
def available() -> bool:
    """Whether the native evaluator can run here (a CPU backend and a C++ compiler that builds
    the FFI code: checked once per process with a one-layer probe)."""
    if jax.default_backend() != "cpu" or os.environ.get("LOOPED_NATIVE", "1") == "0":
        return False
    if _compiler() is None:
        return False
    try:
        from kernels.plan import LayerPlan

        probe = Plan(d=2, scratch_tokens=1, layers=[LayerPlan([], [])], corrected_rows=np.array([0]), health_layer=0,
                     per_card=False, written_on_rest=np.zeros(0, int), read_on_rest=np.array([0]))
        _ops(probe, 1.0, np.dtype(np.float32), 2)
        return True
    except (NativeUnavailable, OSError) as err:
        print(f"looped: native kernel unavailable ({str(err).splitlines()[0]})", file=sys.stderr)
        return False


def supports(plan: Plan) -> bool:
    for lay in plan.layers:
        for h in lay.heads:
            if h.queries != "scratch" and h.keys != "scratch+self":
                return False
    return True


# ---- the evaluator -----------------------------------------------------------------------------------


_registered: dict[str, str] = {}  # FFI target -> the library that holds it, in this process


def _register(name: str, path: str) -> None:
    if name not in _registered:
        lib = ctypes.CDLL(path)
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(lib.LoopedCardStep), platform="cpu")
        _registered[name] = path


@functools.cache
def _card_target(source: str) -> str:
    """The FFI target of a generated card step (kernels/native_gen.py), built and registered once."""
    path, key = _build(source.encode(), "card")
    name = f"looped_card_{key}"
    _register(name, str(path))
    return name


def targets() -> dict[str, str]:
    """The FFI targets registered in this process and their libraries (a compiled loop that calls
    them can be stored on disk with this list: looped/executables.py)."""
    return dict(_registered)


def register(targets: dict[str, str]) -> bool:
    """Register stored targets again (before loading a compiled loop that calls them); False
    when a library is gone or does not load."""
    try:
        for name, path in targets.items():
            _register(name, path)
        return True
    except OSError:
        return False


def _ops(plan: Plan, lam: float, dtype, width: int) -> BatchOps:
    """Batch operations running the generated code for cards of `width` tokens. The state is
    (x [B, d, n], fixed health [B]): each card feature-major, and the health of the corrected rows
    that never change (measured once, when the cards are opened)."""
    from kernels.native_gen import generate

    ctype = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[np.dtype(dtype)]
    target = _card_target(generate(plan, lam, int(width), ctype))
    s, fixed = plan.scratch_tokens, plan.fixed_health_rows

    def advance_masked(state, active):
        x, fixed_health = state
        out = (jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(active.shape, x.dtype))
        x, health = jax.ffi.ffi_call(target, out, input_output_aliases={0: 0}, vmap_method="sequential")(
            x, active, threads=np.int64(0))
        return (x, fixed_health), jnp.maximum(health, jnp.where(active, fixed_health, 0))

    def open_cards(X):  # [B, n, d]
        rest = X[:, s:, fixed]
        distance = jnp.abs(rest - jnp.clip(jnp.round(rest), -1, 1)).reshape(X.shape[0], -1)
        return jnp.transpose(X, (0, 2, 1)), jnp.max(distance, axis=1, initial=0)

    def close(state):
        return jnp.transpose(state[0], (0, 2, 1))

    def advance(state):
        return advance_masked(state, jnp.ones(state[1].shape, bool))

    def scratch_rows(state, features=None):  # [B, s, d] or [B, s, len(features)]
        x = state[0][:, :, :s]
        return jnp.transpose(x if features is None else x[:, features], (0, 2, 1))

    def select(active, new, old):
        return jnp.where(active[:, None, None], new[0], old[0]), new[1]

    return BatchOps(open_cards, advance, close, scratch_rows, select, advance_masked)


def make_step(stack, lam: float, dtype) -> Step:
    """A Step evaluated by generated code at every batch size (one card: a batch of 1). The code
    is generated for the card width the state has when traced."""
    plan = Plan.of(stack)
    if not supports(plan):
        raise NotImplementedError("the native kernel evaluates scratch-query and scratch+self heads only")
    if not available():
        raise NativeUnavailable("the native backend needs a C++ compiler on a CPU backend (set CXX)")
    ops_for = functools.cache(lambda width: _ops(plan, float(lam), dtype, width))
    width_of = lambda state: state[0].shape[-1]  # noqa: E731

    def open_card(X):
        return ops_for(X.shape[0]).open(X[None])

    def advance(state):
        state, health = ops_for(width_of(state)).advance(state)
        return state, health[0]

    def close(state):
        return ops_for(width_of(state)).close(state)[0]

    def scratch(state):
        return ops_for(width_of(state)).scratch_rows(state)[0]

    batch = BatchOps(lambda X: ops_for(X.shape[1]).open(X),
                     lambda state: ops_for(width_of(state)).advance(state),
                     lambda state: ops_for(width_of(state)).close(state),
                     lambda state, features=None: ops_for(width_of(state)).scratch_rows(state, features),
                     lambda active, new, old: ops_for(width_of(new)).select(active, new, old),
                     lambda state, active: ops_for(width_of(state)).advance_masked(state, active))
    return Step(advance, scratch_tokens=stack.scratch_tokens, open=open_card, close=close, scratch=scratch,
                batch_for=lambda batch_size, width: batch, per_card=False)
