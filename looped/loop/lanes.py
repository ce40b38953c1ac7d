"""One call of the loop's `run`: slots refilled and compacted, lanes on the CPU's cores, and the
tail pool on the one-card loop. (looped/runner.py's Loop compiles the batch shapes these ask for.)

**Slots.** The device runs a batch of *slots*, at most `slots` cards at a time. Between chunks the
runner regroups: cards that have stopped leave their slots (their final state is kept), and cards
still waiting take the free slots; when nothing waits and few cards still run, the batch is
compacted to a smaller shape (1, 4, 16, 64, ... slots). A chunk ends as soon as enough slots are
free to make that worthwhile, so a batch costs about the sum of its instances' steps rather than
its longest instance's steps times its size. When nothing waits and the few cards still running
would cost less one after another than together (k one-card iterations against one of the batch,
measured), they finish on the one-card loop (`Lane._run_alone`), which needs no new batch shape:
a straggler then runs at one card's speed rather than the whole batch's. Results come back in
input order, and a card's result never depends on its slot, its companions or when it started:
every card is frozen on its own. `trace` never regroups.

**Lanes.** On a CPU the slots are split into lanes, one per core (`cores_for`; at least
`LANE_SLOTS` slots each): each lane is a batch of its own, run in a thread of its own, that
regroups on its own and takes waiting cards from the run's shared queue. XLA runs a step's small
fused loops one after another on one core, so this is what puts a batch on every core. A lane's
tail goes to the run's *tail pool*, whose cards every lane that has ended its batch runs, a slice
at a time (`ALONE_SLICE`): a long card does not hold up the short ones, and a lane with nothing
left to run takes over another's tail (a lane's tail starts earlier when other lanes wait for
it). Where health is lost, the error names the card that lost it at the earliest loop iteration
(then the lowest card), as one lane would: the other lanes run on to that iteration and stop.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from kernels.common import thread_cap
from looped import executables
from looped.loop.costs import compile_estimate, compile_times
from looped.loop.state import LoopState, NumericalHealthError

# Iterations between looks at whether a new batch shape is worth compiling.
REVISIT = 1024


def default_slots() -> int:
    """Cards on the device at once: on a CPU a batch stops paying past about a thousand cards
    (benchmarks/batch_throughput.py); accelerators take more."""
    return 1024 if jax.default_backend() == "cpu" else 16384


def sizes_below(W: int, multiple: int) -> list[int]:
    """Batch shapes a batch of W slots may be compacted to: 1, 2, 4, 8, ... (rounded up to a
    multiple of the device count), smaller than W, largest first."""
    sizes, s = set(), 1
    while s < W:
        size = -(-s // multiple) * multiple
        if size < W:
            sizes.add(size)
        s *= 2
    return sorted(sizes, reverse=True)


class Run:
    """One call of Loop.run (looped/runner.py): the cards, their results in input order, and the
    queue of cards waiting for a slot. Its slots are split into lanes (`Lane`), each a batch of its
    own that runs its chunks, regroups and takes waiting cards from the shared queue; lanes run in
    threads of their own (see `cores_for`)."""

    def __init__(self, loop, X0, halt, max_steps: int, chunk_steps: int, progress, slots: int | None,
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
        # The tail pool (`Lane._run_alone`): cards that run on the one-card loop, a slice at a
        # time, taken by whichever lane is free; lanes still running batches may add to it.
        self.pool: list[AloneCard] = []
        self.pool_changed = threading.Condition(self.lock)
        self.batch_lanes = self.lanes  # lanes still running a batch
        self.idle_lanes = 0  # lanes waiting for the pool

    def run(self) -> LoopState:
        if self.B == 0:
            return LoopState(np.asarray(self.X0), self.steps, self.done, self.worst, self.bad)
        # Lane i starts with cards i, i + lanes, ...: inputs given in order of length spread over all lanes.
        owners = [np.arange(i, self.W, self.lanes) for i in range(self.lanes)]
        if self.lanes > 1:
            self.host_X0()  # (once, before threads ask for it)
        for owner in owners[1:]:
            self.spawn(Lane(self, owner))
        try:
            self.work(Lane(self, owners[0]))
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

    def work(self, lane: "Lane") -> None:
        try:
            lane.run()
        except BaseException as e:  # (re-raised by run, in the calling thread)
            with self.lock:
                self.failed.append(e)
                self.stop_at = -1

    def spawn(self, lane: "Lane") -> None:
        """Run `lane` in a thread of its own."""
        thread = threading.Thread(target=self.work, args=(lane,), daemon=True)
        self.threads.append(thread)
        thread.start()

    def host_X0(self) -> np.ndarray:
        if self._host_X0 is None:
            self._host_X0 = np.asarray(self.X0)
        return self._host_X0

    def leave_batch(self) -> None:
        """A lane has ended its batch (its tail, if any, is in the pool)."""
        with self.pool_changed:
            self.batch_lanes -= 1
            self.pool_changed.notify_all()

    def add_to_pool(self, cards: list["AloneCard"]) -> None:
        with self.pool_changed:
            self.pool.extend(cards)
            self.pool_changed.notify_all()

    def next_alone(self) -> "AloneCard | None":
        """The pool's next card, waiting while it is empty and some lane may still add to it;
        None once it is empty for good (the cards still running are each in a lane's hands)."""
        with self.pool_changed:
            self.idle_lanes += 1
            while not self.pool and self.batch_lanes > 0:
                self.pool_changed.wait()
            self.idle_lanes -= 1
            return self.pool.pop(0) if self.pool else None

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


def cores_for(loop, sharded: bool) -> int:
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
# Iterations a tail card runs on the one-card loop before the next card of the pool gets its turn
# (about 30 ms on a 2-core CPU; a slice costs one call, well under 1 % of that).
ALONE_SLICE = 2048


@dataclass
class AloneCard:
    """A card of the tail pool: its state between slices (closed, [1, n, d]), step count, health
    figures and halt address ([1] each), and the loop iteration it has reached, counted on from
    its batch's (where its loss of health would fall among the other lanes')."""

    card: int
    x: Any
    steps: np.ndarray
    worst: Any
    bad: np.ndarray
    halt: np.ndarray
    iteration: int
    slice_steps: int


def _rows(X: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """X[owner]: a view where the owners are evenly spaced (a lane's first cards: i, i + lanes, ...),
    so that the cards are copied once, into the device's buffer, rather than first gathered into a
    temporary here (measured: a second lane's start was held up by that copy by up to 25 ms)."""
    if len(owner) > 1:
        step = int(owner[1] - owner[0])
        if step > 0 and np.array_equal(owner, np.arange(owner[0], owner[0] + step * len(owner), step)):
            return X[owner[0] : owner[0] + step * (len(owner) - 1) + 1 : step]
    return X[owner]


class Lane:
    """Some of a run's slots, run as a batch of their own: chunks, then regrouping between them
    (stopped cards leave, waiting cards take their slots, or the batch is compacted)."""

    def __init__(self, run: Run, owner: np.ndarray):
        self.r, self.loop = run, run.loop
        self.owner = owner  # the card in each slot (-1: a stopped card left as padding)
        self.iterations = 0  # loop iterations this lane has run
        self.busy = 0.0  # seconds spent in chunks so far (decides whether a new shape may be compiled)
        self.compiling = 0.0  # seconds spent compiling batch shapes in this lane
        self._functions: dict = {}  # batch size -> the loop's compiled function for it

    def functions(self, W: int):
        functions = self._functions.get(W)
        if functions is None:
            compiled = len(compile_times)
            functions = self.loop._for_shape((W,) + self.r.card_shape, self.r.dtype, self.r.sharding is not None)
            self.compiling += sum(compile_times[compiled:])
            self._functions[W] = functions
        return functions

    def run(self) -> None:
        """The lane's batch (its chunks and regroups) to its end, then the tail pool's cards,
        with the other lanes, until none is left."""
        try:
            self._run_batch()
        finally:
            self.r.leave_batch()
        self._work_pool()

    def _run_batch(self) -> None:
        r, owner = self.r, self.owner
        W = len(owner)
        whole = W == r.B  # every slot holds the card of its index, all cards in it (until the first regroup)
        halt = r.halt[owner].copy()
        X = self._cards(r.X0 if whole else _rows(r.host_X0(), owner))
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
        for size in sizes_below(W, self.r.multiple):
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

        usable = [W] + [size for size in sizes_below(W, r.multiple) if size > 1 and self._may_use(size)]
        costs = {size: cost(size) for size in usable}
        lanes = 1 + r.idle_lanes  # this lane and those waiting for the pool share the tail
        return max([k for k in range(1, W) if k < lanes * min(c for size, c in costs.items() if size >= k)], default=0)

    def _may_use(self, size: int) -> bool:
        """Whether to compact to `size` slots: at once when that shape is compiled (in memory or
        on disk). A new shape is compiled only while the compiling this lane has done stays below
        the time it has spent running (so compiling at most doubles what staying would have
        cost), or below four times that when compiled loops are kept on disk (each shape then
        serves every later run of this machine). The same holds for the loop's runs in this
        process taken together: a machine whose batches keep coming gets the shapes its lanes
        compact to, even where each run alone is too short to repay one."""
        r, loop = self.r, self.loop
        if loop.has_shape((size,) + r.card_shape, r.dtype, r.sharding is not None):
            return True
        kept = r.sharding is None and loop.cache_key is not None and executables.folder() is not None
        factor, estimate = (4.0 if kept else 1.0), compile_estimate(size == 1)
        return (self.compiling + estimate <= self.busy * factor
                or loop.compiling_s + estimate <= loop.running_s * factor)

    def _run_alone(self, X, steps, worst, bad, owner: np.ndarray, halt: np.ndarray, stopped: np.ndarray,
                   chunk: int) -> None:
        """The batch's tail on the one-card loop: its stopped cards are kept, and its running cards
        go to the run's tail pool, whose cards every lane that has ended its batch runs, a slice
        of at most ALONE_SLICE iterations at a time in the one-card shape (no new batch shape is
        compiled for a few cards; a long card does not hold up the short ones behind it, and one
        lane's tail is shared with the lanes that are free). A card's loop iterations count on
        from the batch's, so that a loss of health is placed as if the cards had run on together:
        each card runs at most to the earliest loss found so far (in any lane)."""
        r = self.r
        Xc = self._harvest(X, worst, bad, owner, stopped & (owner >= 0))
        worst = np.asarray(worst)
        slice_steps = max(1, min(chunk, ALONE_SLICE))
        r.add_to_pool([AloneCard(int(owner[slot]), Xc[slot : slot + 1], steps[slot : slot + 1].copy(),
                                  worst[slot : slot + 1].copy(), bad[slot : slot + 1].copy(),
                                  halt[slot : slot + 1].copy(), self.iterations, slice_steps)
                       for slot in np.flatnonzero(~stopped)])

    def _work_pool(self) -> None:
        """Run the tail pool's cards, a slice each, until the pool is empty for good."""
        r = self.r
        while True:
            card = r.next_alone()
            if card is None:
                return
            if self._run_slice(card):
                r.add_to_pool([card])  # (to the back: the others get their slice first)

    def _run_slice(self, card: "AloneCard") -> bool:
        """One slice of a pool card on the one-card loop; whether it still runs after it."""
        r = self.r
        if r.stop_at is not None and card.iteration >= r.stop_at:
            return False  # a loss of health earlier than this card has come (or the run failed)
        length = card.slice_steps if r.stop_at is None else max(1, min(card.slice_steps, r.stop_at - card.iteration))
        started, before = time.perf_counter(), card.steps
        x, counts, w = self.functions(1).go(self._cards(card.x), card.halt, card.steps, card.worst, card.bad,
                                           np.int32(r.max_steps), np.int32(length), np.int32(0))
        s, done, b = (c.reshape(1) for c in np.asarray(counts))
        ran = int(s[0] - before[0])
        self.loop.note_iterations(1, ran, time.perf_counter() - started)
        card.x, card.steps, card.worst, card.bad = x, s, w, b
        r.steps[card.card], r.done[card.card] = s[0], done[0] != 0
        if b[0] >= 0:
            r.lost_health(card.iteration + int(b[0] - before[0]), card.card, int(b[0]), float(np.asarray(w)[0]))
            return False
        card.iteration += ran
        if r.progress is not None:
            r.report()
        if done[0] != 0 or s[0] >= r.max_steps:
            r.keep(np.array([card.card]), np.asarray(x), np.asarray(w), b)
            return False
        return True

    def _compact_to(self, W: int, running: int) -> int | None:
        for size in sorted(sizes_below(W, self.r.multiple)):
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
        if take.all():  # (the whole lane: copied once, not first gathered into a temporary)
            self.r.keep(owner, Xc, np.asarray(worst), np.asarray(bad))
        else:
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
