"""The loop: apply one instruction's step to a batch of cards until each halts or hits its limit.

The runner knows no instruction set. It is given a kernel's `Step` for one card, where the program
counter lives (`pc_token`, `pc_rows`), each card's halt address, and a bound on the health figure.
Each card stops on its own: once its program counter reaches its halt column, or its step count
reaches `max_steps`, it is frozen (its state, step count and health no longer change). The loop
runs on the device (`lax.while_loop` under `jit`) in chunks, so long runs can report progress
between chunks. `Loop` puts together the parts in looped/loop/: the traced functions (traced.py),
one call's slots, lanes and tail pool (lanes.py), the state and health error (state.py).

**Compiled functions.** A chunk is one compiled function per batch shape, `go`: it opens the cards
into the kernel's representation, runs the loop and closes them again, so that a call of `run`
whose cards all stop within one chunk dispatches one executable (each dispatch costs; on a CPU an
executable whose work fans out wakes XLA's worker threads, about 0.1 ms on a loaded machine). A
run of several chunks reopens the closed cards (closing and opening are exact: the same values,
moved). When looped/executables.py has a cache folder and the Loop a `cache_key`, the compiled
executable is stored there and loaded by later processes, which then build no weights and trace
nothing (the step itself is built lazily, only when something must be compiled).
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from kernels.common import Step
from looped import executables
from looped.loop import costs
from looped.loop.costs import compile_estimate  # noqa: F401  (the runner's names, as before the split)
from looped.loop.lanes import (ALONE_SLICE, LANE_SLOTS, REVISIT, AloneCard, Lane, Run,  # noqa: F401
                               cores_for, default_slots, sizes_below)
from looped.loop.state import HEALTH_BOUND, MAX_STEPS, LoopState, NumericalHealthError  # noqa: F401
from looped.loop.traced import loop_functions

# (the names these had when they lived here: tests and benchmarks reach them through the runner)
_compile_times = costs.compile_times
_Lane, _Run, _AloneCard, _sizes_below = Lane, Run, AloneCard, sizes_below


@dataclass
class _Functions:
    """The loop's function for one batch shape: jitted, or a compiled executable."""

    # (cards [B, n, d], halt, steps, worst, bad_step, max_steps, chunk_steps, min_running)
    #   -> (cards [B, n, d], [steps, done, bad_step] [3, B] int32, worst [B]): open, at most
    #   chunk_steps iterations (see looped/loop/traced.py's chunk), close
    go: Callable


class Loop:
    """A jitted loop around one kernel `Step` (kernels/common.py). Build once per machine and
    backend; call many times.

    `step` is a Step, or a function that builds one (called only when something must be traced).
    Every card that is running has executed exactly as many instructions as its step count; a card
    is frozen from the step it halts or reaches `max_steps` on, so each card stops after exactly
    `max_steps` instructions whatever its batch.

    `width`, the cards' token count, lets the kernel choose its batch evaluation (Step.batched).
    `cache_key` (hashable, describing the machine and backend) lets compiled loops be stored on
    disk (looped/executables.py). `chunked`: the kernel runs chunks of the loop itself, each group
    of cards on its own (kernels.runs_chunks): its batch runs as one lane, it is refilled and
    compacted like any other."""

    def __init__(self, step: Step | Callable[[], Step], pc_token: int, pc_rows: slice,
                 health_bound: float = HEALTH_BOUND, width: int | None = None, cache_key: tuple | None = None,
                 chunked: bool = False):
        self._step = step if isinstance(step, Step) else None
        self._make_step = None if isinstance(step, Step) else step
        self.pc_token, self.pc_rows, self.width = pc_token, pc_rows, width
        self.bound = health_bound
        self.cache_key = cache_key
        self.chunked = chunked  # the kernel runs the loop itself (kernels.runs_chunks): one lane
        self._jitted = None
        self._by_shape: dict[tuple, _Functions] = {}
        self._seen: dict[tuple, _Functions] = {}  # _by_shape's entries under the arguments _for_shape was called with
        self._from_disk: set[tuple] = set()  # shapes whose executables were loaded from disk
        self._load_from_disk = True
        self._compiling = threading.RLock()
        self._iteration_s: dict[int, list[float]] = {}  # batch size -> recent seconds per loop iteration
        # Seconds this loop has spent running chunks and compiling batch shapes in this process, all
        # runs together: the lanes' compile budget weighs a new shape against both
        # (looped/loop/lanes.py, Lane._may_use).
        self.running_s = 0.0
        self.compiling_s = 0.0
        if self._step is not None:
            self._check_step(self._step)

    # ---- the traced functions ----------------------------------------------------------------

    @property
    def step(self) -> Step:
        if self._step is None:
            self._step = self._make_step()
            self._check_step(self._step)
        return self._step

    def _check_step(self, step: Step) -> None:
        if not 0 <= self.pc_token < step.scratch_tokens:
            raise ValueError("the program counter must live on a scratch token")

    def _functions(self) -> dict:
        """The jitted functions (traced on first use per shape; looped/loop/traced.py)."""
        if self._jitted is None:
            self._jitted = loop_functions(self.step, self.width, self.pc_token, self.pc_rows, self.bound)
        return self._jitted


    def _for_shape(self, shape: tuple, dtype, sharded: bool = False) -> _Functions:
        """`go` for batches of cards of `shape` [B, n, d]: from memory, from the disk cache, or
        compiled (and stored) now. Sharded batches use the jitted function."""
        known = self._seen.get((shape, dtype, sharded))  # (the same call as before: nothing to normalise)
        if known is not None:
            return known
        with self._compiling:  # (lanes of one run may ask for the same shape at once: compile it once)
            return self._for_signature(shape, dtype, sharded)

    def _for_signature(self, shape: tuple, dtype, sharded: bool) -> _Functions:
        signature = (tuple(int(x) for x in shape), np.dtype(dtype).name, bool(sharded))
        if signature in self._by_shape:
            self._seen[(shape, dtype, sharded)] = self._by_shape[signature]
            return self._by_shape[signature]
        if sharded:
            functions = _Functions(self._functions()["go"])
        else:
            key = self._disk_key(signature)
            loaded = executables.load(key) if key is not None and self._load_from_disk else None
            if loaded is not None and len(loaded) != 1:  # (an entry of another layout)
                loaded = None
            if loaded is not None:
                self._from_disk.add(signature)
            else:
                started = time.perf_counter()
                loaded = self._compile(signature[0], dtype, fresh=key is not None)
                costs.compile_times.append(time.perf_counter() - started)
                self.compiling_s += costs.compile_times[-1]
                costs.compile_times_of[signature[0][0] == 1].append(costs.compile_times[-1])
                if key is not None:
                    executables.save(key, loaded)
            functions = _Functions(*loaded)
        self._by_shape[signature] = self._seen[(shape, dtype, sharded)] = functions
        return functions

    def _disk_key(self, signature: tuple) -> tuple | None:
        # (The kernel's compile options need no place here: they follow from the source and the
        # platform, which executables.py's key holds.)
        if signature[2] or self.cache_key is None or executables.folder() is None:
            return None
        return ("loop", self.cache_key, self.pc_token, self.pc_rows.start, self.pc_rows.stop, self.bound,
                self.width, signature[:2])

    def _compile(self, shape, dtype, fresh: bool = False) -> list:
        """`go` compiled for `shape` (a list of one executable). `fresh`: bypass XLA's persistent compilation
        cache (an executable it returns cannot be serialized whole on CPU: loaded again, it fails
        with 'Function ... not found')."""
        if fresh and jax.config.jax_enable_compilation_cache:
            from jax.experimental.compilation_cache import compilation_cache

            # (JAX decides once per process whether to use its cache: reset that decision.)
            compilation_cache.reset_cache()
            jax.config.update("jax_enable_compilation_cache", False)
            try:
                return self._compile(shape, dtype)
            finally:
                jax.config.update("jax_enable_compilation_cache", True)
                compilation_cache.reset_cache()
        f = self._functions()
        B, i32 = shape[0], jnp.int32
        spec = lambda s, t: jax.ShapeDtypeStruct(s, t)  # noqa: E731
        args = (spec(shape, dtype), spec((B,), i32), spec((B,), i32), spec((B,), dtype), spec((B,), i32),
                *[spec((), i32)] * 3)
        # (with the kernel's compile options, looped/loop/traced.py, and for a batch its batch options)
        extra = dict(self.step.batch_compile_options) if B > 1 else {}
        return [f["go"].lower(*args).compile(compiler_options=extra or None)]

    def note_iterations(self, slots: int, iterations: int, seconds: float) -> None:
        """A chunk's cost: `iterations` loop iterations of a batch of `slots` in `seconds`."""
        self.running_s += seconds
        if iterations >= 16:
            recent = self._iteration_s.setdefault(slots, [])
            recent.append(seconds / iterations)
            del recent[:-5]

    def iteration_cost(self, slots: int) -> float | None:
        """Seconds per loop iteration of a batch of `slots` cards (median of the recent chunks), or
        None before one was measured."""
        recent = self._iteration_s.get(slots)
        # (statistics.median: a few numbers, asked for several times a chunk; np.median costs ~20 us)
        return float(statistics.median(recent)) if recent else None

    def has_shape(self, shape: tuple, dtype, sharded: bool = False) -> bool:
        """Whether batches of cards of `shape` run without compiling anything."""
        signature = (tuple(int(x) for x in shape), np.dtype(dtype).name, bool(sharded))
        if signature in self._by_shape:
            return True
        key = self._disk_key(signature)
        return key is not None and executables.exists(key)

    # ---- running ---------------------------------------------------------------------------------

    def start(self, X0, halt_pc) -> LoopState:
        """A fresh state for the cards X0 [B, n, d]."""
        X0 = jnp.asarray(X0)
        B = X0.shape[0]
        return self._functions()["start"](X0, jnp.asarray(halt_pc, jnp.int32), jnp.zeros(B, jnp.int32),
                                         jnp.zeros(B, X0.dtype), jnp.full(B, -1, jnp.int32))

    def finish(self, state: LoopState) -> LoopState:
        """The state with its cards back in the card representation [B, n, d]."""
        return dataclasses.replace(state, X=self._functions()["close"](state))

    def run(self, X0, halt_pc, max_steps: int | None = None, chunk_steps: int = 1 << 14,
            progress: Callable[[np.ndarray, np.ndarray], None] | None = None,
            slots: int | None = None, steps0=None, lanes: int | None = None) -> LoopState:
        """Run until every card halts or reaches `max_steps`; the returned state holds every card
        in input order as numpy arrays (cards [B, n, d]). `progress(steps, done)` is called after
        each chunk of at most `chunk_steps` instructions. At most `slots` cards (default
        `default_slots()`) are on the device at once; see the module's docstring.
        `steps0` [B]: instructions each card has already executed (default 0): its step count
        starts there, so each card stops after max_steps - steps0 more (a per-card budget).
        `lanes`: batches the slots are split into, each run in a thread of its own (default
        `cores_for`: one per CPU core)."""
        max_steps = MAX_STEPS if max_steps is None else int(max_steps)
        try:
            return Run(self, X0, halt_pc, max_steps, chunk_steps, progress, slots, steps0, lanes).run()
        except jax.errors.JaxRuntimeError:
            if not self._from_disk:
                raise
            # An executable from the disk cache that does not run here (another build of the same
            # versions, a damaged file): forget it, compile afresh and run again from the start.
            self._seen.clear()
            for signature in self._from_disk:
                self._by_shape.pop(signature, None)
                executables.remove(self._disk_key(signature))
            self._from_disk.clear()
            self._load_from_disk = False
            return Run(self, X0, halt_pc, max_steps, chunk_steps, progress, slots, steps0, lanes).run()

    def trace(self, X0, halt_pc, n_steps: int, observe: Callable):
        """Run exactly `n_steps` loop iterations and return (final state, observe(cards) after
        each iteration [n_steps, B, ...], steps [n_steps, B]). Halted cards keep their state."""
        halt_pc = np.asarray(halt_pc, np.int32)
        X0 = X0 if isinstance(X0, jax.Array) else jax.device_put(np.asarray(X0))
        B, dtype = X0.shape[0], np.dtype(X0.dtype)
        functions = self._functions()  # (jitted: a trace needs no compiled chunk)
        state = functions["start"](X0, halt_pc, np.zeros(B, np.int32), np.zeros(B, dtype), np.full(B, -1, np.int32))
        state, (observed, steps, worst) = functions["trace"](state, halt_pc, n_steps, observe)
        worst = np.asarray(worst)
        if np.any(~(worst <= self.bound)):
            t, card = np.argwhere(~(worst <= self.bound))[0]
            raise NumericalHealthError(int(card), int(np.asarray(steps)[t, card]), float(worst[t, card]), self.bound)
        return dataclasses.replace(state, X=functions["close"](state)), observed, steps
