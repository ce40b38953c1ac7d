"""The FLEQ assembler (`.isa fleq` files): shapes, layout down to columns, constants, macros,
`.rep`, every error (located, saying what was expected), settings, disassembly, `--set` JSON.
No JAX."""

import math

import numpy as np
import pytest

from looped.assembler import assemble, assemble_file
from looped.machines.fleq.assembler import MAX_HEIGHT
from looped.cli.args import parse_set_json
from looped.machines.fleq.disasm import format_fleq_program, format_value
from looped.machines.fleq.program import FUNCTIONS, MAX_MAGNITUDE, FleqProgram
from looped.errors import AsmError, LoopedError, SourceLoc
from looped.machines.subleq.program import Program

HEAD = """.isa fleq
.data
x: 2.5
v: [1, 2, 3]
A: [[1, 2], [3, 4]]
M: [[1, 2, 3], [4, 5, 6]]
n: 3
R: [[10, 20, 30]]
B: .zeros 3, 2
.code
"""  # the first code statement is on line 11
X, V, A, M, N, R, B = 0, 1, 2, 4, 7, 8, 11  # first memory column of each
N_USER = 13  # columns of the user values
ZERO, ONE = N_USER, N_USER + 1


def asm(code: str, head: str = HEAD) -> FleqProgram:
    return assemble(head + code, "t.asm")


def inst(program: FleqProgram, k: int = 0):
    return program.code[k]


def cols(i):
    return i.fn, i.a_cols, i.b_cols, i.c_cols, i.c_height, i.flag_col, i.p, i.b_rows_broadcast


# ---- values and memory ------------------------------------------------------------------------------


def test_data_forms_shapes_and_memory():
    p = asm("halt")
    assert isinstance(p, FleqProgram) and p.isa == "fleq" and p.file == "t.asm"
    shapes = {name: (v.offset, v.shape, v.kind) for name, v in p.values.items()}
    assert shapes == {
        "x": (X, (1, 1), "user"), "v": (V, (3, 1), "user"), "A": (A, (2, 2), "user"),
        "M": (M, (2, 3), "user"), "n": (N, (1, 1), "user"), "R": (R, (1, 3), "user"),
        "B": (B, (3, 2), "user"), "#0": (ZERO, (1, 1), "const"), "#1": (ONE, (1, 1), "const"),
    }
    assert (p.zero_col, p.one_col) == (ZERO, ONE)
    assert p.memory.shape == (3, N_USER + 2) and p.height == 3 and p.n_columns == N_USER + 2
    assert p.memory.dtype == np.float64
    np.testing.assert_array_equal(p.value_of(p.memory, "A"), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(p.value_of(p.memory, "v"), [[1], [2], [3]])
    np.testing.assert_array_equal(p.value_of(p.memory, "R"), [[10, 20, 30]])
    assert p.memory[0, X] == 2.5 and p.memory[0, ZERO] == 0 and p.memory[0, ONE] == 1
    # rows past a value's height are zero
    assert not p.memory[1:, X].any() and not p.memory[2:, A : A + 2].any()
    assert p.outputs(p.memory) == {
        "x": 2.5, "v": [1.0, 2.0, 3.0], "A": [[1.0, 2.0], [3.0, 4.0]],
        "M": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "n": 3.0, "R": [[10.0, 20.0, 30.0]],
        "B": [[0.0, 0.0]] * 3}


def test_number_literals_and_data_directives():
    p = assemble(""".isa fleq
.data
a: -1e-3
b: .5
c: 3.
d: 0x10
e: [-1, +2, 6.25e2]
z: .zeros 4
Z: .zeros 2, 3
I: .eye 3
m: [[1, 2],        ; a matrix may continue inside its brackets
    [3, 4],
    [5, 6]]
.code
halt
""", "t.asm")
    out = p.outputs(p.memory)
    assert out["a"] == -0.001 and out["b"] == 0.5 and out["c"] == 3.0 and out["d"] == 16.0
    assert out["e"] == [-1.0, 2.0, 625.0] and out["z"] == [0.0] * 4
    assert out["Z"] == [[0.0] * 3] * 2 and out["I"] == np.eye(3).tolist()
    assert out["m"] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert p.height == 4 and p.values["m"].loc == SourceLoc("t.asm", 11, 1)


def test_data_labels_alone_aliases_and_sections():
    p = assemble(".data\n.isa fleq\n.data\nfirst:\nsecond: [1, 2]\n.code\nhalt\n.data\nlast: 7\n",
                 "t.asm")
    assert p.values["first"].offset == p.values["second"].offset == 0
    assert p.values["last"].offset == 1 and p.values["#0"].offset == 2
    assert p.outputs(p.memory) == {"first": [1.0, 2.0], "second": [1.0, 2.0], "last": 7.0}


def test_isa_is_case_insensitive_and_subleq_files_are_unchanged():
    assert isinstance(assemble(".ISA FLEQ\nHALT", "t.asm"), FleqProgram)
    p = assemble(".isa subleq\n.data\nx: 5\n.code\ninc x\n", "t.asm")
    assert isinstance(p, Program) and p.isa == "subleq"
    assert isinstance(assemble(".data\nx: 5\n.code\ninc x\n", "t.asm"), Program)


@pytest.mark.parametrize("source, col, fragment", [
    (".data\nx: 2.5", 4, "real number 2.5 in a SUBLEQ program"),
    (".data\nx: 1e-3", 4, "real number 1e-3 in a SUBLEQ program"),
    (".data\nx: .5", 4, "real number .5 in a SUBLEQ program"),
    (".data\nx: 0\n.code\nmov x, 1.5", 8, "real numbers need '.isa fleq'"),
    (".data\nx: [1, 2]", 4, "unexpected character '['"),
])
def test_real_numbers_in_subleq_files_are_errors(source, col, fragment):
    with pytest.raises(AsmError) as info:
        assemble(source, "s.asm")
    assert info.value.loc.col == col and fragment in info.value.message


# ---- instructions down to columns -------------------------------------------------------------------


def test_call_only_binary_same_shape():
    p = asm("add B, B, B")
    assert cols(inst(p)) == ("add", (B, B + 1), (B, B + 1), (B, B + 1), 3, ONE, 1, False)
    assert p.slots == 2


def test_matmul_columns():
    p = assemble(".isa fleq\n.data\nP: .zeros 4, 3\nQ: .zeros 3, 2\nC: .zeros 4, 2\n.code\n"
                 "matmul C, P, Q\n", "t.asm")
    assert cols(inst(p)) == ("matmul", (0, 1, 2), (3, 4), (5, 6), 4, 8, 1, False)
    assert p.slots == 3 and p.height == 4


def test_transpose_columns():
    p = assemble(".isa fleq\n.data\nP: [[1, 2, 3], [4, 5, 6]]\nT: .zeros 3, 2\n.code\n"
                 "transpose T, P\n", "t.asm")
    assert cols(inst(p)) == ("transpose", (0, 1, 2), (), (3, 4), 3, 6, 1, False)


@pytest.mark.parametrize("fn", ["mov", "recip", "rsqrt", "sigmoid"])
def test_unary_call_only(fn):
    p = asm(f"{fn} B, B")
    assert cols(inst(p)) == (fn, (B, B + 1), (), (B, B + 1), 3, ONE, 1, False)


def test_broadcasts():
    p = asm("mul B, B, x\nadd M, M, R\nsub B, B, v\nadd x, x, x\nsub R, R, x")
    assert cols(inst(p, 0)) == ("mul", (B, B + 1), (X, X), (B, B + 1), 3, ONE, 1, True)  # scalar
    assert cols(inst(p, 1)) == ("add", (M, M + 1, M + 2), (R, R + 1, R + 2), (M, M + 1, M + 2),
                                2, ONE, 2, True)  # row over the rows
    assert cols(inst(p, 2)) == ("sub", (B, B + 1), (V, V), (B, B + 1), 3, ONE, 3, False)  # column
    assert cols(inst(p, 3)) == ("add", (X,), (X,), (X,), 1, ONE, 4, False)  # scalar + scalar
    assert cols(inst(p, 4)) == ("sub", (R, R + 1, R + 2), (X, X, X), (R, R + 1, R + 2), 1, ONE, 5,
                                True)


def test_add_and_mul_commute_to_put_the_broadcast_second():
    p = asm("add B, x, B\nmul M, R, M")
    assert cols(inst(p, 0)) == ("add", (B, B + 1), (X, X), (B, B + 1), 3, ONE, 1, True)
    assert cols(inst(p, 1))[:4] == ("mul", (M, M + 1, M + 2), (R, R + 1, R + 2), (M, M + 1, M + 2))


def test_column_views():
    p = asm("add A+1, A+1, A+0\nmul v, B+1, v\nmatmul B+0, B, A+1")
    assert cols(inst(p, 0)) == ("add", (A + 1,), (A,), (A + 1,), 2, ONE, 1, False)
    assert cols(inst(p, 1)) == ("mul", (B + 1,), (V,), (V,), 3, ONE, 2, False)
    assert cols(inst(p, 2)) == ("matmul", (B, B + 1), (A + 1,), (B,), 3, ONE, 3, False)


def test_branch_only_jmp_and_halt():
    p = asm("top: jle n, top\njmp top\njle x, halt\njmp done\ndone: halt")
    halt = p.halt_index
    assert halt == 4 and p.code_labels == {"top": 0, "done": 4}
    assert cols(inst(p, 0)) == ("mov", (), (), (), 0, N, 0, False)
    assert cols(inst(p, 1)) == ("mov", (), (), (), 0, ZERO, 0, False)
    assert cols(inst(p, 2)) == ("mov", (), (), (), 0, X, halt, False)
    assert cols(inst(p, 3)) == ("mov", (), (), (), 0, ZERO, halt, False)
    assert cols(inst(p, 4)) == ("mov", (), (), (), 0, ZERO, halt, False)
    assert inst(p, 4).source == "halt" and inst(p, 4).loc == SourceLoc("t.asm", 15, 7)


def test_the_halt_instruction_is_always_last():
    p = asm("add x, x, x")  # running past the end halts
    assert len(p.code) == 2 and cols(p.code[-1]) == ("mov", (), (), (), 0, ZERO, 1, False)
    assert p.code[-1].source == "halt" and p.code[-1].loc.line == 11


def test_halt_in_the_middle_costs_one_jump():
    p = asm("jle n, skip\nhalt\nskip: inc n\nhalt\nend:")
    assert len(p.code) == 4  # jle, the mid halt (a jump to the halt), inc, the halt instruction
    assert cols(inst(p, 1)) == ("mov", (), (), (), 0, ZERO, 3, False)
    assert p.code_labels == {"skip": 2, "end": 3}
    # a halt right after a jump cannot be reached by falling through: no instruction
    assert len(asm("jmp l\nhalt\nl: inc n").code) == 3


def test_general_form():
    p = asm("top: fleq add, x, x, 1, n, top\nfleq sigmoid, _, v, _, 0, halt\n"
            "fleq matmul, B, B, A, x, top")
    assert cols(inst(p, 0)) == ("add", (X,), (ONE,), (X,), 1, N, 0, False)
    assert cols(inst(p, 1)) == ("sigmoid", (V,), (), (), 0, ZERO, 3, False)
    assert cols(inst(p, 2)) == ("matmul", (B, B + 1), (A, A + 1), (B, B + 1), 3, X, 0, False)
    assert p.slots == 2


def test_general_form_function_names_are_case_insensitive():
    assert cols(inst(asm("FLEQ ADD, x, x, x, n, halt")))[0] == "add"


# ---- constants --------------------------------------------------------------------------------------


def test_literals_become_constants_of_the_needed_shape():
    p = asm("sub v, 1, v\nadd B, B, 2.5\nmov A, 0\nsub v, 1, v\nmul x, 2.5, x\nfleq mov, _, x, _, "
            "-1, halt")
    consts = {name: (val.offset, val.shape) for name, val in p.values.items() if val.kind == "const"}
    assert consts == {"#0": (ZERO, (1, 1)), "#1": (ONE, (1, 1)), "#1@3x1": (ZERO + 2, (3, 1)),
                      "#2.5": (ZERO + 3, (1, 1)), "#0@2x2": (ZERO + 4, (2, 2)),
                      "#-1": (ZERO + 6, (1, 1))}
    c1, c25, c0 = ZERO + 2, ZERO + 3, ZERO + 4
    assert cols(inst(p, 0)) == ("sub", (c1,), (V,), (V,), 3, ONE, 1, False)
    assert cols(inst(p, 1)) == ("add", (B, B + 1), (c25, c25), (B, B + 1), 3, ONE, 2, True)
    assert cols(inst(p, 2)) == ("mov", (c0, c0 + 1), (), (A, A + 1), 2, ONE, 3, False)
    assert inst(p, 3).a_cols == (c1,)  # one constant per (value, shape)
    assert cols(inst(p, 4)) == ("mul", (X,), (c25,), (X,), 1, ONE, 5, False)  # 2.5*x = x*2.5
    assert inst(p, 5).flag_col == ZERO + 6
    np.testing.assert_array_equal(p.value_of(p.memory, "#1@3x1"), np.ones((3, 1)))
    np.testing.assert_array_equal(p.value_of(p.memory, "#0@2x2"), np.zeros((2, 2)))
    assert p.value_of(p.memory, "#2.5")[0, 0] == 2.5
    assert p.values["#2.5"].loc == SourceLoc("t.asm", 12, 11)  # its first use
    assert set(p.outputs(p.memory)) == {"x", "v", "A", "M", "n", "R", "B"}  # no constants


def test_a_literal_first_operand_takes_the_destination_shape():
    p = asm("sub v, 0, v\nsub x, 3, 4")
    assert p.values["#0@3x1"].shape == (3, 1)
    assert cols(inst(p, 1))[:4] == ("sub", (p.values["#3"].offset,), (p.values["#4"].offset,), (X,))


def test_user_values_then_constants_then_scratch():
    p = asm("jgt n, halt\nsub v, 7, v")
    kinds = [(val.kind, val.offset) for val in p.values.values()]
    assert [k for k, _ in kinds] == ["user"] * 7 + ["const"] * 3 + ["scratch"]
    assert [o for _, o in kinds] == [X, V, A, M, N, R, B, ZERO, ONE, ZERO + 2, ZERO + 3]
    assert p.values["#T"].shape == (1, 1) and p.n_columns == ZERO + 4


# ---- macros -----------------------------------------------------------------------------------------


def test_inc_dec_clr():
    p = asm("inc n\ndec B\nclr x\nclr B")
    assert cols(inst(p, 0)) == ("add", (N,), (ONE,), (N,), 1, ONE, 1, False)
    assert cols(inst(p, 1)) == ("sub", (B, B + 1), (ONE, ONE), (B, B + 1), 3, ONE, 2, True)
    assert cols(inst(p, 2)) == ("mov", (ZERO,), (), (X,), 1, ONE, 3, False)
    z = p.values["#0@3x2"].offset
    assert cols(inst(p, 3)) == ("mov", (z, z + 1), (), (B, B + 1), 3, ONE, 4, False)


def test_jgt_is_one_instruction_through_the_scratch_value():
    p = asm("top: jgt n, top")
    t = p.values["#T"].offset
    assert p.values["#T"].kind == "scratch"
    assert cols(inst(p)) == ("sub", (ONE,), (N,), (t,), 1, t, 0, False)
    assert len(p.code) == 2


# ---- .rep ---------------------------------------------------------------------------------------------


def test_rep_unrolls_with_substitution():
    p = asm(".rep i, 3\n        add B+{i % 2}, B+{i%2}, v   ; {comments are not substituted}\n.endr")
    assert [i.c_cols for i in p.code[:-1]] == [(B,), (B + 1,), (B,)]
    assert [i.source for i in p.code[:-1]] == ["add B+0, B+0, v", "add B+1, B+1, v", "add B+0, B+0, v"]
    assert all(i.loc == SourceLoc("t.asm", 12, 9) for i in p.code[:-1])


def test_nested_rep_and_labels_made_unique_with_the_variable():
    p = asm(".rep i, 2\n  .rep j, 3\nl{i}_{j}: add M+{j}, M+{j}, {i*10 + j}\n  .endr\n.endr\n"
            "jmp l1_2")
    assert len(p.code) == 8 and p.code_labels["l0_0"] == 0 and p.code_labels["l1_2"] == 5
    assert inst(p, 6).p == 5
    consts = [name for name, val in p.values.items() if val.kind == "const"]
    assert consts == ["#0", "#1", "#2", "#10", "#11", "#12"]


def test_rep_of_zero_and_data_in_rep():
    p = assemble(".isa fleq\n.data\n.rep k, 3\nw{k}: {k}\n.endr\n.code\n.rep k, 0\nfrob\n.endr\n"
                 "halt", "t.asm")
    assert p.outputs(p.memory) == {"w0": 0.0, "w1": 1.0, "w2": 2.0} and len(p.code) == 1


def test_rep_columns_point_into_the_source():
    with pytest.raises(AsmError) as info:
        asm(".rep i, 3\n    add v, {i * 100}, v $\n.endr")
    assert info.value.loc == SourceLoc("t.asm", 12, 25)
    assert info.value.message.endswith("(in the repetition with i = 0)")


# ---- errors -------------------------------------------------------------------------------------------

H = HEAD  # code errors: line 11 is the first code line
CASES = [
    # shapes
    (H + "add x, x, v", 11, 5, "cannot write a 3x1 vector into 'x' (1x1)"),
    (H + "matmul x, A, A", 11, 8, "cannot write a 2x2 matrix into 'x' (1x1)"),
    (H + "add A, A, v", 11, 11, "'add' cannot combine 'A' (2x2) and 'v' (3x1): the second must be "
                                "2x2 like the first, a scalar (1x1), a row (1x2) or a column (2x1)"),
    (H + "add B, B, R", 11, 11, "'add' cannot combine 'B' (3x2) and 'R' (1x3)"),
    (H + "sub v, x, v", 11, 11, "'sub' cannot combine 'x' (1x1) and 'v' (3x1): only its second "
                                "operand broadcasts"),
    (H + "matmul B, A, v", 11, 14, "'matmul' needs as many rows in b as columns in a: 'A' (2x2) has "
                                   "2 columns, 'v' (3x1) has 3 rows"),
    (H + "matmul A, A, 2", 11, 14, "'matmul' cannot take the number 2"),
    (H + "transpose M, M", 11, 11, "cannot write a 3x2 matrix into 'M' (2x3)"),
    (H + "transpose B, 3", 11, 14, "'transpose' cannot take the number 3"),
    (H + "mov v, A", 11, 5, "cannot write a 2x2 matrix into 'v' (3x1)"),
    (H + "recip x, R", 11, 7, "cannot write a 1x3 row into 'x' (1x1)"),
    (H + "mov v, A+1", 11, 5, "cannot write a 2x1 vector into 'v' (3x1)"),
    (H + "jle v, halt", 11, 5, "'jle' tests a scalar (1x1): 'v' is a 3x1 vector"),
    (H + "jgt A, halt", 11, 5, "'jgt' tests a scalar (1x1): 'A' is a 2x2 matrix"),
    (H + "fleq add, x, x, x, R, halt", 11, 20, "the flag of 'fleq' must be a scalar (1x1)"),
    (H + "inc x\n.rep i, 3\nadd A+0, A+0, A+{i}\n.endr", 13, 17, "column 2 is outside 'A' (2x2), which "
                                                            "has 2 columns (expected 'A+0' .. 'A+1') "
                                                            "(in the repetition with i = 2)"),
    (H + "add x, x, v+1", 11, 13, "column 1 is outside 'v' (3x1), which has 1 column (expected 'v' "
                                  "or 'v+0')"),
    (H + "add x, x, x-1", 11, 13, "column -1 is outside 'x'"),
    # functions and operand counts
    (H + "fleq foo, x, x, x, n, halt", 11, 6, "unknown function 'foo' (expected one of "
                                              + ", ".join(FUNCTIONS) + ")"),
    (H + "fleq ad, x, x, x, n, halt", 11, 6, "unknown function 'ad' (did you mean 'add'?)"),
    (H + "fleq 3, x, x, x, n, halt", 11, 6, "'fleq' needs a function as its first operand"),
    (H + "fleq mov, x, x, x, n, halt", 11, 17, "'mov' takes one input: write '_' as b"),
    (H + "fleq add, x, x, _, n, halt", 11, 17, "'add' takes two inputs: b cannot be '_'"),
    (H + "fleq add, x, x, x, n", 11, 1, "'fleq' takes 6 operands (fleq OP, c, a, b, flag, target), "
                                        "got 5"),
    (H + "add x, x", 11, 1, "'add' takes 3 operands (add c, a, b), got 2; FLEQ names the "
                            "destination: 'add x, x, y' for x = x + y"),
    (H + "mov x, x, x", 11, 11, "'mov' takes 2 operands (mov c, a), got 3"),
    (H + "halt 3", 11, 6, "'halt' takes no operands"),
    (H + "jmp", 11, 1, "'jmp' takes 1 operand (jmp L), got 0"),
    (H + "frob x", 11, 1, "unknown instruction 'frob' (expected one of fleq, add, sub"),
    (H + "ad x, x, x", 11, 1, "unknown instruction 'ad' (did you mean 'add'?)"),
    (H + "add x,, x", 11, 7, "expected an operand"),
    (H + "add x, x x", 11, 10, "expected ',' between operands, got name 'x'"),
    (H + "add x, x,", 11, 10, "expected an operand after ','"),
    (H + "add x, x, v+", 11, 13, "expected a column number after 'v+'"),
    (H + "add x, x, -", 11, 12, "expected a number after '-'"),
    (H + "add x, x, [1]", 11, 11, "expected an operand (a label, 'label+k', a number or '_'), got '['"),
    # operand kinds
    (H + "add 3, x, x", 11, 5, "cannot write to the constant 3: 'add' writes its first operand"),
    (H + "inc 2.5", 11, 5, "cannot write to the constant 2.5: 'inc' writes its first operand"),
    (H + "fleq add, -1, x, x, n, halt", 11, 11, "cannot write to the constant -1: 'fleq' writes its "
                                                "second operand"),
    (H + "add _, x, x", 11, 5, "'_' (nothing) cannot be the first operand of 'add'"),
    (H + "fleq add, x, _, x, n, halt", 11, 14, "'_' (nothing) cannot be the third operand"),
    (H + "jle _, halt", 11, 5, "'_' (nothing) cannot be the first operand of 'jle'"),
    (H + "add x, halt, x", 11, 8, "'halt' is not a data value"),
    (H + "jmp x", 11, 5, "'x' is a data label, but 'jmp' needs a code label or 'halt' as its first "
                         "operand"),
    (H + "l: add x, l, x", 11, 11, "'l' is a code label, but 'add' needs a data label or a number "
                                   "as its second operand"),
    (H + "jmp 3", 11, 5, "'jmp' needs a code label or 'halt' as its first operand, got the number 3"),
    (H + "jmp l+1\nl: halt", 11, 7, "a jump target cannot have an offset"),
    (H + "jle n, 1.5", 11, 8, "got the number 1.5"),
    # names
    (H + "loop: inc n\njmp lopo", 12, 5, "unknown label 'lopo' (did you mean 'loop'?)"),
    (H + "jmp hatl", 11, 5, "did you mean 'halt'?"),
    (H + "jmp nowhere", 11, 5, "unknown label 'nowhere' (expected a code label or 'halt' as the "
                               "first operand of 'jmp')"),
    (H + "add x, x, qqq", 11, 11, "unknown label 'qqq' (expected a data label or a number as the "
                                  "third operand of 'add')"),
    (H + "add x, x, nn", 11, 11, "unknown label 'nn' (did you mean 'n'?)"),
    (H + "add x, x, sigmoid", 11, 11, "unknown reserved word 'sigmoid'"),
    (H + "x: halt", 11, 1, "duplicate label 'x' (first defined at line 3, column 1)"),
    (".isa fleq\n.data\nsigmoid: 1", 3, 1, "'sigmoid' is a reserved word and cannot be a label"),
    (".isa fleq\n.data\n_: 1", 3, 1, "'_' is a reserved word"),
    (".isa fleq\n1abc: halt", 2, 1, "bad label name '1abc'"),
    # literals and data
    (H + "add x, x, 1e16", 11, 11, "value 1e16 is outside the machine's range (expected a finite "
                                  f"magnitude at most {MAX_MAGNITUDE:g})"),
    (H + "add x, x, -1e400", 11, 11, "value -1e400 is outside the machine's range"),
    (".isa fleq\n.data\nx: 2e16", 3, 4, "value 2e16 is outside the machine's range"),
    (".isa fleq\n.data\nx: [1, 1e999]", 3, 8, "value 1e999 is outside the machine's range"),
    (".isa fleq\n.data\nx: 10000000000000000000000000000000", 3, 4, "outside the machine's range"),
    (".isa fleq\n.data\nx: 1, 2", 3, 5, "a data label holds one value: write a vector in brackets"),
    (".isa fleq\n.data\nx: [1, 2\n.code\nhalt", 3, 4, "'[' without a closing ']'"),
    (".isa fleq\n.data\nx: [1 2]", 3, 7, "expected ',' or ']' after a number, got number 2"),
    (".isa fleq\n.data\nx: [1, ]", 3, 8, "expected a number after ','"),
    (".isa fleq\n.data\nx: [[1, 2], [3]]", 3, 13, "row 2 has 1 number, but row 1 has 2 (every row "
                                                  "of a matrix has the same length)"),
    (".isa fleq\n.data\nx: [[1, 2],\n   [3, 4, 5]]", 4, 4, "row 2 has 3 numbers, but row 1 has 2"),
    (".isa fleq\n.data\nx: []", 3, 4, "empty brackets"),
    (".isa fleq\n.data\nx: [[1, [2]]]", 3, 9, "too many brackets"),
    (".isa fleq\n.data\nx: [1, [2]]", 3, 8, "too many brackets"),
    (".isa fleq\n.data\nx: [[1, 2], 3]", 3, 13, "expected a row '[...]'"),
    (".isa fleq\n.data\nx: [a]", 3, 5, "expected a number (a number such as 2, -0.5, 1e-3 or 0x1f), "
                                       "got name 'a' (data holds numbers, not labels)"),
    (".isa fleq\n.data\nx: [1, 2] 3", 3, 11, "unexpected number 3 after the value"),
    (".isa fleq\n.data\nx: .zeros 0", 3, 11, f"height 0 is outside 1 .. {MAX_HEIGHT}"),
    (".isa fleq\n.data\nx: .zeros 3, 0", 3, 14, "width 0 is outside"),
    (".isa fleq\n.data\nx: .zeros 3,", 3, 13, "'.zeros' expects a height and an optional width"),
    (".isa fleq\n.data\nx: .zeros 1, 2, 3", 3, 15, "unexpected ','"),
    (".isa fleq\n.data\nx: .eye", 3, 8, "'.eye' expects a size"),
    (".isa fleq\n.data\nx: .eye 2.5", 3, 9, "'.eye' expects a size, e.g. '.eye 4', got number 2.5"),
    (f".isa fleq\n.data\nx: .eye {MAX_HEIGHT + 1}", 3, 9, f"size {MAX_HEIGHT + 1} is outside 1"),
    (".isa fleq\n.data\nx: .zero 3", 3, 4, "'.zero' is SUBLEQ's: FLEQ data uses '.zeros H'"),
    (".isa fleq\n.zeros 3", 2, 1, "'.zeros' outside the data section"),
    (".isa fleq\n.data\nx: y", 3, 4, "expected a value in the data section, got name 'y'"),
    (".isa fleq\n.data\nx 5", 3, 3, "expected ':' after the label 'x'"),
    (".isa fleq\n.data\nx: add", 3, 4, "instruction 'add' in the data section"),
    (".isa fleq\n.data\n5", 3, 1, "data without a label"),
    (".isa fleq\n.data\nx:", 3, 1, "data label 'x' is not followed by any data"),
    (".isa fleq\nx: 5", 2, 4, "data in the code section"),
    (".isa fleq\n.data\nx: 1\nx: [2]", 4, 1, "duplicate label 'x' (first defined at line 3, "
                                              "column 1)"),
    (".isa fleq\n.data\nx$: 1", 3, 2, "unexpected character '$' (expected a name, a number, a "
                                      "directive, ':', ',', '+', '-', '[', ']' or a comment"),
    # directives and the file
    (".isa fleq", 1, 1, "the program has no instructions"),
    (".isa fleq\n.data\nx: 1\n; no code", 1, 1, "the program has no instructions"),
    (".isa fleq\n.bits 8\nhalt", 2, 1, "'.bits' does not apply to FLEQ programs"),
    (".bits 8\n.isa fleq\nhalt", 1, 1, "'.bits' does not apply to FLEQ programs"),
    (".isa fleq\n.isa fleq\nhalt", 2, 1, "'.isa' given twice (first at line 1)"),
    (".isa fleq 2\nhalt", 1, 11, "'.isa' takes one operand"),
    (".isa fleq\n.foo\nhalt", 2, 1, "unknown directive '.foo' (expected one of .isa, .data, .code, "
                                    ".zeros, .eye, .rep, .endr)"),
    (".isa fleq\n.data 5\nhalt", 2, 7, "'.data' takes no operands"),
    # .rep
    (".isa fleq\n.rep i, 2\nl: halt\n.endr", 3, 1, "duplicate label 'l' (first defined at line 3, "
                                                   "column 1; a label inside '.rep' is defined once "
                                                   "per repetition: make it unique with the "
                                                   "variable, e.g. 'l{i}:') (in the repetition with "
                                                   "i = 1)"),
    (".isa fleq\n.rep i, 2\nhalt", 2, 1, "'.rep' without a matching '.endr'"),
    (".isa fleq\nhalt\n  .endr", 3, 3, "'.endr' without a '.rep'"),
    (".isa fleq\n.rep i\n.endr\nhalt", 2, 7, "'.rep' expects a variable and a count, e.g. "
                                             "'.rep i, 4'"),
    (".isa fleq\n.rep i, x\n.endr\nhalt", 2, 9, "'.rep' expects a count: a non-negative integer"),
    (".isa fleq\n.rep i, 2 3\n.endr\nhalt", 2, 11, "unexpected number 3"),
    (".isa fleq\n.rep i, 2\n.rep i, 2\n.endr\n.endr\nhalt", 3, 6, "'.rep' variable 'i' is already "
                                                                  "the variable of an enclosing "
                                                                  "'.rep'"),
    (".isa fleq\nl: .rep i, 2\nhalt\n.endr", 2, 4, "a label cannot stand before the directive "
                                                   "'.rep'"),
    (".isa fleq\n.rep i, 100000000\nhalt\n.endr", 2, 9, "'.rep' blocks expand to more than"),
    (H + ".rep i, 2\nadd x, x, {j}\n.endr", 12, 11, "unknown '.rep' variable 'j' in '{j}' "
                                                   "(expected one of: i)"),
    (H + ".rep i, 2\nadd x, x, {i+}\n.endr", 12, 11, "bad substitution '{i+}'"),
    (H + ".rep i, 2\nadd x, x, {i // 0}\n.endr", 12, 11, "bad substitution"),
    (H + ".rep i, 2\nadd x, x, {__import__}\n.endr", 12, 11, "unknown '.rep' variable"),
    (H + ".rep i, 2\nadd x, x, {i\n.endr", 12, 11, "'{' without a closing '}'"),
    (H + ".rep i, 2\nadd x, x, i}\n.endr", 12, 12, "'}' without a '{'"),
    (H + "add x, x, {i}", 11, 11, "'{i}' outside a '.rep' body"),
]


@pytest.mark.parametrize("source, line, col, fragment", CASES, ids=[c[3][:50] for c in CASES])
def test_error(source, line, col, fragment):
    with pytest.raises(AsmError) as info:
        assemble(source, "prog.asm")
    err = info.value
    assert (err.loc.file, err.loc.line, err.loc.col) == ("prog.asm", line, col), str(err)
    assert fragment in err.message, err.message
    assert str(err) == f"prog.asm:{line}:{col}: error: {err.message}"


def test_first_error_in_source_order():
    # an unknown label (found when linking) before a syntax error (found when parsing)
    with pytest.raises(AsmError) as info:
        asm("jmp nowhere\nadd x, x")
    assert info.value.loc.line == 11 and "unknown label" in info.value.message
    with pytest.raises(AsmError) as info:
        asm("add x, x\njmp nowhere")
    assert info.value.loc.line == 11 and "takes 3 operands" in info.value.message
    with pytest.raises(AsmError) as info:  # a shape error after a .rep error
        asm(".rep i, 2\nadd x, x, {k}\n.endr\nadd x, x, v")
    assert info.value.loc.line == 12


def test_label_on_a_bad_line_is_still_defined():
    with pytest.raises(AsmError) as info:
        asm("jmp there\nthere: frob")
    assert info.value.loc.line == 12 and "unknown instruction 'frob'" in info.value.message


def test_errors_are_looped_errors():
    with pytest.raises(LoopedError):
        assemble(".isa fleq\nbogus", "p.asm")


def test_assemble_file(tmp_path):
    path = tmp_path / "p.asm"
    path.write_text(".isa fleq\n.data\nx: 1.5\n.code\nadd x, x, x\n")
    p = assemble_file(path)
    assert isinstance(p, FleqProgram) and p.file == str(path)
    path.write_text(".isa fleq\n.data\nx: 1.5\n.code\nadd x, x\n")
    with pytest.raises(AsmError) as info:
        assemble_file(path)
    assert str(info.value).startswith(f"{path}:5:1: error: 'add' takes 3 operands")


def test_program_too_large_names_the_limit_and_a_statement():
    from looped import limits

    with pytest.raises(AsmError) as info:
        assemble(f".isa fleq\n.data\nx: 0\nZ: .zeros 1, {limits.MAX_COLUMNS}\n.code\nhalt", "b.asm")
    assert info.value.loc == SourceLoc("b.asm", 4, 4)
    assert f"exceed the limit of {limits.MAX_COLUMNS} columns" in info.value.message


def test_machine_dimensions_cover_matmul_and_transpose():
    p = assemble(".isa fleq\n.data\nP: .zeros 5, 2\nQ: .zeros 2, 5\nC: .zeros 5, 5\nT: .zeros 2, 5"
                 "\n.code\nmatmul C, P, Q\ntranspose T, P\n", "t.asm")
    H, W = p.height, p.slots
    assert (H, W) == (5, 5)
    assert len(p.code[0].a_cols) <= min(H, W)  # the shared index of matmul
    assert max(len(p.code[1].a_cols), p.code[1].c_height) <= min(H, W)


# ---- settings -----------------------------------------------------------------------------------------


def test_settings_set_values_of_their_shape():
    p = asm("halt").with_settings({"x": -0.5, "v": [4, 5, 6], "A": [[0, 1], [1, 0]],
                                   "R": [[7, 8, 9]]})
    out = p.outputs(p.memory)
    assert out["x"] == -0.5 and out["v"] == [4.0, 5.0, 6.0] and out["A"] == [[0.0, 1.0], [1.0, 0.0]]
    assert out["R"] == [[7.0, 8.0, 9.0]]
    assert p.with_settings({"x": [3]}).outputs(p.memory)["x"] == -0.5  # the original is unchanged


LOC = SourceLoc("--set", 1, 1)


@pytest.mark.parametrize("name, value, fragment", [
    ("v", [1, 2], "'v' is 3x1: expected a list of 3 numbers (a vector of length 3)"),
    ("x", [[1, 2], [3, 4]], "'x' is 1x1: expected a number (a 1x1 scalar)"),
    ("A", [1, 2, 3, 4], "'A' is 2x2: expected a list of 2 rows of 2 numbers"),
    ("A", [[1, 2], [3]], "'A' is 2x2"),
    ("x", math.nan, "'x' takes finite numbers"),
    ("v", [1, math.inf, 2], "'v' takes finite numbers"),
    ("x", -math.inf, "'x' takes finite numbers"),
    ("x", 2e16, "outside the machine's range"),
    ("x", "1", "'x' takes numbers, got '1'"),
    ("x", True, "'x' takes numbers, got true"),
    ("xx", 1, "unknown data label 'xx' (did you mean 'x'?)"),
    ("#1", 1, "unknown data label '#1'"),
])
def test_bad_settings_are_located_errors(name, value, fragment):
    with pytest.raises(AsmError) as info:
        asm("halt").with_settings({name: value}, {name: LOC})
    assert info.value.loc == LOC and fragment in info.value.message, info.value.message


# ---- disassembly ----------------------------------------------------------------------------------------

ROUND_TRIP = """.isa fleq
.data
x: 2.5
q: 1e-07
v: [1, -2.25, 3]
A: [[1, 2], [3, 4]]
R: [[1, 2]]
I: .eye 3
Z: .zeros 3, 2
n: 3
a: b: 0
.code
top:    mul x, x, 2.5
        add Z, Z, R
        sub v, 1, v
        add A+1, A+0, A+1
        matmul Z, I, Z
        transpose A, A
        sigmoid v, v
        clr Z
        jgt n, body
        jmp halt
body:   dec n
        fleq recip, _, x, _, n, skip
        inc a
skip:   fleq add, b, b, 1, -1, top
        halt
        inc b
end:
"""


def _same_program(p: FleqProgram, q: FleqProgram) -> None:
    np.testing.assert_array_equal(p.memory, q.memory)
    assert [cols(i) for i in p.code] == [cols(i) for i in q.code]
    assert {k: (v.offset, v.shape) for k, v in p.user_values.items()} == \
           {k: (v.offset, v.shape) for k, v in q.user_values.items()}
    assert (p.zero_col, p.one_col) == (q.zero_col, q.one_col)


def test_disasm_round_trip():
    p = assemble(ROUND_TRIP, "r.asm")
    text = format_fleq_program(p)
    assert text.splitlines()[1] == ".isa fleq"
    assert "jgt n, body" in text and "fleq recip, _, x, _, n, skip" in text
    assert "sub v, 1, v" in text and "add A+1, A+0, A+1" in text
    assert "end:\n    halt" in text
    _same_program(p, assemble(text, "again.asm"))


def test_disasm_round_trip_with_settings_and_rep():
    p = assemble(ROUND_TRIP, "r.asm").with_settings({"v": [0.1, 1 / 3, -7e-5], "x": 123456.789})
    _same_program(p, assemble(format_fleq_program(p), "again.asm"))
    p = asm(".rep i, 3\nadd B+{i % 2}, B+{i % 2}, {i}\n.endr\ntop: jle n, top")
    _same_program(p, assemble(format_fleq_program(p), "again.asm"))


def test_disasm_synthesizes_labels_for_unnamed_targets():
    p = assemble(".isa fleq\n.data\nn: 1\n.code\njmp l\nl: fleq add, n, n, n, n, l\n", "t.asm")
    q = dataclasses_replace_labels(p)
    text = format_fleq_program(q)
    assert "__L1:" in text and "jmp __L1" in text
    _same_program(q, assemble(text, "again.asm"))


def dataclasses_replace_labels(p: FleqProgram) -> FleqProgram:
    import dataclasses

    return dataclasses.replace(p, code_labels={})


def test_format_value():
    assert format_value(np.array([[2.5]])) == "2.5"
    assert format_value(np.array([[1.0], [2.0]])) == "[1, 2]"
    assert format_value(np.array([[1.0, 2.0]])) == "[[1, 2]]"
    assert format_value(np.zeros((3, 2))) == ".zeros 3, 2"
    assert format_value(np.zeros((3, 1))) == ".zeros 3"
    assert format_value(np.eye(2)) == ".eye 2"
    assert format_value(np.array([[1.0, 0.1], [3.0, 4.0]]), indent=3) == "[[1, 0.1],\n    [3, 4]]"


# ---- --set NAME=JSON --------------------------------------------------------------------------------------


def test_parse_set_json_values():
    assert parse_set_json("x=2.5", 1) == ("x", 2.5, SourceLoc("--set", 1, 1))
    assert parse_set_json(" v = [1, 2, 3]", 2) == ("v", [1, 2, 3], SourceLoc("--set", 2, 1))
    assert parse_set_json("A=[[1, 2], [3, 4]]", 3)[1] == [[1, 2], [3, 4]]
    assert parse_set_json("x=-1e-3", 1)[1] == -0.001
    name, value, loc = parse_set_json("v=[4, 5, 6]", 1)
    assert asm("halt").with_settings({name: value}, {name: loc}).outputs(asm("halt").memory)


@pytest.mark.parametrize("argument, col, fragment", [
    ("x=NaN", 3, "NaN is not a value for 'x' (expected a finite number"),
    ("v=[1, -Infinity]", 7, "-Infinity is not a value for 'v'"),
    ("x=Infinity", 3, "Infinity is not a value"),
    ("x=1e400", 3, "1e400 is not a value for 'x'"),
    ("x=1" + "0" * 400, 3, "is not a value for 'x'"),
    ("x=[1,", 6, "bad JSON value for 'x': Expecting value"),
    ("x=[1 2]", 6, "bad JSON value for 'x': Expecting ',' delimiter"),
    ("x=", 3, "bad JSON value for 'x'"),
    ("x=abc", 3, "bad JSON value for 'x'"),
    ("xyz=[1, 2]]", 11, "Extra data"),
    ("=3", 1, "expected NAME=VALUE"),
    ("x", 1, "expected NAME=VALUE"),
    ("x=" + "[" * 100000, 3, "nested too deeply"),
])
def test_parse_set_json_errors(argument, col, fragment):
    with pytest.raises(AsmError) as info:
        parse_set_json(argument, 4)
    assert info.value.loc == SourceLoc("--set", 4, col), str(info.value)
    assert fragment in info.value.message, info.value.message
