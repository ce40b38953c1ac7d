"""kernels/fast.py's health figure: corrected rows that no layer writes on the non-scratch tokens
are measured there once, when the card is opened (as kernels/batched.py does), and still count in
every step's figure (fast never writes them there: the figure is the one it measured every step)."""

import jax
import jax.numpy as jnp
import numpy as np

import kernels
from kernels.plan import Plan
from looped.engine import batch_cards
from looped.machine import build_machine
from looped.machines.subleq.random_programs import random_program


def test_a_fixed_corrected_row_off_the_lattice_counts_in_every_step():
    machine = build_machine(40, 8)
    program = random_program(np.random.default_rng(3), bits=8)
    X = np.array(batch_cards([program], 40)[0].X, dtype=np.float64)
    plan_rows = Plan.of(machine.stack)
    fixed = plan_rows.fixed_health_rows
    assert len(fixed) and len(plan_rows.moving_health_rows)
    X[5, fixed[0]] += 0.125  # a non-scratch token, a row no layer writes there
    X = jnp.asarray(X, machine.dtype)
    fast = kernels.make_step("fast", machine.stack, machine.lam, machine.dtype)
    state = fast.open(X)
    advance = jax.jit(fast.advance)
    for _ in range(3):
        state, health = advance(state)
        assert abs(float(health) - 0.125) < 1e-6
