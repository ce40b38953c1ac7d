"""The FLEQ machine (looped/machines/fleq/isa.py) against the FLEQ oracle, step by step: control flow
exactly, data within each function block's stated error; dense and fast agree; batches give what
each instance gives alone; the layer and head counts."""

import numpy as np
import pytest

from looped import engine
from looped.assembler import assemble, assemble_file
from looped.blocks import bounds
from looped.machines.fleq.oracle import step as oracle_step
from looped.machines.fleq.program import FUNCTIONS, FleqProgram
from looped.machines.fleq.isa import FLEQ
from looped.machine import machine_for

PROGRAMS = ["programs/fleq/calculator.asm", "programs/fleq/matrix_ops.asm", "programs/fleq/blocks.asm"]

def within_block_error(program: FleqProgram, inst, before, got, want) -> bool:
    """Within the block's stated bound (looped/blocks/bounds.py, as docs/fleq.md states it)."""
    W = program.slots
    A, B = np.zeros((program.height, W)), np.zeros((program.height, W))
    for j, c in enumerate(inst.a_cols):
        A[:, j] = before[:, c]
    for j, c in enumerate(inst.b_cols):
        B[:, j] = before[:, c]
    if inst.b_rows_broadcast:
        B[:, :] = B[0, :]
    rows, cols = got.shape
    if inst.fn == "matmul":
        k = min(program.height, W)
        allowed = bounds.matmul_allowed(A[:, :k], B[:k, :])[:rows, :cols]
    else:
        allowed = bounds.allowed(inst.fn, A[:rows, :cols], B[:rows, :cols], want)
    return bool(np.all(np.abs(got - want) <= allowed))


def check_against_oracle(programs: list[FleqProgram], backend: str, steps: int) -> list[int]:
    """Run `steps` instructions of each program (one batch) on the transformer; compare each with
    the oracle applied to the transformer's own previous state. Returns the steps each executed
    before its halt."""
    pcs, memories, _ = engine.trace(programs, steps, backend=backend)
    executed = []
    for card, program in enumerate(programs):
        before, pc = program.memory.copy(), 0
        for t in range(steps):
            if pc == program.halt_index:
                break
            inst = program.code[pc]
            want = before.copy()
            next_pc = oracle_step(program, want, pc)
            got = memories[card][t]
            where = f"{program.file} step {t + 1} ({inst.source})"
            assert int(pcs[t, card]) == next_pc, f"{where}: pc {pcs[t, card]} != oracle {next_pc}"
            changed = list(inst.c_cols)
            untouched = [c for c in range(program.n_columns) if c not in changed]
            assert np.array_equal(got[:, untouched], before[:, untouched]), f"{where}: other cells changed"
            assert within_block_error(program, inst, before, got[:, changed], want[:, changed]), \
                f"{where}: {got[:, changed]} vs {want[:, changed]}"
            before, pc = got, next_pc
        executed.append(t)
    return executed


@pytest.mark.parametrize("backend", ["dense", "fast"])
def test_every_step_matches_the_oracle(backend):
    rng = np.random.default_rng(5)
    programs = [assemble_file(path) for path in PROGRAMS]
    calculator = assemble_file("programs/fleq/calculator.asm")
    for _ in range(2):  # and the calculator on random inputs
        x, y = rng.choice([-1, 1], 2) * 10.0 ** rng.uniform(-2, 2, 2)
        programs.append(calculator.with_settings({"x": float(abs(x)), "y": float(y)}))
    executed = check_against_oracle(programs, backend, steps=130)  # the calculator: up to ~120 steps
    assert all(t < 129 for t in executed)  # each halted


def test_dense_and_fast_agree():
    program = assemble_file("programs/fleq/matrix_ops.asm")
    dense, fast = (engine.run([program], backend=b)[0] for b in ("dense", "fast"))
    assert (dense.status, dense.steps, dense.pc) == (fast.status, fast.steps, fast.pc)
    for name, value in dense.outputs.items():
        np.testing.assert_allclose(np.array(fast.outputs[name]), np.array(value), rtol=1e-8, atol=1e-10)


def test_pallas_matches_fast():
    program = assemble_file("programs/fleq/calculator.asm").with_settings({"x": 5.0, "y": 0.3})
    (pallas,) = engine.run([program], backend="pallas")
    (fast,) = engine.run([program], backend="fast")
    assert pallas.steps == fast.steps and pallas.outputs == fast.outputs


def test_a_batch_gives_what_each_instance_gives_alone():
    program = assemble_file("programs/fleq/calculator.asm")
    rng = np.random.default_rng(1)
    settings = [{"x": float(x), "y": float(y)} for x, y in 10.0 ** rng.uniform(-2, 2, (64, 2))]
    batch = engine.run([program.with_settings(s) for s in settings])
    for i in (0, 17, 63):
        (alone,) = engine.run([program.with_settings(settings[i])])
        assert (alone.status, alone.steps) == (batch[i].status, batch[i].steps)
        assert alone.outputs == batch[i].outputs


def test_counters_and_loops_are_exact():
    source = """
.isa fleq
.data
n: 7
i: 0
s: 0
.code
loop:   add  s, s, i
        inc  i
        sub  t, i, n
        jle  t, loop
        halt
.data
t: 0
"""
    program = assemble(source, "count.asm")
    (result,) = engine.run([program], backend="fast")
    assert result.outputs["s"] == 28.0 and result.outputs["i"] == 8.0 and result.outputs["t"] == 1.0


def test_each_instance_halts_on_its_own():
    program = assemble_file("programs/fleq/matrix_ops.asm")
    runs = [program.with_settings({"k": k}) for k in (1, 3, 2)]
    results = engine.run(runs)
    assert [r.status for r in results] == ["halted"] * 3
    assert results[0].steps < results[2].steps < results[1].steps


def test_step_limit():
    program = assemble_file("programs/fleq/calculator.asm")
    (result,) = engine.run([program], max_steps=5)
    assert result.status == "step_limit" and result.steps == 5


def test_layers_and_heads():
    program = assemble_file("programs/fleq/calculator.asm")
    key = FLEQ.machine_key([program])
    machine = machine_for("fleq", key)
    table = machine.stack.table()
    assert [row["layer"] for row in table] == ["fetch", "operands", "function", "check", "write", "branch"]
    assert len(table) <= 13
    H = W = 1
    # operands: a, b, b's one column on every slot (looped/blocks/pointers.py), the flag
    assert [row["heads"] for row in table] == [1, 4, 2 * H + H + 2 + min(H, W), 1, 2, 0]
    assert machine.dtype == np.float64
    assert len(FUNCTIONS) == 11
