"""The SUBLEQ machine against the oracle, step by step (the dense kernel: the faithful layers)."""

import numpy as np
import pytest

from looped import engine
from looped.machines.subleq import oracle
from looped.assembler import assemble_file
from looped.layers import Stack
from looped.machine import LoopedMachine, build_machine, inverse_temperature
from looped.machines.subleq.random_programs import long_random_programs

STEPS = 120


def assert_trace_matches_oracle(programs, backend, n_steps=STEPS):
    pcs, memories, _ = engine.trace(programs, n_steps, backend=backend)
    mismatches = []
    for i, program in enumerate(programs):
        expected = list(oracle.trace(program, n_steps))
        for t, (pc, memory) in enumerate(expected):
            if pcs[t, i] != pc or list(memories[i][t]) != memory:
                mismatches.append((i, t + 1))
                break
        # After the halt the state stays put.
        for t in range(len(expected), n_steps):
            if pcs[t, i] != program.halt_index or list(memories[i][t]) != expected[-1][1]:
                mismatches.append((i, t + 1))
                break
    assert mismatches == [], f"(program, first bad step): {mismatches[:10]}"


@pytest.mark.parametrize("bits", [4, 8, 16])
def test_random_programs_step_by_step(bits):
    # 3 x 340 = 1,020 seeded programs, each running 100+ steps; full-range data, so results wrap.
    programs = long_random_programs(seed=bits, count=340, bits=bits, min_steps=100)
    assert_trace_matches_oracle(programs, backend="dense")


@pytest.mark.parametrize("name, outputs, steps", [
    ("giannou_factorial", {"n": 5040}, 68),
    ("giannou_reverse_list", {"list": [1, 2, 3, -4, -5, -6, -7]}, 24),
    ("giannou_linear_search", {"flag": 0, "index": 6}, 50),
    ("factorial", {"fact": 5040}, None),
])
def test_official_programs_step_by_step(name, outputs, steps):
    program = assemble_file(f"programs/{name}.asm")
    expected = oracle.run(program)
    assert_trace_matches_oracle([program], backend="dense", n_steps=expected.steps + 2)
    (result,) = engine.run([program], backend="dense")
    assert result.status == "halted"
    assert {k: result.outputs[k] for k in outputs} == outputs
    assert result.memory == expected.memory and result.steps == expected.steps
    if steps is not None:
        assert result.steps == steps


def test_step_limit_leaves_the_state_after_exactly_k_steps():
    program = assemble_file("programs/giannou_factorial.asm")
    for k in [0, 1, 7, 30]:
        (result,) = engine.run([program], backend="dense", max_steps=k)
        expected = oracle.run(program, max_steps=k)
        assert (result.status, result.steps, result.memory) == ("step_limit", k, expected.memory)


def test_halted_machine_is_a_fixed_point():
    program = assemble_file("programs/giannou_reverse_list.asm")
    pcs, memories, steps = engine.trace([program], 40, backend="dense")
    assert pcs[-1, 0] == program.halt_index
    assert (memories[0][30] == memories[0][-1]).all() and steps[-1, 0] == 24


def test_machine_size():
    machine = build_machine(64, 16)
    assert isinstance(machine, LoopedMachine) and isinstance(machine.stack, Stack)
    table = machine.size_table()
    assert len(table) == 5 and max(row["heads"] for row in table) == 2
    L, N = 6, 16
    assert machine.layout.d == 8 * L + 2 * N + max(3 * L, 2 * N) + 2


def test_nnx_module_executes_one_instruction_like_the_kernels():
    program = assemble_file("programs/giannou_factorial.asm")
    (card,) = engine.batch_cards([program])
    machine = build_machine(card.layout.n, program.bits)
    X = np.asarray(card.X, np.float32)
    for _ in range(5):
        X = np.asarray(machine(X))
    pcs, memories, _ = engine.trace([program], 5, backend="dense")
    from looped.machines.subleq.card import decode_memory, decode_pc

    assert list(decode_memory(card.layout, X, len(program.memory))) == list(memories[0][-1])
    assert decode_pc(card.layout, X) - card.layout.zone("code").start == pcs[-1, 0]


def test_inverse_temperature_grows_with_n_and_bits():
    assert inverse_temperature(64, 8) < inverse_temperature(4096, 8) <= inverse_temperature(4096, 48)
    assert inverse_temperature(64, 8) < inverse_temperature(64, 48)
    # The stated margin: the largest leak reaching a threshold or a written bit is below 2^-30.
    for n, bits in [(32, 8), (1000, 16), (4096, 48)]:
        lam = inverse_temperature(n, bits)
        assert 2**bits * 2 * n * np.exp(-2 * lam) <= 2**-30 * (1 + 1e-9)
        assert 2 * n * np.exp(-lam) <= 2**-30 * (1 + 1e-9)


def test_the_health_figure_stays_at_rounding_level_on_a_wide_card():
    """λ is what keeps reads and writes sharp: with the rule's λ a written bit is off by at most
    2^-30, so on a wide card the corrected rows stay within float32 rounding (2^-24 near ±1) of
    {-1, 0, 1}. A softer λ (half the rule's gives about 5e-4 here) shows in the health figure
    long before results go wrong."""
    programs = long_random_programs(seed=16, count=3, bits=16, min_steps=30, n_cells=10, n_code=16)
    results = engine.run(programs, backend="dense", max_steps=30, n=128)
    assert all(r.memory == oracle.run(p, 30).memory for p, r in zip(programs, results))
    assert max(r.health for r in results) <= 2**-23
