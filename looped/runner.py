"""The loop: apply one instruction's step to a batch of cards until each halts or hits its limit.

The runner knows no instruction set. It is given a kernel's `Step` for one card, where the program
counter lives (`pc_token`, `pc_rows`), each card's halt address, and a bound on the health figure.
Each card stops on its own: once its program counter reaches its halt column, or its step count
reaches `max_steps`, it is frozen (its state, step count and health no longer change). The loop
runs on the device (`lax.while_loop` under `jit`) in chunks, so long runs can report progress
between chunks.

**Slots.** The device runs a batch of *slots*, at most `slots` cards at a time. Between chunks the
runner regroups: cards that have stopped leave their slots (their final state is kept), and cards
still waiting take the free slots; when nothing waits and few cards still run, the batch is
compacted to a smaller shape (1, 4, 16, 64, ... slots). A chunk ends as soon as enough slots are
free to make that worthwhile, so a batch costs about the sum of its instances' steps rather than
its longest instance's steps times its size. When nothing waits and the few cards still running
would cost less one after another than together (k one-card iterations against one of the batch,
measured), they finish on the one-card loop (`_Lane._run_alone`), which needs no new batch shape:
a straggler then runs at one card's speed rather than the whole batch's. Results come back in
input order, and a card's result never depends on its slot, its companions or when it started:
every card is frozen on its own. `trace` never regroups.

**Lanes.** On a CPU the slots are split into lanes, one per core (`cores_for`; at least
`LANE_SLOTS` slots each): each lane is a batch of its own, run in a thread of its own, that
regroups on its own and takes waiting cards from the run's shared queue. XLA runs a step's small
fused loops one after another on one core, so this is what puts a batch on every core. Where
health is lost, the error names the card that lost it at the earliest loop iteration (then the
lowest card), as one lane would: the other lanes run on to that iteration and stop.

**Compiled functions.** A chunk is one compiled function per batch shape, `go`: it opens the cards
into the kernel's representation, runs the loop and closes them again, so that a call of `run`
whose cards all stop within one chunk dispatches one executable (each dispatch costs; on a CPU an
executable whose work fans out wakes XLA's worker threads, about 0.1 ms on a loaded machine). A
run of several chunks reopens the closed cards (closing and opening are exact: the same values,
moved). When looped/executables.py has a cache folder and the Loop a `cache_key`, the compiled
executable is stored there and loaded by later processes, which then build no weights and trace
nothing (the step itself is built lazily, only when something must be compiled).

**Per step.** A batch's loop steps every card and freezes the stopped ones (the kernel's
`advance_masked`, or its step and `select`), then updates the step counts, done flags and health
figures. One card alone is never frozen (when it stops, the chunk ends), so its loop is the
kernel's plain step with a halt-or-health test, and its counts are set once after the loop.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from kernels.common import Step, thread_cap
from looped import executables
from looped.errors import LoopedError

# The health figure may not exceed this before error correction: values further than the
# correction tolerance (1/4) from {-1, 0, +1} would no longer be snapped back exactly.
HEALTH_BOUND = 0.2
MAX_STEPS = 2**31 - 1


# Iterations between looks at whether a new batch shape is worth compiling.
REVISIT = 1024
_compile_times: list[float] = []  # seconds per compiled batch shape, in this process
# the same, apart for the one-card shape (a plain loop, no masking: a smaller program) and batches
_compile_times_of = {True: [], False: []}


def compile_estimate(one_card: bool = False) -> float:
    """What compiling one more batch shape (`one_card`: the one-card shape) is expected to cost
    (seconds)."""
    times = _compile_times_of[one_card]
    return float(np.median(times)) if times else (1.5 if one_card else 2.0)


def default_slots() -> int:
    """Cards on the device at once: on a CPU a batch stops paying past about a thousand cards
    (benchmarks/batch_throughput.py); accelerators take more."""
    return 1024 if jax.default_backend() == "cpu" else 16384


class NumericalHealthError(LoopedError):
    def __init__(self, card: int, step: int, health: float, bound: float):
        self.card, self.step, self.health = card, step, health
        super().__init__(
            f"error: numerical health lost in instance {card} at step {step}: corrected rows were "
            f"{health:.3g} away from {{-1, 0, 1}} (bound {bound}); refusing to return a wrong answer"
        )


@dataclass
class LoopState:
    X: Any  # [B, ...] the cards in the kernel's representation while running; cards [B, n, d] when returned
    steps: jax.Array  # [B] int32, instructions executed
    done: jax.Array  # [B] bool, the program counter has reached the halt column
    worst: jax.Array  # [B] largest health figure seen
    bad_step: jax.Array  # [B] int32, first step whose health crossed the bound, or -1


jax.tree_util.register_dataclass(LoopState, data_fields=["X", "steps", "done", "worst", "bad_step"], meta_fields=[])


def _pc_decoder(pc_token: int, pc_rows: slice):
    width = pc_rows.stop - pc_rows.start
    weights = np.asarray([1 << (width - 1 - i) for i in range(width)], dtype=np.int32)

    def decode(pc_bits):  # the scratch tokens' pc rows [B, s, width] -> [B]
        return jnp.sum((pc_bits[:, pc_token] > 0).astype(jnp.int32) * weights, axis=-1)

    return decode


@dataclass
class _Functions:
    """The loop's function for one batch shape: jitted, or a compiled executable."""

    # (cards [B, n, d], halt, steps, worst, bad_step, max_steps, chunk_steps, min_running)
    #   -> (cards [B, n, d], [steps, done, bad_step] [3, B] int32, worst [B]): open, at most
    #   chunk_steps iterations (see Loop._functions' chunk), close
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
        """The jitted functions (traced on first use per shape)."""
        if self._jitted is not None:
            return self._jitted
        step, width, health_bound = self.step, self.width, self.bound
        decode_pc = _pc_decoder(self.pc_token, self.pc_rows)
        pc_rows = self.pc_rows
        # The kernel may evaluate large batches natively rather than as a vmap of one card: the
        # batch size is static under jit, so the choice is made when a shape is traced.
        ops_for = lambda B: step.batched(B, width)  # noqa: E731

        def decode(X, B):
            return decode_pc(ops_for(B).scratch_rows(X, pc_rows))

        def advance(state: LoopState, halt_pc, max_steps) -> LoopState:
            B = state.steps.shape[0]
            ops = ops_for(B)
            active = ~state.done & (state.steps < max_steps)
            if ops.advance_masked is not None:
                X, health = ops.advance_masked(state.X, active)  # stopped cards are left frozen
            else:
                X, health = ops.advance(state.X)
                X = ops.select(active, X, state.X)  # stopped cards stay frozen
            steps = state.steps + active.astype(jnp.int32)
            health = jnp.where(active, health, 0).astype(state.worst.dtype)
            crossed = active & ~(health <= health_bound) & (state.bad_step < 0)  # NaN crosses too
            return LoopState(
                X=X,
                steps=steps,
                done=state.done | (active & (decode(X, B) == halt_pc)),
                worst=jnp.maximum(state.worst, health),
                bad_step=jnp.where(crossed, steps, state.bad_step),
            )

        def run_all(state: LoopState, halt_pc, limit) -> tuple[LoopState, jax.Array]:
            """`advance` repeated while every card runs (none done, all below max_steps: the caller
            makes `limit` 0 otherwise), for at most `limit` iterations, stopping after the first
            in which a card halts or loses its health; returns the state and the iterations run.
            Every card is then active in every iteration, so nothing is frozen (the kernel's plain
            step, no select or mask) and each card gains one step per iteration: the loop carries
            only the cards, the health figures and one flag, and the step counts, done flags and
            bad steps are set once after it, to what `advance` would have made them."""
            B = state.steps.shape[0]
            ops = ops_for(B)

            def cond(carry):
                _, _, i, stop = carry
                return (i < limit) & ~stop

            def body(carry):
                X, worst, i, _ = carry
                X, health = ops.advance(X)
                health = health.astype(worst.dtype)
                stop = jnp.any((decode(X, B) == halt_pc) | ~(health <= health_bound))  # NaN stops too
                return X, jnp.maximum(worst, health), i + 1, stop

            X, worst, i, _ = jax.lax.while_loop(cond, body, (state.X, state.worst, jnp.int32(0), jnp.bool_(False)))
            steps = state.steps + i
            # No card was done or had lost its health before (or the loop did not run): a card is done,
            # or crossed the bound, in the last iteration if at all.
            ran = i > 0
            crossed = ran & ~(worst <= health_bound)
            done = jnp.where(ran, decode(X, B) == halt_pc, state.done)
            return LoopState(X=X, steps=steps, done=done, worst=worst,
                             bad_step=jnp.where(crossed, steps, state.bad_step)), i

        def chunk(state: LoopState, halt_pc, max_steps, chunk_steps, min_running):
            """At most `chunk_steps` iterations; stops early once no more than `min_running` cards
            are running (so that the runner can regroup), or when a card's health is lost.

            One card alone never needs freezing (once it stops, the chunk ends): its loop is
            `run_all`'s, the kernel's plain step. A batch needs the masked step throughout (a loop
            for the iterations in which every card runs, followed by the masked loop, measured
            2-5 % faster per step but compiled 40-50 % slower: two copies of the step)."""
            B = state.steps.shape[0]
            ops = ops_for(B)
            if ops.run_chunk is not None:  # the loop in the kernel: each card runs on its own
                X, steps, done, worst, bad_step = ops.run_chunk(
                    state.X, halt_pc, state.steps, state.done, state.worst, state.bad_step, max_steps, chunk_steps,
                    min_running, self.pc_token, pc_rows, health_bound)
                return LoopState(X=X, steps=steps, done=done, worst=worst, bad_step=bad_step), chunk_steps
            running_of = lambda state: ~state.done & (state.steps < max_steps)  # noqa: E731
            if B == 1:
                everyone = running_of(state)[0] & (state.bad_step[0] < 0) & (min_running < 1)
                limit = jnp.where(everyone, jnp.minimum(chunk_steps, max_steps - state.steps[0]), 0)
                return run_all(state, halt_pc, limit)

            def cond(carry):
                state, i = carry
                running = running_of(state)
                return (jnp.sum(running.astype(jnp.int32)) > min_running) & jnp.all(state.bad_step < 0) & (i < chunk_steps)

            def body(carry):
                state, i = carry
                return advance(state, halt_pc, max_steps), i + 1

            return jax.lax.while_loop(cond, body, (state, jnp.int32(0)))

        def close(state: LoopState):
            return ops_for(state.steps.shape[0]).close(state.X)

        def trace(state: LoopState, halt_pc, n_steps, observe):
            def body(state, _):
                state = advance(state, halt_pc, jnp.int32(MAX_STEPS))
                return state, (observe(close(state)), state.steps, state.worst)

            return jax.lax.scan(body, state, None, length=n_steps)

        def start(X0, halt_pc, steps, worst, bad_step):
            B = X0.shape[0]
            X = ops_for(B).open(X0)
            return LoopState(X=X, steps=steps, done=decode(X, B) == halt_pc, worst=worst, bad_step=bad_step)

        def go(X0, halt_pc, steps, worst, bad_step, max_steps, chunk_steps, min_running):
            state, _ = chunk(start(X0, halt_pc, steps, worst, bad_step), halt_pc, max_steps, chunk_steps,
                             min_running)
            # (steps, done and bad_step in one array: each output read back costs the host a few µs)
            counts = jnp.stack([state.steps, state.done.astype(jnp.int32), state.bad_step])
            return close(state), counts, state.worst

        self._jitted = {"start": jax.jit(start), "chunk": jax.jit(chunk), "close": jax.jit(close),
                        "go": jax.jit(go), "trace": jax.jit(trace, static_argnames=("n_steps", "observe"))}
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
                _compile_times.append(time.perf_counter() - started)
                _compile_times_of[signature[0][0] == 1].append(_compile_times[-1])
                if key is not None:
                    executables.save(key, loaded)
            functions = _Functions(*loaded)
        self._by_shape[signature] = self._seen[(shape, dtype, sharded)] = functions
        return functions

    def _disk_key(self, signature: tuple) -> tuple | None:
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
        return [f["go"].lower(*args).compile()]

    def note_iterations(self, slots: int, iterations: int, seconds: float) -> None:
        """A chunk's cost: `iterations` loop iterations of a batch of `slots` in `seconds`."""
        if iterations >= 16:
            recent = self._iteration_s.setdefault(slots, [])
            recent.append(seconds / iterations)
            del recent[:-5]

    def iteration_cost(self, slots: int) -> float | None:
        """Seconds per loop iteration of a batch of `slots` cards (median of the recent chunks), or
        None before one was measured."""
        recent = self._iteration_s.get(slots)
        return float(np.median(recent)) if recent else None

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
            return _Run(self, X0, halt_pc, max_steps, chunk_steps, progress, slots, steps0, lanes).run()
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
            return _Run(self, X0, halt_pc, max_steps, chunk_steps, progress, slots, steps0, lanes).run()

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


def _sizes_below(W: int, multiple: int) -> list[int]:
    """Batch shapes a batch of W slots may be compacted to: 1, 2, 4, 8, ... (rounded up to a
    multiple of the device count), smaller than W, largest first."""
    sizes, s = set(), 1
    while s < W:
        size = -(-s // multiple) * multiple
        if size < W:
            sizes.add(size)
        s *= 2
    return sorted(sizes, reverse=True)


class _Run:
    """One call of Loop.run: the cards, their results in input order, and the queue of cards
    waiting for a slot. Its slots are split into lanes (`_Lane`), each a batch of its own that
    runs its chunks, regroups and takes waiting cards from the shared queue; lanes run in threads
    of their own (see `cores_for`)."""

    def __init__(self, loop: Loop, X0, halt, max_steps: int, chunk_steps: int, progress, slots: int | None,
                 steps0=None, lanes: int | None = None):
        self.loop, self.max_steps, self.chunk_steps, self.progress = loop, max_steps, chunk_steps, progress
        self.X0 = X0 if isinstance(X0, (jax.Array, np.ndarray)) else np.asarray(X0)
        self.halt = np.asarray(halt, np.int32).reshape(-1)
        self.B = B = int(self.X0.shape[0])
        self.card_shape = tuple(int(x) for x in self.X0.shape[1:])
        self.dtype = np.dtype(self.X0.dtype)
        sharding = getattr(self.X0, "sharding", None)
        self.sharding = sharding if sharding is not None and len(sharding.device_set) > 1 else None
        self.multiple = len(self.sharding.device_set) if self.sharding is not None else 1
        cap = default_slots() if slots is None else max(1, int(slots))
        self.W = min(B, -(-cap // self.multiple) * self.multiple)
        if lanes is None:  # (a batch too small for two lanes asks nothing: the one-card path stays cheap)
            most = self.W // LANE_SLOTS
            lanes = min(cores_for(loop, self.sharding is not None), most) if most > 1 else 1
        self.lanes = max(1, min(int(lanes), self.W))
        self.threads: list[threading.Thread] = []  # lanes in threads of their own
        self.failed: list[BaseException] = []
        # every card's result, in input order (each card is in one lane at a time: lanes write
        # disjoint entries)
        self.steps = np.zeros(B, np.int32)
        self.steps0 = np.zeros(B, np.int32) if steps0 is None else np.asarray(steps0, np.int32).reshape(B)
        self.done = np.zeros(B, bool)
        self.worst = np.zeros(B, self.dtype)
        self.bad = np.full(B, -1, np.int32)
        self.X_out = None
        self.queue = self.W  # the next card waiting for a slot
        self.lock = threading.Lock()  # the queue, X_out's allocation, progress reports, errors
        self.errors: list[tuple[int, int, NumericalHealthError]] = []  # (iteration, card, error)
        self.stop_at: int | None = None  # lanes stop once they have run this many iterations
        self._host_X0 = None

    def run(self) -> LoopState:
        if self.B == 0:
            return LoopState(np.asarray(self.X0), self.steps, self.done, self.worst, self.bad)
        # Lane i starts with cards i, i + lanes, ...: inputs given in order of length spread over all lanes.
        owners = [np.arange(i, self.W, self.lanes) for i in range(self.lanes)]
        if self.lanes > 1:
            self.host_X0()  # (once, before threads ask for it)
        for owner in owners[1:]:
            self.spawn(_Lane(self, owner))
        try:
            self.work(_Lane(self, owners[0]))
            for thread in self.threads:
                thread.join()
        except BaseException:  # (an interrupt: the lanes stop after their chunk)
            self.stop_at = -1
            raise
        if self.failed:
            raise self.failed[0]
        if self.errors:  # the first loss of health: the earliest iteration, then the lowest card
            raise min(self.errors, key=lambda e: e[:2])[2]
        return LoopState(self.X_out, self.steps, self.done, self.worst, self.bad)

    def work(self, lane: "_Lane") -> None:
        try:
            lane.run()
        except BaseException as e:  # (re-raised by run, in the calling thread)
            with self.lock:
                self.failed.append(e)
                self.stop_at = -1

    def spawn(self, lane: "_Lane") -> None:
        """Run `lane` in a thread of its own."""
        thread = threading.Thread(target=self.work, args=(lane,), daemon=True)
        self.threads.append(thread)
        thread.start()

    def host_X0(self) -> np.ndarray:
        if self._host_X0 is None:
            self._host_X0 = np.asarray(self.X0)
        return self._host_X0

    def take_waiting(self, count: int) -> np.ndarray:
        """Up to `count` waiting cards, now given slots."""
        with self.lock:
            new = np.arange(self.queue, min(self.B, self.queue + max(0, count)))
            self.queue += len(new)
        return new

    def report(self) -> None:
        if self.progress is not None:
            with self.lock:
                self.progress(self.steps.copy(), self.done.copy())

    def lost_health(self, iteration: int, card: int, step: int, health: float) -> None:
        with self.lock:
            self.errors.append((iteration, card, NumericalHealthError(card, step, health, self.loop.bound)))
            self.stop_at = iteration if self.stop_at is None else min(self.stop_at, iteration)

    def keep(self, cards: np.ndarray, X: np.ndarray, worst: np.ndarray, bad: np.ndarray) -> None:
        """The final state of stopped `cards`."""
        if self.X_out is None:
            with self.lock:
                if self.X_out is None:
                    self.X_out = np.empty((self.B,) + X.shape[1:], X.dtype)
        self.X_out[cards] = X
        self.worst[cards], self.bad[cards] = worst, bad


def cores_for(loop: Loop, sharded: bool) -> int:
    """Lanes (threads) a run may use at once: on a CPU, one per core (at most LOOPED_THREADS). XLA
    runs a step's small fused loops one after another on one core, so a second batch in a second
    thread uses the second core (measured: 64 gcd instances, 1.36 s as one batch, 0.79 s as two
    lanes on 2 cores). One where the kernel runs chunks itself (`Loop.chunked`: it shares its cards
    among threads already), for batches sharded over devices and on accelerators."""
    if sharded or loop.chunked or jax.default_backend() != "cpu":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cap = thread_cap()
    return max(1, min(cores, cap) if cap > 0 else cores)


# Fewest slots a lane starts with: below this, splitting a batch saves less than it costs.
LANE_SLOTS = 8


class _Lane:
    """Some of a run's slots, run as a batch of their own: chunks, then regrouping between them
    (stopped cards leave, waiting cards take their slots, or the batch is compacted)."""

    def __init__(self, run: _Run, owner: np.ndarray):
        self.r, self.loop = run, run.loop
        self.owner = owner  # the card in each slot (-1: a stopped card left as padding)
        self.iterations = 0  # loop iterations this lane has run
        self.busy = 0.0  # seconds spent in chunks so far (decides whether a new shape may be compiled)
        self.compiling = 0.0  # seconds spent compiling batch shapes in this lane
        self._functions: dict[int, _Functions] = {}

    def functions(self, W: int) -> _Functions:
        functions = self._functions.get(W)
        if functions is None:
            compiled = len(_compile_times)
            functions = self.loop._for_shape((W,) + self.r.card_shape, self.r.dtype, self.r.sharding is not None)
            self.compiling += sum(_compile_times[compiled:])
            self._functions[W] = functions
        return functions

    def run(self) -> None:
        r, owner = self.r, self.owner
        W = len(owner)
        whole = W == r.B  # every slot holds the card of its index, all cards in it (until the first regroup)
        halt = r.halt[owner].copy()
        X = self._cards(r.X0 if whole else r.host_X0()[owner])
        steps, worst, bad = r.steps0[owner].copy(), np.zeros(W, r.dtype), np.full(W, -1, np.int32)
        chunk = min(r.chunk_steps, 256) if r.progress is not None else r.chunk_steps
        max_steps = np.int32(r.max_steps)
        while True:
            W = len(owner)
            if r.stop_at is not None and self.iterations >= r.stop_at:
                return  # another lane lost health earlier (or failed)
            min_running = self._min_running(W)
            # A larger shape that may not be compiled yet may become worth compiling as the run
            # goes on: look again every REVISIT iterations.
            length = chunk if min_running >= W // 2 or r.queue < r.B else min(chunk, REVISIT)
            if r.stop_at is not None:
                length = max(1, min(length, r.stop_at - self.iterations))
            fns = self.functions(W)
            started = time.perf_counter()
            # (numpy arguments: a compiled executable takes them as they are; jnp conversions
            # would compile a small program each)
            before = steps
            X, counts, worst = fns.go(X, halt, steps, worst, bad, max_steps, np.int32(length), np.int32(min_running))
            steps, done, bad = np.asarray(counts)
            done = done != 0
            seconds = time.perf_counter() - started
            self.busy += seconds
            self.loop.note_iterations(W, int(np.max(steps - before)), seconds)
            mine = owner >= 0
            r.steps[owner[mine]], r.done[owner[mine]] = steps[mine], done[mine]
            crossed = np.flatnonzero(mine & (bad >= 0))
            if len(crossed):
                # The card whose health was lost first in this chunk (the lowest slot among those of
                # that iteration): where cards step together the chunk stopped there, and where the
                # kernel runs each card on its own (run_chunk) the others went on, independently.
                offset = bad[crossed] - before[crossed]
                slot = int(crossed[np.argmin(offset)])
                card = int(owner[slot])
                r.lost_health(self.iterations + int(offset.min()), card, int(bad[slot]), float(np.asarray(worst)[slot]))
                return
            self.iterations += int(np.max(steps - before))
            if r.progress is not None:
                r.report()
                elapsed = max(time.perf_counter() - started, 1e-3)
                chunk = int(min(r.chunk_steps, max(16, chunk * 0.25 / elapsed)))
            stopped = done | (steps >= r.max_steps)
            running = W - int(np.count_nonzero(stopped))
            if running == 0 and r.queue >= r.B:
                if whole:
                    r.X_out, r.worst[:], r.bad[:] = np.asarray(X), np.asarray(worst), bad
                else:
                    self._harvest(X, worst, bad, owner, np.ones(W, bool))
                return
            if running <= min_running and r.queue >= r.B and running <= self._alone_count(W):
                self._run_alone(X, steps, worst, bad, owner, halt, stopped, chunk)
                return
            if running <= min_running and (r.queue < r.B or self._compact_to(W, running) is not None):
                X, steps, worst, bad, owner, halt = self._regroup(X, steps, worst, bad, owner, halt, stopped)
                whole = False
            # (else the next chunk goes on from here: the cards and health figures stay on the device)

    def _min_running(self, W: int) -> int:
        """A chunk stops early once no more than this many cards run: when cards wait, once an
        eighth of the slots are free; when none wait, once the batch fits a smaller shape."""
        if self.r.queue < self.r.B:
            return W - max(1, W // 8)
        alone = self._alone_count(W)
        for size in _sizes_below(W, self.r.multiple):
            if self._may_use(size):
                return max(size, alone)
        return alone

    def _alone_count(self, W: int) -> int:
        """The most running cards of a W-slot batch that cost less run one after another on the
        one-card loop (`_run_alone`) than in any batch shape they may use: k cards alone cost at
        most k one-card iterations per iteration of the longest, against one iteration of the
        smallest usable shape of at least k slots (W, or a smaller one already compiled or worth
        compiling). Costs as measured in this process, else a shape of s slots costs
        1 + (r - 1)(s - 1)/(W - 1) one-card iterations, r = tW/t1 (measured) or W/4 (measured:
        fast, 32 slots, about 7). None where the kernel runs its own chunks (it steps few cards
        alone already), for sharded batches, and while the one-card shape costs too much to compile."""
        r = self.r
        if W <= 1 or self.loop.chunked or r.sharding is not None or not self._may_use(1):
            return 0
        one, together = self.loop.iteration_cost(1), self.loop.iteration_cost(W)
        ratio = together / one if together is not None and one is not None else W / 4

        def cost(size: int) -> float:  # one iteration of `size` slots, in one-card iterations
            measured = self.loop.iteration_cost(size)
            if measured is not None and one is not None:
                return measured / one
            return 1 + (ratio - 1) * (size - 1) / (W - 1)

        usable = [W] + [size for size in _sizes_below(W, r.multiple) if size > 1 and self._may_use(size)]
        costs = {size: cost(size) for size in usable}
        return max([k for k in range(1, W) if k < min(c for size, c in costs.items() if size >= k)], default=0)

    def _may_use(self, size: int) -> bool:
        """Whether to compact to `size` slots: at once when that shape is compiled (in memory or
        on disk). A new shape is compiled only while the compiling this lane has done stays below
        the time it has spent running (so compiling at most doubles what staying would have
        cost), or below four times that when compiled loops are kept on disk (each shape then
        serves every later run of this machine)."""
        r = self.r
        if self.loop.has_shape((size,) + r.card_shape, r.dtype, r.sharding is not None):
            return True
        kept = r.sharding is None and self.loop.cache_key is not None and executables.folder() is not None
        return self.compiling + compile_estimate(size == 1) <= self.busy * (4.0 if kept else 1.0)

    def _run_alone(self, X, steps, worst, bad, owner: np.ndarray, halt: np.ndarray, stopped: np.ndarray,
                   chunk: int) -> None:
        """The batch's tail on the one-card loop: its stopped cards are kept, and its running cards
        run one after another, each to its end, in the one-card shape (no new batch shape is
        compiled for a few cards). A card's loop iterations count on from the batch's, so that a
        loss of health is placed as if the cards had run on together: each card runs at most to
        the earliest loss found so far (in any lane)."""
        r = self.r
        Xc = self._harvest(X, worst, bad, owner, stopped & (owner >= 0))
        worst, fns, base = np.asarray(worst), self.functions(1), self.iterations
        max_steps = np.int32(r.max_steps)
        for slot in np.flatnonzero(~stopped):
            card, one = int(owner[slot]), slice(slot, slot + 1)
            x, s, w, b, h = self._cards(Xc[one]), steps[one], worst[one], bad[one], halt[one]
            ran = 0
            while r.stop_at is None or base + ran < r.stop_at:
                length = chunk if r.stop_at is None else max(1, min(chunk, r.stop_at - base - ran))
                started, before = time.perf_counter(), s
                x, counts, w = fns.go(x, h, s, w, b, max_steps, np.int32(length), np.int32(0))
                s, done, b = (c.reshape(1) for c in np.asarray(counts))
                self.loop.note_iterations(1, int(s[0] - before[0]), time.perf_counter() - started)
                r.steps[card], r.done[card] = s[0], done[0] != 0
                if b[0] >= 0:
                    r.lost_health(base + ran + int(b[0] - before[0]), card, int(b[0]), float(np.asarray(w)[0]))
                    break
                ran += int(s[0] - before[0])
                if r.progress is not None:
                    r.report()
                if done[0] != 0 or s[0] >= r.max_steps:
                    r.keep(np.array([card]), np.asarray(x), np.asarray(w), b)
                    break
        self.iterations = base

    def _compact_to(self, W: int, running: int) -> int | None:
        for size in sorted(_sizes_below(W, self.r.multiple)):
            if size >= running and self._may_use(size):
                return size
        return None

    def _cards(self, X):
        """Cards as the compiled function takes them: of the run's dtype (and placed on the
        devices when sharded)."""
        r = self.r
        if r.sharding is not None:
            if not (isinstance(X, jax.Array) and X.sharding == r.sharding):
                X = jax.device_put(np.asarray(X, r.dtype), r.sharding)
            return X
        if X.dtype != r.dtype:
            X = np.asarray(X, r.dtype)
        return X

    def _harvest(self, X, worst, bad, owner: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Keep the final state of the stopped cards in `slots`; returns the closed cards [W, n, d]."""
        Xc = np.asarray(X)
        take = slots & (owner >= 0)
        self.r.keep(owner[take], Xc[take], np.asarray(worst)[take], np.asarray(bad)[take])
        return Xc

    def _regroup(self, X, steps, worst, bad, owner: np.ndarray, halt: np.ndarray, stopped: np.ndarray):
        """Stopped cards leave; waiting cards take their slots, or the batch is compacted. Returns
        the new slots' cards, step counts, health figures and bad steps, the card in each slot and
        each slot's halt address."""
        r, W = self.r, len(owner)
        Xc = self._harvest(X, worst, bad, owner, stopped & (owner >= 0))
        worst = np.asarray(worst)
        live, free = np.flatnonzero(~stopped), np.flatnonzero(stopped)
        new = r.take_waiting(W - len(live))
        new_W = W if len(new) or r.queue < r.B else (self._compact_to(W, len(live)) or W)
        # Live cards first, then waiting cards, then stopped cards as padding: a padding slot keeps
        # its card's state, halt address and step count, so it is stopped (frozen) from the start.
        n_new = len(new)
        pad = free[: new_W - len(live) - n_new]
        X = np.concatenate([Xc[live], r.host_X0()[new].astype(Xc.dtype) if n_new else Xc[:0], Xc[pad]])
        halt = np.concatenate([halt[live], r.halt[new], halt[pad]]).astype(np.int32)
        steps = np.concatenate([steps[live], r.steps0[new], steps[pad]]).astype(np.int32)
        worst = np.concatenate([worst[live], np.zeros(n_new + len(pad), r.dtype)]).astype(r.dtype)
        bad = np.concatenate([bad[live], np.full(n_new + len(pad), -1, np.int32)]).astype(np.int32)
        owner = np.concatenate([owner[live], new, np.full(len(pad), -1)])
        return self._cards(X), steps, worst, bad, owner, halt
