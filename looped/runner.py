"""The loop: apply one instruction's step to a batch of cards until each halts or hits its limit.

The runner knows no instruction set. It is given a kernel's `Step` for one card, where the program
counter lives (`pc_token`, `pc_rows`), each card's halt address, and a bound on the health figure.
Each card stops on its own: once its program counter reaches its halt column, or its step count
reaches `max_steps`, its step count stops. The batch stops when every card
has stopped. The loop runs on the device (`lax.while_loop` under `jit`) in chunks, so long runs can
report progress between chunks.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from kernels.common import Step
from looped.program import LoopedError

# The health figure may not exceed this before error correction: values further than the
# correction tolerance (1/4) from {-1, 0, +1} would no longer be snapped back exactly.
HEALTH_BOUND = 0.2
MAX_STEPS = 2**31 - 1


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
    weights = jnp.asarray([1 << (width - 1 - i) for i in range(width)], dtype=jnp.int32)

    def decode(pc_bits):  # the scratch tokens' pc rows [B, s, width] -> [B]
        return jnp.sum((pc_bits[:, pc_token] > 0).astype(jnp.int32) * weights, axis=-1)

    return decode


class Loop:
    """A jitted loop around one kernel `Step` (kernels/common.py). Build once per machine and
    backend; call many times.

    Cards that have halted are stepped on with the rest: the halt column is a fixed point of the
    machine, so their decoded state does not change, and their step counts and health stop. Every
    card that has not halted has executed exactly as many instructions as the loop has iterated,
    so the loop stops at `max_steps` with each such card after exactly `max_steps` instructions.
    Nothing has to be copied to freeze a card.

    `width`, the cards' token count, lets the kernel choose its batch evaluation (Step.batched)."""

    def __init__(self, step: Step, pc_token: int, pc_rows: slice, health_bound: float = HEALTH_BOUND,
                 width: int | None = None):
        if not 0 <= pc_token < step.scratch_tokens:
            raise ValueError("the program counter must live on a scratch token")
        self.bound = health_bound
        decode_pc = _pc_decoder(pc_token, pc_rows)
        # The kernel may evaluate large batches natively rather than as a vmap of one card: the
        # batch size is static under jit, so the choice is made when a shape is traced.
        ops_for = lambda B: step.batched(B, width)  # noqa: E731
        self._decode_pc = lambda X, B: decode_pc(ops_for(B).scratch_rows(X, pc_rows))

        def advance(state: LoopState, halt_pc, max_steps) -> LoopState:
            B = state.steps.shape[0]
            X, health = ops_for(B).advance(state.X)
            active = ~state.done & (state.steps < max_steps)
            steps = state.steps + active.astype(jnp.int32)
            health = jnp.where(active, health, 0).astype(state.worst.dtype)
            crossed = active & ~(health <= health_bound) & (state.bad_step < 0)  # NaN crosses too
            return LoopState(
                X=X,
                steps=steps,
                done=state.done | (self._decode_pc(X, B) == halt_pc),
                worst=jnp.maximum(state.worst, health),
                bad_step=jnp.where(crossed, steps, state.bad_step),
            )

        def chunk(state: LoopState, halt_pc, max_steps, chunk_steps):
            def cond(carry):
                state, i = carry
                running = ~state.done & (state.steps < max_steps)
                return jnp.any(running) & jnp.all(state.bad_step < 0) & (i < chunk_steps)

            def body(carry):
                state, i = carry
                return advance(state, halt_pc, max_steps), i + 1

            return jax.lax.while_loop(cond, body, (state, jnp.int32(0)))[0]

        def close(state: LoopState):
            return ops_for(state.steps.shape[0]).close(state.X)

        def trace(state: LoopState, halt_pc, n_steps, observe):
            def body(state, _):
                state = advance(state, halt_pc, jnp.int32(MAX_STEPS))
                return state, (observe(close(state)), state.steps, state.worst)

            return jax.lax.scan(body, state, None, length=n_steps)

        def start(X0, halt_pc):
            B = X0.shape[0]
            X = ops_for(B).open(X0)
            return LoopState(
                X=X,
                steps=jnp.zeros(B, jnp.int32),
                done=self._decode_pc(X, B) == halt_pc,
                worst=jnp.zeros(B, X0.dtype),
                bad_step=jnp.full(B, -1, jnp.int32),
            )

        self._start = jax.jit(start)
        self._chunk = jax.jit(chunk)
        self._trace = jax.jit(trace, static_argnames=("n_steps", "observe"))
        self._close = jax.jit(close)

    def start(self, X0, halt_pc) -> LoopState:
        return self._start(jnp.asarray(X0), jnp.asarray(halt_pc, jnp.int32))

    def finish(self, state: LoopState) -> LoopState:
        """The state with its cards back in the card representation [B, n, d]."""
        return dataclasses.replace(state, X=self._close(state))

    def run(self, X0, halt_pc, max_steps: int | None = None, chunk_steps: int = 1 << 14,
            progress: Callable[[np.ndarray, np.ndarray], None] | None = None) -> LoopState:
        """Run until every card halts or reaches `max_steps`. `progress(steps, done)` is called
        after each chunk of at most `chunk_steps` instructions."""
        max_steps = MAX_STEPS if max_steps is None else int(max_steps)
        halt_pc = jnp.asarray(halt_pc, jnp.int32)
        state = self.start(X0, halt_pc)
        # With a progress display, chunks start small and grow to about a quarter second each.
        chunk = min(chunk_steps, 256) if progress is not None else chunk_steps
        while True:
            started = time.perf_counter()
            state = self._chunk(state, halt_pc, jnp.int32(max_steps), jnp.int32(chunk))
            steps, done, bad = (np.asarray(a) for a in (state.steps, state.done, state.bad_step))
            self._check(state, bad)
            if progress is not None:
                progress(steps, done)
                elapsed = max(time.perf_counter() - started, 1e-3)
                chunk = int(min(chunk_steps, max(16, chunk * 0.25 / elapsed)))
            if np.all(done | (steps >= max_steps)):
                return self.finish(state)

    def trace(self, X0, halt_pc, n_steps: int, observe: Callable):
        """Run exactly `n_steps` loop iterations and return (final state, observe(cards) after
        each iteration [n_steps, B, ...], steps [n_steps, B]). Halted cards keep their state."""
        halt_pc = jnp.asarray(halt_pc, jnp.int32)
        state = self.start(X0, halt_pc)
        state, (observed, steps, worst) = self._trace(state, halt_pc, n_steps, observe)
        worst = np.asarray(worst)
        if np.any(~(worst <= self.bound)):
            t, card = np.argwhere(~(worst <= self.bound))[0]
            raise NumericalHealthError(int(card), int(np.asarray(steps)[t, card]), float(worst[t, card]), self.bound)
        return self.finish(state), observed, steps

    def _check(self, state: LoopState, bad: np.ndarray) -> None:
        if np.any(bad >= 0):
            card = int(np.argmax(bad >= 0))
            raise NumericalHealthError(card, int(bad[card]), float(np.asarray(state.worst)[card]), self.bound)
