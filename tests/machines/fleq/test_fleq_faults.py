"""FLEQ faults (looped/blocks/faults.py, looped/machines/fleq/faults.py) and exact branches
(looped/blocks/exact.py): an operand outside a block's domain stops the run with status "fault",
the memory as before the instruction; `jle` decides x <= 0 exactly for every float64; the range
reduction blocks `exponent` and `scale` are exact. On the dense, fast and pallas backends (and
native when a C++ compiler is present)."""

import math
import shutil

import numpy as np
import pytest

from looped import engine
from looped.assembler import assemble
from looped.machines.fleq.oracle import run as oracle_run

# native compiles a C++ kernel for the machine (minutes on two cores): in the slow tests only.
NATIVE = pytest.param("native", marks=[pytest.mark.slow, pytest.mark.skipif(
    not (shutil.which("g++") or shutil.which("c++")), reason="no C++ compiler")])
BACKENDS = ["dense", "fast", "pallas", NATIVE]

BRANCH = """.isa fleq
.data
x: 0
r: 0
.code
        jle x, neg
        mov r, 1
        halt
neg:    mov r, -1
"""

TINY = [2.0**-1022, -(2.0**-1022), 1e-300, -1e-300, 1e-7, -1e-7, 5e-7, -5e-7, 9e-7, 0.0, -0.0, 1.0, -1.0]


SUBNORMAL = [2.0**-1074, -(2.0**-1074), 1e-310, -(2.0**-1023)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_subnormal_input_faults_where_it_is_read(backend):
    """XLA's CPU arithmetic (and native) flush float64's subnormals (below 2^-1022) to zero: the
    machine cannot hold them. Such an input is held as 0 with a mark on its cell; the instruction
    that reads the cell faults (the layers read the mark), and a cell overwritten first is fine."""
    program = assemble(BRANCH, "branch.asm")
    overwritten = assemble(BRANCH.replace("        jle x, neg", "        mov x, -2\n        jle x, neg"), "over.asm")
    literal = assemble(BRANCH.replace("x: 0", "x: 5e-324"), "literal.asm")
    runs = [program.with_settings({"x": x}) for x in SUBNORMAL] + [overwritten.with_settings({"x": SUBNORMAL[0]}),
                                                                   literal]
    results = engine.run(runs, backend=backend, max_steps=20)  # (one batch: one compile)
    for x, result in zip(SUBNORMAL, results):
        assert result.status == "fault", (x, result.status)
        assert result.fault["step"] == 1 and result.fault["value"] == x and result.fault["loc"] == "branch.asm:6:9"
        assert "smallest normal" in result.fault["message"] and result.outputs == {"x": x, "r": 0.0}
    assert results[-2].status == "halted" and results[-2].outputs == {"x": -2.0, "r": -1.0}
    assert results[-1].status == "fault" and results[-1].fault["value"] == 5e-324


@pytest.mark.parametrize("backend", BACKENDS)
def test_jle_is_exact_for_tiny_reals(backend):
    program = assemble(BRANCH, "branch.asm")
    runs = [program.with_settings({"x": x}) for x in TINY]
    for x, result in zip(TINY, engine.run(runs, backend=backend, max_steps=100)):
        want = oracle_run(program.with_settings({"x": x}))
        assert result.status == "halted", (x, result.status, result.fault)
        assert result.outputs["r"] == (-1.0 if x <= 0 else 1.0), x
        assert result.steps == want.steps, x


SMALLEST = 2.0**-1022
UNDERFLOW = """.isa fleq
.data
x: 0
y: 0
d: 7
r: 0
.code
        {op} d, x, y
        jle d, neg
        mov r, 1
        halt
neg:    mov r, -1
"""
# (block, x, y): d = x - y, x + y or x 2^y. Exact results below 2^-1022 (which XLA would flush to
# 0, so that jle would branch as for d <= 0) fault; the others, tiny ones included, branch exactly.
UNDERFLOWS = [("sub", 1.5 * SMALLEST, SMALLEST), ("sub", SMALLEST, 1.5 * SMALLEST), ("add", 1.5 * SMALLEST, -SMALLEST),
              ("add", 2.0**-1000, -(2.0**-1000 - 2.0**-1050)), ("scale", 2.0**-1000, -23),
              ("scale", -(2.0**-990), -40), ("scale", 2.0**-958 - 2.0**-1000, -64)]
NO_UNDERFLOWS = [("sub", SMALLEST, SMALLEST), ("sub", 3 * SMALLEST, SMALLEST), ("sub", 2 * SMALLEST, SMALLEST),
                 ("add", -2 * SMALLEST, SMALLEST), ("sub", 1e-300, 1e-300), ("sub", 1e-7, 0.0),
                 ("scale", 2.0**-1000, -22), ("scale", 0.0, -64), ("scale", 2.0**-958, -64),
                 ("scale", -(2.0**-958), -64), ("scale", 1.0, -64)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_below_the_smallest_normal_fault(backend):
    programs = {op: assemble(UNDERFLOW.format(op=op), f"{op}.asm") for op in ("add", "sub", "scale")}
    cases = UNDERFLOWS + NO_UNDERFLOWS
    runs = [programs[op].with_settings({"x": x, "y": y}) for op, x, y in cases]
    for (op, x, y), result in zip(cases, engine.run(runs, backend=backend, max_steps=10)):
        exact = x - y if op == "sub" else x + y if op == "add" else x * 2.0**y
        if (op, x, y) in UNDERFLOWS:
            assert 0 < abs(exact) < SMALLEST
            assert result.status == "fault", (op, x, y, result.status)
            fault = result.fault
            assert fault["block"] == op and fault["step"] == 1 and fault["value"] == exact
            assert "smallest normal" in fault["message"] and result.outputs["d"] == 7.0
        else:
            assert result.status == "halted", (op, x, y, result.fault)
            assert result.outputs["d"] == exact and result.outputs["r"] == (1.0 if exact > 0 else -1.0)


FAULTS = [
    # (data, instruction, block, offending value)
    ("a: 1000000\nb: 1000000", "mul c, a, b", "mul", 1e12),
    ("a: 0\nb: 0", "recip c, a", "recip", 0.0),
    ("a: 1e-9\nb: 0", "recip c, a", "recip", 1e-9),
    ("a: 1e9\nb: 0", "recip c, a", "recip", 1e9),
    ("a: -4\nb: 0", "rsqrt c, a", "rsqrt", -4.0),
    ("a: 0\nb: 0", "exponent c, a", "exponent", 0.0),
    ("a: 3\nb: 2.5", "scale c, a, b", "scale", 2.5),
    ("a: 3\nb: 100", "scale c, a, b", "scale", 100.0),
    ("a: 1e9\nb: 40", "scale c, a, b", "scale", 1e9 * 2.0**40),
    ("a: 9e14\nb: 9e14", "add c, a, b", "add", 1.8e15),
    ("a: 9e14\nb: -9e14", "sub c, a, b", "sub", 1.8e15),
    ("a: 1\nb: 1000", "matmul c, a, b", "matmul", 1000.0),
]


@pytest.mark.parametrize("backend", ["dense", "fast", "pallas"])
def test_out_of_domain_operands_fault(backend):
    programs = [assemble(f".isa fleq\n.data\n{data}\nc: 7\nn: 0\n.code\n        inc n\n        {inst}\n        inc n\n",
                         f"f{k}.asm") for k, (data, inst, _, _) in enumerate(FAULTS)]
    for (data, inst, block, value), result in zip(FAULTS, engine.run(programs, backend=backend)):
        assert result.status == "fault", (inst, data)
        fault = result.fault
        assert fault["block"] == block and fault["step"] == 2 and result.steps == 2
        assert fault["loc"].endswith(":9:9")
        assert math.isclose(fault["value"], value, rel_tol=1e-12), (inst, fault)
        assert result.outputs["c"] == 7.0 and result.outputs["n"] == 1.0  # nothing written by the fault
        assert inst in fault["message"] and block in fault["message"]


def test_a_fault_stops_only_its_instance():
    program = assemble(".isa fleq\n.data\ny: 2\nr: 0\nk: 3\n.code\nloop:   recip r, y\n        fleq sub, k, k, 1, "
                       "k, done\n        jmp loop\ndone:   halt\n", "batch.asm")
    runs = [program.with_settings({"y": y}) for y in (2.0, 0.0, -3.0, 1e-9)]
    results = engine.run(runs, backend="fast")
    assert [r.status for r in results] == ["halted", "fault", "halted", "fault"]
    assert results[0].steps == results[2].steps == oracle_run(runs[0]).steps
    assert abs(results[0].outputs["r"] - 0.5) < 0.5 * 4e-3


def test_unused_slots_never_fault():
    """recip of a 2-vector on a machine of 3 slots: the third slot reads zeros, and must not fault."""
    program = assemble(".isa fleq\n.data\nv: [2, 4]\nw: .zeros 2\nu: [1, 1, 1]\ns: .zeros 3\n.code\n"
                       "        recip w, v\n        add s, u, u\n", "slots.asm")
    (result,) = engine.run([program], backend="fast")
    assert result.status == "halted"
    assert np.allclose(result.outputs["w"], [0.5, 0.25], rtol=4e-3)


@pytest.mark.parametrize("backend", ["dense", "fast"])
def test_exponent_and_scale_are_exact(backend):
    program = assemble(".isa fleq\n.data\na: 1\nb: 0\ne: 0\ns: 0\n.code\n        exponent e, a\n"
                       "        scale s, a, b\n", "scale.asm")
    rng = np.random.default_rng(1)
    a = rng.choice([-1, 1], 30) * 10.0 ** rng.uniform(-15, 14, 30)
    b = rng.integers(-30, 4, 30).astype(float)
    results = engine.run([program.with_settings({"a": x, "b": y}) for x, y in zip(a, b)], backend=backend)
    for x, y, result in zip(a, b, results):
        assert result.status == "halted", (x, y, result.fault)
        assert result.outputs["e"] == np.frexp(x)[1]
        assert result.outputs["s"] == np.ldexp(x, int(y))


def test_calculator_over_twelve_decades_and_y_zero():
    from looped.assembler import assemble_file

    base = assemble_file("programs/fleq/calculator.asm")
    pairs = [(1e6, 1e6), (1e-6, -1e6), (-3e5, 2e-6), (0.0, 5.0), (7.25e-4, 3.3e3), (7.0, 0.0)]
    results = engine.run([base.with_settings({"x": x, "y": y}) for x, y in pairs], backend="fast")
    for (x, y), result in zip(pairs, results):
        if y == 0:
            assert result.status == "fault" and result.fault["block"] == "exponent"
            continue
        out = result.outputs
        want = {"sum": x + y, "diff": x - y, "prod": x * y, "quot": x / y, "root": math.sqrt(x) if x > 0 else 0.0}
        for name, value in want.items():
            assert abs(out[name] - value) <= 1e-4 * abs(value), (x, y, name, out[name], value)


def test_fault_exit_status_and_json(tmp_path, capsys):
    import json

    from looped.cli import main

    path = tmp_path / "m.asm"
    path.write_text(".isa fleq\n.data\nx: 1000000\nz: 0\n.code\n        mul z, x, x\n")
    assert main(["run", str(path), "--json"]) == 4
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert record["status"] == "fault" and record["fault"]["block"] == "mul" and record["fault"]["step"] == 1
    assert f"{path}:6:9: fault at step 1" in err and "Traceback" not in err
    assert main(["trace", str(path)]) == 4
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1])["status"] == "fault"
