"""The assembler: layout, macro expansions, halting, operands, directives (no JAX)."""

import random

import pytest

from looped import limits
from looped.machines.subleq import oracle
from looped.errors import AsmError
from looped.assembler import assemble, assemble_file
from looped.machines.subleq.program import Instruction
from looped.errors import LoopedError
from looped.layout import wrap


def run(source, **settings):
    program = assemble(source, "t.asm")
    if settings:
        program = program.with_settings(settings)
    state = oracle.run(program, max_steps=100_000)
    assert state.halted
    return program, state, program.outputs(state.memory)


def triples(program):
    return [(i.a, i.b, i.c) for i in program.code]


# -- layout -------------------------------------------------------------------------------------

def test_memory_order_user_then_constants_then_scratch():
    p = assemble(".data\nx: 5\nys: 1, 2\n.code\nmov x, 7\ndec x\nadd x, 'A'\n", "t.asm")
    assert p.memory == (5, 1, 2, 0, -1, 7, 1, 65, 0)
    kinds = {name: (c.offset, c.length, c.kind) for name, c in p.cells.items()}
    assert kinds == {
        "x": (0, 1, "user"), "ys": (1, 2, "user"),
        "#0": (3, 1, "const"), "#-1": (4, 1, "const"), "#7": (5, 1, "const"),
        "#1": (6, 1, "const"), "#65": (7, 1, "const"), "#T": (8, 1, "scratch"),
    }
    assert list(p.user_cells) == ["x", "ys"]
    assert p.file == "t.asm" and p.isa == "subleq" and p.bits == limits.DEFAULT_BITS


def test_empty_program_is_just_the_halt_column():
    p = assemble("", "e.asm")
    assert p.memory == (0, -1)
    assert triples(p) == [(0, 1, 0)]
    assert p.code[-1].source == "halt"
    state = oracle.run(p)
    assert state.halted and state.steps == 0


def test_constants_zero_and_minus_one_always_present_and_shared():
    p = assemble(".data\nx: 0\n.code\nsubleq 0, x\nsubleq -1, x\nsubleq -1, x\n", "t.asm")
    assert p.memory == (0, 0, -1)
    assert triples(p) == [(1, 0, 1), (2, 0, 2), (2, 0, 3), (1, 2, 3)]


def test_scratch_only_when_needed():
    p = assemble(".data\nx: 0\n.code\ninc x\nclr x\nsub x, x\njle x, end\njgt x, end\nend:", "t.asm")
    assert not [c for c in p.cells.values() if c.kind == "scratch"]


def test_hidden_names_cannot_clash_with_user_names():
    p = assemble(".data\nT: 1\nZ: 2\n.code\nmov T, Z\n", "t.asm")
    assert all(name.startswith("#") for name, c in p.cells.items() if c.kind != "user")


def test_halt_column_is_last_and_self_loop():
    p = assemble(".data\nx: 3\n.code\nloop: dec x\njgt x, loop\n", "t.asm")
    halt = p.code[-1]
    assert (halt.a, halt.b, halt.c) == (p.cells["#0"].offset, p.cells["#-1"].offset, len(p.code) - 1)
    assert p.halt_index == len(p.code) - 1


# -- macro expansions ---------------------------------------------------------------------------

MACRO_SRC = ".data\nx: 0\ny: 0\n.code\n"


@pytest.mark.parametrize("stmt, expected", [
    ("clr x", [("x", "x", "next")]),
    ("mov x, y", [("y", "#T", 1), ("x", "x", 2), ("#T", "x", 3), ("#T", "#T", "next")]),
    ("add x, y", [("y", "#T", 1), ("#T", "x", 2), ("#T", "#T", "next")]),
    ("sub x, y", [("y", "x", "next")]),
    ("inc x", [("#-1", "x", "next")]),
    ("dec x", [("#1", "x", "next")]),
    ("jmp L", [("#0", "#0", "L")]),
    ("jle x, L", [("#0", "x", "L")]),
    ("jgt x, L", [("#0", "x", 2), ("#0", "#0", "L")]),
    ("subleq x, y", [("x", "y", "next")]),
    ("subleq x, y, L", [("x", "y", "L")]),
])
def test_macro_expansion(stmt, expected):
    p = assemble(MACRO_SRC + stmt + "\nclr y\nL: clr x\n", "t.asm")
    off = {name: c.offset for name, c in p.cells.items()}
    size = len(expected)
    labels = {"next": size, "L": size + 1}
    want = [(off[a], off[b], labels.get(c, c)) for a, b, c in expected]
    assert triples(p)[:size] == want
    assert all(inst.source == stmt for inst in p.code[:size])
    assert all(inst.loc.line == 5 and inst.loc.col == 1 for inst in p.code[:size])


@pytest.mark.parametrize("bits", [2, 3, 8, 16, 32])
@pytest.mark.parametrize("op", ["clr", "mov", "add", "sub", "inc", "dec", "jle", "jgt"])
def test_macro_semantics_random(op, bits):
    """Each macro does exactly what it says, wrapping modulo 2^bits, for X != Y and X is Y."""
    rng = random.Random(f"{op}{bits}")
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    one_operand = op in ("clr", "inc", "dec")
    jump = op in ("jle", "jgt")
    for same in (False, True):
        if same and (one_operand or jump):
            continue
        y_name = "x" if same else "y"
        if jump:
            stmt = f"{op} x, yes\nmov r, -1\nhalt\nyes: mov r, 1"
        elif one_operand:
            stmt = f"{op} x"
        else:
            stmt = f"{op} x, {y_name}"
        src = f".bits {bits}\n.data\nx: 0\ny: 0\nr: 0\n.code\n{stmt}\n"
        program = assemble(src, "t.asm")
        for _ in range(25):
            x, y = rng.randint(low, high), rng.randint(low, high)
            if same:
                y = x
            p = program.with_settings({"x": x, "y": y})
            state = oracle.run(p)
            out = p.outputs(state.memory)
            expect = {"x": x, "y": y, "r": 0}
            if op == "clr":
                expect["x"] = 0
            elif op == "mov":
                expect["x"] = y
            elif op == "add":
                expect["x"] = wrap(x + y, bits)
            elif op == "sub":
                expect["x"] = wrap(x - y, bits)
            elif op == "inc":
                expect["x"] = wrap(x + 1, bits)
            elif op == "dec":
                expect["x"] = wrap(x - 1, bits)
            elif op == "jle":
                expect["r"] = 1 if x <= 0 else -1
            elif op == "jgt":
                expect["r"] = 1 if x > 0 else -1
            assert out == expect, (stmt, x, y)
            # hidden cells are back to their initial values (T = 0, constants unchanged)
            for name, cell in p.cells.items():
                if cell.kind != "user":
                    assert state.memory[cell.offset] == p.memory[cell.offset], name


@pytest.mark.parametrize("stmt, steps", [
    ("clr x", 1), ("mov x, y", 4), ("add x, y", 3), ("sub x, y", 1), ("inc x", 1), ("dec x", 1),
    ("jmp end", 1), ("jle x, end", 1), ("subleq y, x", 1),
])
def test_macro_step_costs(stmt, steps):
    _, state, _ = run(f".data\nx: 5\ny: 2\n.code\n{stmt}\nend:\n")
    assert state.steps == steps


def test_jgt_costs_two_steps_when_taken_one_when_not():
    src = ".data\nx: 0\n.code\njgt x, end\nend: halt\n"
    assert run(src, x=1)[1].steps == 2
    assert run(src, x=0)[1].steps == 1
    assert run(src, x=-3)[1].steps == 1


# -- halting ------------------------------------------------------------------------------------

def test_trailing_halts_cost_nothing_and_labels_resolve_to_halt_column():
    p = assemble(".data\nx: 1\n.code\ninc x\nend: halt\nhalt\nafter:\n", "t.asm")
    assert len(p.code) == 2
    assert p.code_labels == {"end": 1, "after": 1}
    assert oracle.run(p).steps == 1


def test_mid_program_halt_reached_by_falling_through_is_one_jump():
    src = ".data\nx: 0\n.code\njle x, skip\nstop: halt\nskip: inc x\ninc x\n"
    p = assemble(src, "t.asm")
    assert len(p.code) == 5
    assert p.code_labels["stop"] == p.halt_index  # jumps to a halt label cost nothing
    zero = p.cells["#0"].offset
    assert triples(p)[1] == (zero, zero, p.halt_index)
    assert p.code[1].source == "halt"
    _, state, out = run(src, x=5)  # falls into the halt statement
    assert state.steps == 2 and out["x"] == 5
    _, state, out = run(src, x=0)
    assert state.steps == 3 and out["x"] == 2


def test_halt_after_unconditional_jump_costs_nothing():
    p = assemble("top: jmp next\nhalt\nnext: jmp halt\nhalt\n", "t.asm")
    assert len(p.code) == 3
    assert oracle.run(p).steps == 2


def test_first_statement_halt_halts_immediately():
    p = assemble(".data\nx: 0\n.code\nhalt\ninc x\n", "t.asm")
    state = oracle.run(p)
    assert state.steps == 1 and p.outputs(state.memory) == {"x": 0}


def test_jump_to_halt_word_and_case_insensitive_keywords():
    p = assemble(".DATA\nx: 3\n.Code\nJLE x, HALT\nINC x\nHalt\n", "t.asm")
    assert p.code[0].c == p.halt_index
    state = oracle.run(p)
    assert p.outputs(state.memory) == {"x": 4}


def test_running_past_the_end_halts():
    _, state, out = run(".data\nx: 1\n.code\ninc x\ninc x\n")
    assert state.steps == 2 and out == {"x": 3}


# -- operands, data, sections -------------------------------------------------------------------

def test_integer_literal_forms():
    p = assemble(".data\nv: 12, -12, 0x1f, 0X1F, 0b101, 'A', '\\n', '\\'', ';', '#', -0x10, 007\n",
                 "t.asm")
    assert p.outputs(p.memory)["v"] == [12, -12, 31, 31, 5, 65, 10, 39, 59, 35, -16, 7]


def test_offsets_and_array_outputs():
    _, _, out = run(".data\na: 1, 2, 3\nb: 0\n.code\nmov b, a+2\nadd b, a - 0\nsub a+1, a+1\n")
    assert out == {"a": [1, 0, 3], "b": 4}


def test_zero_directive_and_standalone_labels_and_continuation_lines():
    p = assemble(".data\nbuf: .zero 3\nlabel_alone:\n\n  7\nrows: 1, 2\n  3, 4\n.code\n.data\n  5\n",
                 "t.asm")
    assert p.outputs(p.memory) == {"buf": [0, 0, 0], "label_alone": 7, "rows": [1, 2, 3, 4, 5]}


def test_aliases_share_cells():
    p = assemble(".data\nfirst:\nsecond: 4, 5\n", "t.asm")
    assert p.cells["first"].offset == p.cells["second"].offset == 0
    assert p.cells["first"].length == 2


def test_sections_interleave_and_labels_are_forward_references():
    src = """
    .code
        jmp start
    .data
    x: 1
    .code
    start: add x, y
    .data
    y: 41
    """
    _, state, out = run(src)
    assert out == {"x": 42, "y": 41}


def test_code_label_alone_names_next_code_statement_across_data():
    p = assemble("jmp there\nthere:\n.data\nx: 0\n.code\ninc x\n", "t.asm")
    assert p.code_labels["there"] == 1


def test_comments_and_names_with_dots():
    p = assemble("; header\n# other comment\n.data\nmy.var_1: 2 ; two\n.code\ninc my.var_1 # +1\n",
                 "t.asm")
    assert p.outputs(oracle.run(p).memory) == {"my.var_1": 3}


def test_literal_operand_as_source_is_a_constant():
    _, _, out = run(".bits 8\n.data\nx: 0\n.code\nmov x, -128\nadd x, 0x7f\nsub x, 'A'\n")
    assert out == {"x": wrap(-128 + 127 - 65, 8)}


def test_a_literal_as_b_is_an_error_even_when_it_would_not_change():
    # The spec: writing to a constant (a literal as B) is an error; `jmp` is how to jump.
    with pytest.raises(AsmError) as info:
        assemble("subleq 0, 0, end\nend: halt\n", "t.asm")
    assert "cannot write to the constant 0" in str(info.value) and "t.asm:1:11" in str(info.value)


def test_jle_jgt_accept_literals():
    p = assemble(".data\nr: 0\n.code\njle 0, yes\ninc r\nyes: jgt 1, end\ninc r\nend:\n", "t.asm")
    state = oracle.run(p)
    assert p.outputs(state.memory) == {"r": 0}


def test_instruction_locations_and_source_text():
    p = assemble(".data\nx: 0\n.code\n  loop:   inc x   ; comment\n\tmov x,x\n", "t.asm")
    assert p.code[0].loc.line == 4 and p.code[0].loc.col == 11 and p.code[0].source == "inc x"
    assert p.code[1].loc.line == 5 and p.code[1].loc.col == 2 and p.code[1].source == "mov x,x"


# -- directives ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [limits.MIN_BITS, 8, limits.FLOAT32_MAX_BITS, limits.MAX_BITS])
def test_bits_range(bits):
    p = assemble(f".bits {bits}\n.data\nx: {(1 << (bits - 1)) - 1}, {-(1 << (bits - 1))}\n", "t.asm")
    assert p.bits == bits
    assert p.value_range() == (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def test_isa_subleq_and_directives_before_statements():
    p = assemble("; comment\n.isa SUBLEQ\n.data\n.bits 8\nx: 1\n", "t.asm")
    assert p.isa == "subleq" and p.bits == 8


# -- limits -------------------------------------------------------------------------------------

def test_largest_program_that_fits():
    # 1 + memory + code <= MAX_COLUMNS; memory = n data cells + #0 + #-1, code = 1 halt column
    n = limits.MAX_COLUMNS - 1 - 2 - 1
    p = assemble(f".data\nbig: .zero {n}\n", "t.asm")
    assert 1 + len(p.memory) + len(p.code) == limits.MAX_COLUMNS
    with pytest.raises(LoopedError, match="too large"):
        assemble(f".data\nbig: .zero {n + 1}\n", "t.asm")


# -- files and settings -------------------------------------------------------------------------

def test_assemble_file_and_missing_file(tmp_path):
    path = tmp_path / "p.asm"
    path.write_text(".data\nx: 1\n.code\ninc x\n")
    p = assemble_file(path)
    assert p.file == str(path)
    with pytest.raises(LoopedError, match="cannot read"):
        assemble_file(tmp_path / "missing.asm")


def test_with_settings_errors_fit_the_cells():
    p = assemble(".bits 8\n.data\nx: 1\nxs: 1, 2\n.code\nmov x, 5\n", "t.asm")
    assert p.with_settings({"xs": [3, 4]}).outputs(p.with_settings({"xs": [3, 4]}).memory)["xs"] == [3, 4]
    for settings, message in [
        ({"y": 1}, "unknown data label 'y'"),
        ({"#T": 1}, "unknown data label '#T'"),
        ({"#5": 1}, "unknown data label '#5'"),
        ({"xs": [1]}, "'xs' has 2 cells"),
        ({"x": 300}, "does not fit in 8 bits"),
    ]:
        with pytest.raises(LoopedError, match=message):
            p.with_settings(settings)


def test_instructions_are_plain_program_instructions():
    p = assemble(".data\nx: 1\n.code\ninc x\n", "t.asm")
    assert all(isinstance(i, Instruction) for i in p.code)
    assert all(0 <= i.a < len(p.memory) and 0 <= i.b < len(p.memory) and 0 <= i.c < len(p.code)
               for i in p.code)


# -- the examples of docs/language.md -----------------------------------------------------------

def test_language_doc_examples_assemble_and_halt():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "language.md").read_text()
    blocks = re.findall(r"```asm\n(.*?)```", doc, re.S)
    assert len(blocks) >= 4
    results = []
    for block in blocks:
        program = assemble(block, "doc.asm")
        state = oracle.run(program, max_steps=10_000)
        assert state.halted
        results.append((program.outputs(state.memory), state.steps))
    assert results[0] == ({"x": 21, "y": 42}, 7)
    assert results[1][0]["table"] == [1, 2, 3, 4, 5, 6]
    assert results[2][0]["m"] == 8
    assert results[3] == ({"n": 0, "k": 5}, 19)
