"""The loop's traced functions for one kernel `Step`: a batch's step with each stopped card frozen,
the chunk loop, open-run-close as one function (`go`, what looped/runner.py compiles per batch
shape) and the trace.

**Per step.** A batch's loop steps every card and freezes the stopped ones (the kernel's
`advance_masked`, or its step and `select`), then updates the step counts, done flags and health
figures. One card alone is never frozen (when it stops, the chunk ends), so its loop is the
kernel's plain step with a halt-or-health test, and its counts are set once after the loop.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kernels.common import Step
from looped.loop.state import MAX_STEPS, LoopState, pc_decoder


def loop_functions(step: Step, width: int | None, pc_token: int, pc_rows: slice, health_bound: float) -> dict:
    """The jitted functions (traced on first use per shape): start, chunk, close, go, trace."""
    decode_pc = pc_decoder(pc_token, pc_rows)
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
                min_running, pc_token, pc_rows, health_bound)
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

    # (compiled as the kernel asks, `Step.compile_options`: a run, a sharded batch and a trace all
    # evaluate a card alike)
    options = dict(step.compile_options) or None
    jit = lambda f, **kw: jax.jit(f, compiler_options=options, **kw)  # noqa: E731
    return {"start": jit(start), "chunk": jit(chunk), "close": jit(close),
            "go": jit(go), "trace": jit(trace, static_argnames=("n_steps", "observe"))}
