"""kernels/native_tables.py: the table form of the native code computes the literal form's
expressions in the same order (the same raw state bit for bit, one card and a group in the lanes
form); kernels/native.py chooses the form by the machine's size, and declines, before compiling, a
machine whose code would take minutes to build."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kernels
from kernels import native
from kernels.native_gen import generate, literal_terms
from kernels.native_tables import terms_of
from kernels.plan import Plan
from looped.engine import batch_cards
from looped.machine import build_machine
from looped.machines.subleq.random_programs import long_random_programs

pytestmark = pytest.mark.skipif(not native.available(), reason="no C++ compiler for the native kernel")


def _states(form, monkeypatch, machine, X, steps):
    """The raw state of each card after each step, with the code in `form`."""
    monkeypatch.setenv("LOOPED_NATIVE_FORM", form)
    ops = kernels.make_step("native", machine.stack, machine.lam, machine.dtype).batched(X.shape[0], X.shape[1])
    advance = jax.jit(ops.advance)
    state, out = ops.open(X), []
    for _ in range(steps):
        state, health = advance(state)
        out.append((np.asarray(ops.close(state)), np.asarray(health)))
    return out


def test_the_table_form_is_the_literal_form_bit_for_bit(monkeypatch):
    """Nine cards (a group of eight in the lanes form, and one alone, which runs the one-card
    code), 30 steps: every raw value and health figure identical."""
    n = 24
    machine = build_machine(n, 8)
    programs = long_random_programs(seed=4, count=9, bits=8, min_steps=30)
    X = jnp.asarray(np.stack([c.X for c in batch_cards(programs, n)]), machine.dtype)
    literal = _states("literal", monkeypatch, machine, X, 30)
    tables = _states("tables", monkeypatch, machine, X, 30)
    for (a, ha), (b, hb) in zip(literal, tables):
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
        assert np.array_equal(ha.view(np.uint32), hb.view(np.uint32))
    assert not np.array_equal(literal[0][0], literal[-1][0])  # (the cards did run)


def test_the_sources_differ_in_size_as_they_should():
    machine = build_machine(24, 8)
    plan = Plan.of(machine.stack)
    literal = generate(plan, float(machine.lam), 24, "float", form="literal")
    tables = generate(plan, float(machine.lam), 24, "float", form="tables")
    assert "static const int TS[]" in tables and "layer_heads<L>(xl" in tables
    assert "static const int TS[]" not in literal
    assert terms_of(plan) > 0 and literal_terms(plan) > 0


def test_the_form_follows_the_machine_size(monkeypatch):
    from looped.assembler import assemble_file
    from looped import machines as instruction_sets
    from looped.machine import machine_for

    monkeypatch.delenv("LOOPED_NATIVE_FORM", raising=False)
    assert native.choose_form(Plan.of(build_machine(100, 16).stack)) == "literal"
    program = assemble_file("programs/fleq/inverse.asm")
    machine = machine_for("fleq", instruction_sets.of([program]).machine_key([program], None))
    plan = Plan.of(machine.stack)
    assert literal_terms(plan) > native.LITERAL_TERMS and native.choose_form(plan) == "tables"
    monkeypatch.setenv("LOOPED_NATIVE_FORM", "literal")
    assert native.choose_form(plan) == "literal"


def test_a_machine_too_large_is_declined_before_compiling(monkeypatch, capsys, tmp_path):
    """exit 2, the reason and what to use instead, no traceback, and no compiler started."""
    from looped.cli import main

    monkeypatch.setenv("LOOPED_CACHE_DIR", str(tmp_path))  # (no compiled loop from an earlier run)
    monkeypatch.setattr(native, "TABLE_TERMS", 100)
    monkeypatch.setattr(native, "_build", lambda *a, **k: pytest.fail("compiled a declined machine"))
    code = main(["run", "programs/fleq/calculator.asm", "--backend", "native"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "too large for the native backend" in err and "--backend fast" in err
    assert "Traceback" not in err
