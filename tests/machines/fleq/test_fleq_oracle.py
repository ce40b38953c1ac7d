"""The FLEQ oracle (plain NumPy float64) against hand-computed results. No JAX."""

import numpy as np
import pytest

from looped.machines.fleq import oracle as fleq_oracle
from looped.assembler import assemble
from looped.machines.fleq.program import FleqProgram


def run(source: str, max_steps: int | None = 10_000, **settings):
    program = assemble(".isa fleq\n" + source, "t.asm")
    if settings:
        program = program.with_settings(settings)
    state = fleq_oracle.run(program, max_steps)
    return program, state, program.outputs(state.memory)


def test_counter_loop_is_exact():
    src = """
.data
n: 10
s: 0
i: 0
.code
loop:   inc i
        add s, s, i         ; s = 1 + 2 + ... + n
        dec n
        jgt n, loop
"""
    program, state, out = run(src)
    assert state.halted and state.status == "halted" and state.pc == program.halt_index
    assert out == {"n": 0.0, "s": 55.0, "i": 10.0}
    assert state.steps == 4 * 10
    _, state, out = run(src, n=1000)
    assert out["s"] == 500500.0 and state.steps == 4000


def test_the_flag_is_tested_after_the_write():
    # fleq sub, n, n, 1, n, done: n = n - 1, then jump when the new n <= 0
    _, state, out = run(".data\nn: 3\nk: 0\n.code\nloop: inc k\nfleq sub, n, n, 1, n, done\n"
                        "jmp loop\ndone: halt")
    assert out == {"n": 0.0, "k": 3.0} and state.steps == 3 + 3 + 2


def test_jle_jmp_and_falling_off_the_end():
    _, state, out = run(".data\nx: -0.5\ny: 0\n.code\njle x, neg\nmov y, 1\njmp halt\n"
                        "neg: mov y, -1")
    assert out["y"] == -1.0 and state.steps == 2
    _, state, out = run(".data\nx: 0.5\ny: 0\n.code\njle x, neg\nmov y, 1\njmp halt\n"
                        "neg: mov y, -1")
    assert out["y"] == 1.0 and state.steps == 3


def test_jgt_is_for_integer_cells():
    _, _, out = run(".data\nx: 1\nr: 0\n.code\njgt x, yes\njmp halt\nyes: mov r, 1")
    assert out["r"] == 1.0
    _, _, out = run(".data\nx: 0\nr: 0\n.code\njgt x, yes\njmp halt\nyes: mov r, 1")
    assert out["r"] == 0.0
    # documented: for 0 < x < 1, `jgt` does not jump (it tests 1 - x <= 0)
    _, _, out = run(".data\nx: 0.5\nr: 0\n.code\njgt x, yes\njmp halt\nyes: mov r, 1")
    assert out["r"] == 0.0


def test_matmul_and_transpose():
    _, _, out = run("""
.data
A: [[1, 2, 3], [4, 5, 6]]
B: [[1, 0], [0, 1], [2, -1]]
C: .zeros 2, 2
T: .zeros 3, 2
v: [1, 1, 1]
Av: .zeros 2
.code
matmul C, A, B
transpose T, A
matmul Av, A, v
""")
    assert out["C"] == [[7.0, -1.0], [16.0, -1.0]]
    assert out["T"] == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert out["Av"] == [6.0, 15.0]


def test_matmul_against_numpy():
    rng = np.random.default_rng(0)
    P, Q = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    program, _, out = run(".data\nP: .zeros 4, 3\nQ: .zeros 3, 5\nC: .zeros 4, 5\nD: .zeros 5, 4\n"
                          ".code\nmatmul C, P, Q\ntranspose D, C\n", P=P.tolist(), Q=Q.tolist())
    np.testing.assert_allclose(out["C"], P @ Q, rtol=1e-12)
    np.testing.assert_allclose(out["D"], (P @ Q).T, rtol=1e-12)


def test_broadcasts():
    _, _, out = run("""
.data
M: [[1, 2, 3], [4, 5, 6]]
r: [[10, 20, 30]]
c: [100, 200]
s: 2
S: .zeros 2, 3
T: .zeros 2, 3
U: .zeros 2, 3
w: [1, 2]
.code
add S, M, r        ; a row over the rows
mul T, M, s        ; a scalar
sub U, M, c        ; a column over the columns
sub w, 10, w       ; a literal of w's shape
""")
    assert out["S"] == [[11.0, 22.0, 33.0], [14.0, 25.0, 36.0]]
    assert out["T"] == [[2.0, 4.0, 6.0], [8.0, 10.0, 12.0]]
    assert out["U"] == [[-99.0, -98.0, -97.0], [-196.0, -195.0, -194.0]]
    assert out["w"] == [9.0, 8.0]


def test_elementwise_functions():
    _, _, out = run("""
.data
a: [4, 0.25, -2]
r: .zeros 3
q: [4, 0.25, 1]
s: .zeros 3
g: .zeros 3
z: 0
rz: 5
.code
recip r, a
rsqrt s, q
sigmoid g, a
recip rz, z        ; 1/0 gives 0 in the oracle (outside the domain)
""")
    assert out["r"] == [0.25, 4.0, -0.5]
    assert out["s"] == [0.5, 2.0, 1.0]
    np.testing.assert_allclose(out["g"], 1 / (1 + np.exp(-np.array([4, 0.25, -2]))), rtol=1e-15)
    assert out["rz"] == 0.0


def test_columns_and_clr():
    _, _, out = run("""
.data
A: [[1, 2], [3, 4]]
B: [[1, 1, 1], [1, 1, 1], [1, 1, 1]]
x: 7
.code
add A+1, A+1, A+0
clr B
clr x
""")
    assert out["A"] == [[1.0, 3.0], [3.0, 7.0]]
    assert out["B"] == [[0.0] * 3] * 3 and out["x"] == 0.0


def test_rows_past_a_result_stay_zero():
    program, state, out = run(".data\nT: .zeros 3, 3\nv: [1, 2]\nw: .zeros 2\n.code\nmov w, v\n"
                              "add w, w, 1\n")
    assert out["w"] == [2.0, 3.0]
    assert not state.memory[2:, program.values["w"].offset].any()


def test_general_form_writing_nothing():
    src = ".data\nx: 3\ny: 0\n.code\nfleq sigmoid, _, x, _, x, skip\nmov y, 1\nskip: halt"
    _, state, out = run(src)
    assert out == {"x": 3.0, "y": 1.0} and state.steps == 2  # x > 0: falls through
    _, state, out = run(src, x=-1)
    assert out == {"x": -1.0, "y": 0.0} and state.steps == 1  # x <= 0: jumps, x unchanged


def test_step_limit_and_trace():
    program = assemble(".isa fleq\n.data\nn: 5\n.code\nloop: dec n\njmp loop\n", "t.asm")
    state = fleq_oracle.run(program, max_steps=7)
    assert not state.halted and state.status == "step_limit" and state.steps == 7
    assert program.outputs(state.memory)["n"] == 1.0
    steps = list(fleq_oracle.trace(program, 5))
    assert [pc for pc, _ in steps] == [1, 0, 1, 0, 1]
    assert [program.outputs(m)["n"] for _, m in steps] == [4.0, 4.0, 3.0, 3.0, 2.0]
    assert steps[0][1] is not steps[1][1]  # copies
    halting = assemble(".isa fleq\n.data\nn: 5\n.code\ndec n\n", "t.asm")
    assert len(list(fleq_oracle.trace(halting, 100))) == 1


def test_step_in_place():
    program = assemble(".isa fleq\n.data\nx: 2\n.code\nmul x, x, x\njle x, halt\n", "t.asm")
    memory = program.memory.copy()
    assert fleq_oracle.step(program, memory, 0) == 1
    assert memory[0, program.values["x"].offset] == 4.0
    assert fleq_oracle.step(program, memory, 1) == 2
    assert program.memory[0, 0] == 2.0  # the program's memory is untouched


@pytest.mark.parametrize("x, y", [(3.0, 4.0), (-2.5, 0.5), (100.0, 0.01)])
def test_calculator_style(x, y):
    _, _, out = run("""
.data
x: 0
y: 0
sum: 0
diff: 0
prod: 0
quot: 0
root: 0
t: 0
.code
add sum, x, y
sub diff, x, y
mul prod, x, y
recip t, y
mul quot, x, t
jle x, halt
rsqrt t, x
recip root, t
""", x=x, y=y)
    assert out["sum"] == x + y and out["diff"] == x - y and out["prod"] == x * y
    assert out["quot"] == pytest.approx(x / y, rel=1e-15)
    assert out["root"] == (pytest.approx(np.sqrt(x), rel=1e-15) if x > 0 else 0.0)


def test_state_type():
    program = assemble(".isa fleq\nhalt", "t.asm")
    state = fleq_oracle.run(program)
    assert isinstance(program, FleqProgram) and state.halted and state.steps == 0
    assert state.memory.dtype == np.float64
