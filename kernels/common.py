"""Pieces shared by the kernels (kernels/plan.py holds the structure they evaluate)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from kernels import settings
from kernels.plan import Plan, runs
from kernels.settings import SettingError

# Exactness: integer-valued float32 matmuls must not be rounded to TF32 or bf16 on GPUs.
PRECISION = jax.lax.Precision.HIGHEST


def thread_cap() -> int:
    """The most CPU threads one run may use: LOOPED_THREADS, or 0 (the default: no cap)."""
    value = os.environ.get("LOOPED_THREADS", "0").strip() or "0"
    if not value.isdigit():
        raise SettingError(f"LOOPED_THREADS must be a whole number of threads (0: no cap), not {value!r}")
    # (a cap above the cores caps nothing; held to a number the native kernel's int64 argument takes)
    return min(int(value), 1 << 20)


# XLA:CPU's preferred vector width for batches, per CPU: XLA generates 256-bit vectors by default
# (512-bit ones lower the clock of many Intel CPUs). AMD's AVX-512 CPUs (Zen 4 and later, family 25
# and up) run 512-bit operations at full clock, and there the wider vectors make batches faster
# (Zen 4, in-process A/B: 64 FLEQ calculators 68 -> 55 ms, 64 SUBLEQ cards 14.4 -> 13.6 ms; one card
# 2-3 % slower, so it keeps the default: Step.batch_compile_options); elsewhere XLA's default
# stands, unmeasured.
VECTOR_BITS_ENV = "LOOPED_XLA_VECTOR_BITS"


@functools.lru_cache(maxsize=1)
def cpu_description() -> dict:
    """This CPU as /proc/cpuinfo gives it: vendor, family, model name and flags (empty where unknown)."""
    out = {"vendor": "", "family": 0, "model": "", "flags": frozenset()}
    fields = {"vendor_id": "vendor", "cpu family": "family", "model name": "model", "flags": "flags",
              "Features": "flags"}  # ("Features": ARM's flags)
    seen = set()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
            key, _, value = (part.strip() for part in line.partition(":"))
            name = fields.get(key)
            if name is None or name in seen:  # (the first processor's entry is enough)
                continue
            seen.add(name)
            if name == "flags":
                out["flags"] = frozenset(value.split())
            elif name == "family":
                out["family"] = int(value) if value.isdigit() else 0
            else:
                out[name] = value
    except OSError:
        pass
    return out


def xla_vector_bits() -> int | None:
    """The vector width XLA:CPU should prefer here (LOOPED_XLA_VECTOR_BITS=256|512 overrides), or
    None for XLA's default."""
    chosen = os.environ.get(VECTOR_BITS_ENV, "").strip()
    if chosen:
        if chosen not in ("128", "256", "512"):
            raise SettingError(f"{VECTOR_BITS_ENV} must be 128, 256 or 512, not {chosen!r}")
        return int(chosen)
    cpu = cpu_description()
    if "avx512f" in cpu["flags"] and cpu["vendor"] == "AuthenticAMD" and cpu["family"] >= 25:
        return 512
    return None


def xla_cpu_options() -> tuple:
    """Compile options for batches run on XLA:CPU here (the vector width), empty elsewhere."""
    settings.unroll_max()  # (a bad setting is an error before anything runs)
    if jax.default_backend() != "cpu":
        return ()
    bits = xla_vector_bits()
    return (("xla_cpu_prefer_vector_width", bits),) if bits else ()


def matmul(a, b):
    return jnp.matmul(a, b, precision=PRECISION)


def lattice_distance(values):
    """Largest distance of `values` from the nearest of {-1, 0, +1}: the health figure."""
    nearest = jnp.clip(jnp.round(values), -1.0, 1.0)
    return jnp.max(jnp.abs(values - nearest))


def as_array(w: np.ndarray, dtype):
    # (cast by NumPy, then placed: jnp.asarray compiles a small program per weight shape, 37 of
    # them for SUBLEQ's fast step, 1.4-3.5 s of a first run on a loaded 2-core machine)
    return jax.device_put(np.asarray(w, dtype=np.dtype(dtype)))


def as_plan(stack) -> Plan:
    """The plan of a stack (kernels/plan.py); a plan is passed through, so that an evaluator
    built inside another (fast's batch form) shares its plan."""
    return stack if isinstance(stack, Plan) else Plan.of(stack)


def take_rows(x, idx):
    """x[idx] (rows of a feature-major array: the leading axis) for a static index list, as
    slices and broadcasts of single rows (no gather)."""
    pieces = []
    for _, first, length in runs(idx):
        if length < 0:
            pieces.append(jnp.broadcast_to(x[first : first + 1], (-length,) + x.shape[1:]))
        else:
            pieces.append(x[first : first + length])
    return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=0)


def _same(x):
    return x


def select_leading(active, new, old):
    """`new` where `active` [B], else `old`, for states whose every leaf has the batch leading."""
    def pick(a, b):
        return jnp.where(active.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)

    return jax.tree_util.tree_map(pick, new, old)


def built_once(make: Callable[[], Any]) -> Callable[[], Any]:
    """make() on the first call, its result thereafter. A kernel's batch form is built this way:
    only when a loop first asks for it (some machines never do), and as concrete arrays even when
    that happens while the loop is traced."""
    built = []

    def get():
        if not built:
            with jax.ensure_compile_time_eval():
                built.append(make())
        return built[0]

    return get


@dataclass(frozen=True)
class BatchOps:
    open: Callable
    advance: Callable
    close: Callable
    scratch_rows: Callable  # (state, features=None) -> the scratch tokens' rows [B, s, d or len(features)]
    # (active [B] bool, new state, old state) -> the new state for the active cards, the old one for
    # the rest: the runner freezes cards that have halted or reached their step limit.
    select: Callable = select_leading
    # (state, active [B] bool) -> (state, health): advance only the active cards, the others left
    # exactly as they are (saves the runner's select pass); None where the kernel has no such form.
    advance_masked: Callable | None = None
    # (state, halt [B], steps [B], done [B], worst [B], bad_step [B], max_steps, length,
    # min_running, pc_token, pc_rows, health bound) -> (state, steps, done, worst, bad_step): at most
    # `length` iterations of the runner's loop (looped/runner.py) in the kernel, each card on its
    # own, ending early once no more than min_running cards run or a card's health is lost; None
    # where the kernel has no such form (the runner then loops over `advance`).
    run_chunk: Callable | None = None


@dataclass(frozen=True)
class Step:
    """How a backend executes one instruction on one card.

    A backend may keep the card in its own representation while a run lasts (the fast kernel keeps
    the few columns that change transposed, apart from the read-only rest): `open` turns a card
    X [n, d] into that state, `advance` executes one instruction on it and reports the health
    figure, `close` turns it back into a card, and `scratch` gives the scratch tokens' rows
    [s, d] (where the program counter lives). Called on a card, a Step is simply
    `X -> (X', health)`."""

    advance: Callable[[Any], tuple[Any, Any]]
    scratch_tokens: int
    open: Callable[[Any], Any] = _same
    close: Callable[[Any], Any] = _same
    scratch: Callable[[Any], Any] | None = None
    # Evaluate every card of a batch by the same one-card computation, one card after another
    # (Stack.per_card: real values, which a batch-shaped evaluation would round differently).
    per_card: bool = False
    # For per_card stacks: (batch size or None) -> the batch-invariant evaluation of a whole batch in
    # one pass, each card bit for bit what it gives alone, at every batch size (kernels/invariant.py);
    # None: one card after another.
    invariant_batch: Callable[[int | None], "BatchOps"] | None = None
    # The backend's own evaluation of a whole batch, chosen by (batch size, card width; either may
    # be None, unknown): kernels/batched.py for `fast` where measured faster, the generated code for
    # `native`. None, or a None from it: the per-card form, vmapped.
    batch_for: Callable[[int | None, int | None], BatchOps | None] | None = None
    # XLA options this step's loops are compiled with (looped/loop/traced.py: runs, traces and
    # sharded batches alike; the kernel chooses its code shape). Empty: XLA's defaults.
    compile_options: tuple = ()
    # Added to those for the batch shapes of more than one card that the runner compiles: this CPU's
    # vector width (xla_cpu_options; one card keeps XLA's default, measured faster there).
    batch_compile_options: tuple = ()

    def scratch_rows(self, state):
        return self.scratch(state) if self.scratch is not None else state[: self.scratch_tokens]

    def __call__(self, X):
        state, health = self.advance(self.open(X))
        return self.close(state), health

    def batched(self, batch_size: int | None = None, width: int | None = None) -> "BatchOps":
        """The four operations for a batch of `batch_size` cards of `width` tokens [B, ...]."""
        if self.per_card:
            return self.invariant_batch(batch_size) if self.invariant_batch is not None else self._one_card_at_a_time(width)
        return self._vectorized(batch_size, width)

    def _vectorized(self, batch_size: int | None, width: int | None) -> "BatchOps":
        """The whole batch in one vectorised evaluation: the backend's own, or the vmap."""
        own = self.batch_for(batch_size, width) if self.batch_for is not None else None
        if own is not None:
            return own
        rows_of = jax.vmap(self.scratch_rows)
        return BatchOps(jax.vmap(self.open), jax.vmap(self.advance), jax.vmap(self.close),
                        lambda state, features=None: rows_of(state) if features is None else rows_of(state)[..., features])

    def _one_card_at_a_time(self, width: int | None) -> "BatchOps":
        """Batch operations that run the one-card computation on each card in turn (a loop on the
        device), so that a card's result never depends on its batch: XLA's batched kernels sum in
        an order that depends on the batch's shape, which rounds real values differently. Each
        card is held in the per-card form (tokens innermost; for FLEQ's machines it compiled 1-4x
        faster than the batch-innermost form at batch 1 and ran at least as fast from 4x4 up)."""
        one = self._vectorized(None, None)
        open_each = jax.vmap(lambda X: one.open(X[None]))
        close_each = jax.vmap(lambda s: one.close(s)[0])

        def advance(states):
            # lax.map, not a fori_loop updating the batch in place: measured, the latter copied
            # the whole batch per card (cost per card growing with the batch, 6x at 256 cards).
            def one_card(card):
                card, health = one.advance(card)
                return card, jnp.reshape(health, (-1,))[0]

            return jax.lax.map(one_card, states)

        def scratch_rows(states, features=None):
            return jax.vmap(lambda s: one.scratch_rows(s, features)[0])(states)

        return BatchOps(open_each, advance, close_each, scratch_rows)
