"""The native evaluation: the runner's loop for a whole batch in one call of compiled C++ code.

XLA spends most of a small card's instruction on per-operation overhead (~0.1 us for each of some
100 operations) and much of a batch's on intermediate arrays (kernels/batched.py). Here the code
is generated from the kernel plan (kernels/native_gen.py) for one machine and card width, and runs
as XLA custom calls (FFI targets): `advance`, one instruction for a batch, and `run_chunk`, a chunk
of the runner's loop (looped/runner.py) in which each group of cards runs on its own until its
cards stop, with the runner's bookkeeping. The runner uses the chunk; traces use the instruction.
Groups are shared between the calling thread and XLA's thread pool; stopped cards cost nothing.
Every card's result is the same bit for bit whatever its companions, for real values (FLEQ) too.

It computes the same formula as the other evaluators, with the same weights: softmax attention
and ReLU units, with subnormals flushed to zero as XLA does on the CPU. The exact shortcuts are
listed in kernels/native_gen.py. tests/kernels/test_native.py compares it with the dense kernel.

The code is compiled on first use of a machine shape with the C++ compiler (`c++`, or $CXX), a
few seconds, into the user's cache folder (`$LOOPED_CACHE_DIR/native`, else ~/.cache/looped/native), keyed by
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
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from kernels.common import BatchOps, Step, cpu_description, thread_cap
from kernels.plan import Plan

# -fno-trapping-math: the code never reads the floating-point exception flags, and with them kept
# GCC will not if-convert the softmax weight's loops (`weight`: a float-to-int conversion under a
# select) unless the target has masked vector operations: on an AVX2-only CPU (Zen 3) every loop
# over `weight` stayed scalar and branchy, and an instruction of the lanes form cost 3-5x more
# (measured: 32 columns 19.3 -> 6.1 us per group of 8, 100 columns 142 -> 29 us). It changes no
# value: no contraction, no reassociation, IEEE rounding throughout (tests/kernels/test_native.py).
BASE_FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math", "-std=c++17", "-shared",
              "-fPIC", "-w", "-g"]


def march() -> str:
    """The instruction set the code is built for: this CPU's (`native`), or LOOPED_NATIVE_MARCH
    (e.g. x86-64-v3, to measure the AVX2 code on an AVX-512 machine)."""
    return os.environ.get("LOOPED_NATIVE_MARCH", "native")


def flags(form: str = "literal") -> list[str]:
    """The compiler's flags for code of `form`. The table form is built at -O2 without debug
    information: 5.5 s of CPU instead of 9.7 s for a FLEQ machine, its instructions 10-30 % slower."""
    base = [f for f in BASE_FLAGS if f != "-g"] if form == "tables" else BASE_FLAGS
    return ["-O2" if form == "tables" else base[0], f"-march={march()}", *base[1:]]


# x86-64 levels (-march=x86-64-vN) and their vector width in bits
_LEVEL_BITS = {"x86-64": 128, "x86-64-v2": 128, "x86-64-v3": 256, "x86-64-v4": 512}


def vector_bits() -> int:
    """The widest vector the code is built for: from the -march level, else from this CPU's flags."""
    if march() in _LEVEL_BITS:
        return _LEVEL_BITS[march()]
    cpu = cpu_description()["flags"]
    return 512 if "avx512f" in cpu else 256 if "avx2" in cpu else 128


# The code's shape per (vector bits, value type): cards per group in the lanes form (L), and how
# few running cards a group runs card by card. Measured (benchmarks/vs_interpreter.py and FLEQ's
# Jacobi program): AVX-512, floats 8 (16 gained 0-6 % but shares a batch among fewer threads and
# computes more stopped cards' lanes), doubles 8 (4 ran 1.6x slower). AVX2: floats 8 (one vector).
_SHAPES = {(512, "float"): (8, 4), (512, "double"): (8, 4),
           (256, "float"): (8, 4), (256, "double"): (8, 4),
           (128, "float"): (4, 2), (128, "double"): (4, 2)}


def target_info() -> dict:
    """What the generated code is built for (recorded by every benchmark: benchmarks/common.py)."""
    return {"march": march(), "vector_bits": vector_bits(), "flags": flags(), "flags_tables": flags("tables"),
            "group_float": code_shape("float")[0], "group_double": code_shape("double")[0],
            "literal_form_up_to_terms": LITERAL_TERMS, "form_override": os.environ.get("LOOPED_NATIVE_FORM"),
            "forms_built": dict(_forms)}


def code_shape(ctype: str) -> tuple[int, int]:
    """(cards per group, card by card at or below this many running) for this target."""
    lanes, card_by_card = _SHAPES[(vector_bits(), ctype)]
    override = os.environ.get("LOOPED_NATIVE_LANES")  # (for measuring other shapes)
    if override:
        lanes = int(override)
        card_by_card = lanes // 2
    return lanes, card_by_card


class NativeUnavailable(RuntimeError):
    pass


# The code's form per machine (kernels/native_gen.py): the literal form writes every weight into
# straight-line code, whose compile time grows faster than its size (SUBLEQ's widest machines,
# ~3,100 terms: 10-25 s; the 4x4 FLEQ inverse, ~20,000 terms: 9.5 minutes, 1.6 MB of C++); the
# table form (kernels/native_tables.py) walks the weights as arrays with the same code for every
# machine (a FLEQ machine: 2.2 s of CPU, and about 3 us per number of its tables), at several times
# the cost per instruction (10-14x on 32-column SUBLEQ). The same results bit for bit either way.
LITERAL_TERMS = 6000
# Beyond this many terms even the tables would take over a minute to compile here: declined.
TABLE_TERMS = 2_000_000


def choose_form(plan: Plan) -> str:
    """The code's form: "literal" where the machine's literal code stays small, else "tables"
    (LOOPED_NATIVE_FORM overrides, for measuring)."""
    from kernels.native_gen import literal_terms

    forced = os.environ.get("LOOPED_NATIVE_FORM")
    if forced in ("literal", "tables"):
        return forced
    return "literal" if literal_terms(plan) <= LITERAL_TERMS else "tables"


def check_size(plan: Plan) -> None:
    """Decline, before any compiling, a machine whose code would take minutes to build."""
    from kernels.native_tables import terms_of

    terms = terms_of(plan)
    if terms > TABLE_TERMS:
        raise NativeUnavailable(
            f"this machine is too large for the native backend ({terms:,} weight terms; its code would take "
            f"minutes to compile, the limit is {TABLE_TERMS:,}): use --backend fast")


def _cache_folder() -> Path:
    # (the folder the command line keeps its compiled loops in, looped/cli/__init__.py: LOOPED_CACHE_DIR;
    # empty there turns that cache off, but a library must be built somewhere: the default then)
    root = os.environ.get("LOOPED_CACHE_DIR")
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "looped"
    return base / "native"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


GLUE = Path(__file__).parent / "native_src" / "ffi_glue.cc"


def _compile(compiler: str, args: list[str], out: Path, what: str) -> None:
    """Run the compiler into a temporary file, then move it to `out` (another process building the
    same file meanwhile writes its own)."""
    tmp = out.with_name(f".{out.name}-{os.getpid()}")
    done = subprocess.run([compiler, *args, "-o", str(tmp)], capture_output=True, text=True)
    if done.returncode != 0:
        raise NativeUnavailable(f"building {what} failed:\n{done.stderr[-2000:]}")
    os.replace(tmp, out)


def _glue(compiler: str, include: str, folder: Path) -> tuple[Path, str]:
    """The FFI handlers' object (kernels/native_src/ffi_glue.cc), compiled once per compiler, flags
    and XLA FFI header, and its key."""
    glue_flags = flags("tables")
    key = hashlib.sha256(GLUE.read_bytes() + " ".join([compiler] + glue_flags).encode()
                         + Path(include, "xla/ffi/api/ffi.h").read_bytes()).hexdigest()[:16]
    path = folder / f"ffi-glue-{key}.o"
    if not path.exists():
        _compile(compiler, [*glue_flags, f"-I{include}", "-c", str(GLUE)], path, "the FFI glue")
    return path, key


def _build(source: bytes, stem: str, form: str = "literal", glue: bool = True) -> tuple[Path, str]:
    """The shared library for a C++ source (compiled now unless the cache has it, linked with the
    FFI glue unless `glue` is False: a source without a machine's entry points) and its key."""
    compiler = _compiler()
    if compiler is None:
        raise NativeUnavailable("no C++ compiler found (set CXX)")
    include = jax.ffi.include_dir()
    folder = _cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    glue_object, glue_key = _glue(compiler, include, folder) if glue else (None, "")
    key = hashlib.sha256(source + " ".join([compiler, glue_key] + flags(form)).encode()).hexdigest()[:16]
    path = folder / f"{stem}-{key}.so"
    if not path.exists():
        src = folder / f"{stem}-{key}.cc"  # kept next to the library, for reading and profiling
        src.write_bytes(source)
        _compile(compiler, [*flags(form), str(src), *([str(glue_object)] if glue else [])], path, stem)
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
_forms: dict[str, str] = {}  # "d x width, type" of each machine built in this process -> its form


# A generated library holds two targets: one instruction for a batch, and a chunk of instructions
# (the runner's loop, in the kernel); the target's name says which.
_SYMBOLS = {"looped_card_": "LoopedCardStep", "looped_chunk_": "LoopedCardChunk"}


def _register(name: str, path: str) -> None:
    if name not in _registered:
        lib = ctypes.CDLL(path)
        symbol = next(sym for prefix, sym in _SYMBOLS.items() if name.startswith(prefix))
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
        _registered[name] = path


@functools.cache
def _card_targets(source: str, form: str = "literal") -> tuple[str, str]:
    """The FFI targets (one step, a chunk) of a generated card step (kernels/native_gen.py), built
    and registered once."""
    path, key = _build(source.encode(), "card", form)
    names = tuple(f"{prefix}{key}" for prefix in _SYMBOLS)
    for name in names:
        _register(name, str(path))
    return names


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


@dataclass
class Cards:
    """The native state of a batch: each card feature-major with its tokens padded to whole vectors
    (x [B, d, padded n], the padding tokens zero), the health of the corrected rows that never
    change (measured once, when the cards are opened), and the cards' width n (static)."""

    x: jax.Array
    fixed_health: jax.Array
    width: int


jax.tree_util.register_dataclass(Cards, data_fields=["x", "fixed_health"], meta_fields=["width"])


def _ops(plan: Plan, lam: float, dtype, width: int) -> BatchOps:
    """Batch operations running the generated code for cards of `width` tokens (state: Cards)."""
    from kernels.native_gen import generate, padded

    ctype = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[np.dtype(dtype)]
    lanes, card_by_card = code_shape(ctype)
    form = choose_form(plan)
    _forms[f"d={plan.d} n={int(width)} {ctype}"] = form
    source = generate(plan, lam, int(width), ctype, lanes, card_by_card, form=form)
    target, chunk_target = _card_targets(source, form)
    s, fixed = plan.scratch_tokens, plan.fixed_health_rows

    def advance_masked(state: Cards, active):
        x = state.x
        out = (jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(active.shape, x.dtype))
        x, health = jax.ffi.ffi_call(target, out, input_output_aliases={0: 0}, vmap_method="sequential")(
            x, active, threads=np.int64(thread_cap()))
        return Cards(x, state.fixed_health, width), jnp.maximum(health, jnp.where(active, state.fixed_health, 0))

    def open_cards(X):  # [B, n, d]
        rest = X[:, s:, fixed]
        distance = jnp.abs(rest - jnp.clip(jnp.round(rest), -1, 1)).reshape(X.shape[0], -1)
        x = jnp.pad(jnp.transpose(X, (0, 2, 1)), ((0, 0), (0, 0), (0, padded(width) - width)))
        return Cards(x, jnp.max(distance, axis=1, initial=0), width)

    def close(state: Cards):
        return jnp.transpose(state.x[:, :, :width], (0, 2, 1))

    def advance(state: Cards):
        return advance_masked(state, jnp.ones(state.fixed_health.shape, bool))

    def scratch_rows(state: Cards, features=None):  # [B, s, d] or [B, s, len(features)]
        x = state.x[:, :, :s]
        return jnp.transpose(x if features is None else x[:, features], (0, 2, 1))

    def run_chunk(state: Cards, halt, steps, done, worst, bad_step, max_steps, length, min_running, pc_token,
                  pc_rows, bound):
        x = state.x
        B, i32 = x.shape[0], jnp.int32
        out = (jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct((B,), i32),
               jax.ShapeDtypeStruct((B,), jnp.bool_), jax.ShapeDtypeStruct((B,), x.dtype),
               jax.ShapeDtypeStruct((B,), i32))
        limits = jnp.stack([jnp.asarray(max_steps, i32), jnp.asarray(length, i32), jnp.asarray(min_running, i32)])
        x, steps, done, worst, bad_step = jax.ffi.ffi_call(
            chunk_target, out, input_output_aliases={0: 0, 2: 1, 3: 2, 4: 3, 5: 4}, vmap_method="sequential")(
            x, halt.astype(i32), steps, done, worst.astype(x.dtype), bad_step, state.fixed_health, limits,
            pc_token=np.int64(pc_token), pc_start=np.int64(pc_rows.start), pc_width=np.int64(pc_rows.stop - pc_rows.start),
            bound=float(bound), threads=np.int64(thread_cap()))
        return Cards(x, state.fixed_health, width), steps, done, worst, bad_step

    # (no select: the runner freezes stopped cards through advance_masked or run_chunk)
    return BatchOps(open_cards, advance, close, scratch_rows, advance_masked=advance_masked, run_chunk=run_chunk)


def make_step(stack, lam: float, dtype) -> Step:
    """A Step evaluated by generated code at every batch size (one card: a batch of 1). The code
    is generated for the cards' width (known when a card is opened, and carried by the state)."""
    plan = Plan.of(stack)
    if not supports(plan):
        raise NotImplementedError("the native kernel evaluates scratch-query and scratch+self heads only")
    if not available():
        raise NativeUnavailable("the native backend needs a C++ compiler on a CPU backend (set CXX)")
    check_size(plan)
    ops_for = functools.cache(lambda width: _ops(plan, float(lam), dtype, width))

    def open_card(X):
        return ops_for(X.shape[0]).open(X[None])

    def advance(state: Cards):
        state, health = ops_for(state.width).advance(state)
        return state, health[0]

    def close(state: Cards):
        return ops_for(state.width).close(state)[0]

    def scratch(state: Cards):
        return ops_for(state.width).scratch_rows(state)[0]

    batch = BatchOps(lambda X: ops_for(X.shape[1]).open(X),
                     lambda state: ops_for(state.width).advance(state),
                     lambda state: ops_for(state.width).close(state),
                     lambda state, features=None: ops_for(state.width).scratch_rows(state, features),
                     advance_masked=lambda state, active: ops_for(state.width).advance_masked(state, active),
                     run_chunk=lambda state, *args: ops_for(state.width).run_chunk(state, *args))
    return Step(advance, scratch_tokens=stack.scratch_tokens, open=open_card, close=close, scratch=scratch,
                batch_for=lambda batch_size, width: batch if batch_size is not None else None, per_card=False)
