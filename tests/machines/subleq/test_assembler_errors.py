"""Every mistake a user can make gives one error with file, line, column and a helpful message."""

import pytest

from looped import limits
from looped.assembler import assemble
from looped.errors import AsmError

D = ".data\nx: 5\nys: 1, 2\n.code\n"  # line 5 is the first line after this prefix

CASES = [
    # (source, line, col, fragment of the message)
    # labels
    ("loop: inc x\njmp lopo\n.data\nx: 0", 2, 5, "unknown label 'lopo' (did you mean 'loop'?)"),
    (D + "mov x, yss", 5, 8, "unknown label 'yss' (did you mean 'ys'?)"),
    (D + "mov x, qqq", 5, 8, "unknown label 'qqq' (expected a data label or a number as the second operand of 'mov')"),
    (D + "jmp nowhere", 5, 5, "unknown label 'nowhere' (expected a code label or 'halt'"),
    (D + "jmp hatl", 5, 5, "did you mean 'halt'?"),
    (".data\nx: 5\nx: 6", 3, 1, "duplicate label 'x' (first defined at line 2, column 1)"),
    ("a: halt\n.data\na: 1", 3, 1, "duplicate label 'a' (first defined at line 1"),
    (".data\nmov: 5", 2, 1, "'mov' is a reserved word and cannot be a label"),
    ("HALT: jmp HALT", 1, 1, "'HALT' is a reserved word"),
    ("1abc: halt", 1, 1, "bad label name '1abc'"),
    ("x$: halt", 1, 2, "unexpected character '$'"),
    ("x: .data", 1, 4, "a label cannot stand before the directive '.data'"),
    (".data\nx:", 2, 1, "data label 'x' is not followed by any data"),
    # mnemonics and operand counts
    ("mvo x, y", 1, 1, "unknown instruction 'mvo' (did you mean 'mov'?)"),
    ("loop\n", 1, 1, "unknown instruction 'loop' (expected one of subleq"),
    ("zzz x, y", 1, 1, "unknown instruction 'zzz'"),
    (D + "mov x", 5, 1, "'mov' takes 2 operands (mov X, Y), got 1"),
    (D + "mov x, ys, x", 5, 12, "'mov' takes 2 operands (mov X, Y), got 3"),
    (D + "subleq x", 5, 1, "'subleq' takes 2 or 3 operands (subleq A, B[, C]), got 1"),
    (D + "inc", 5, 1, "'inc' takes 1 operand (inc X), got 0"),
    ("halt 5", 1, 6, "'halt' takes no operands"),
    (D + "mov x,,ys", 5, 7, "expected an operand"),
    (D + "mov x ys", 5, 7, "expected ',' between operands, got name 'ys'"),
    (D + "mov x,", 5, 7, "expected an operand after ','"),
    (D + "clr x+", 5, 7, "expected a number after 'x+'"),
    (D + "clr -", 5, 6, "expected a number after '-'"),
    # operand kinds
    (D + "jmp x", 5, 5, "'x' is a data label, but 'jmp' needs a code label or 'halt'"),
    (D + "l: mov l, x", 5, 8, "'l' is a code label, but 'mov' needs a data label or a number as its first operand"),
    (D + "jle x, 5", 5, 8, "'jle' needs a code label or 'halt' as its second operand, got the number 5"),
    (D + "subleq x, x, ys", 5, 14, "'ys' is a data label, but 'subleq' needs a code label"),
    ("jmp l+1\nl: halt", 1, 7, "a jump target cannot have an offset"),
    (D + "mov x, halt", 5, 8, "'halt' is not a data cell"),
    (D + "mov x, inc", 5, 8, "unknown reserved word 'inc'"),
    # constants
    (D + "mov 3, x", 5, 5, "cannot write to the constant 3: 'mov' writes its first operand"),
    (D + "subleq x, 3", 5, 11, "cannot write to the constant 3: B is written"),
    (D + "subleq 1, -1, halt", 5, 11, "cannot write to the constant -1"),
    (D + "clr 0", 5, 5, "cannot write to the constant 0"),
    (D + "inc 'a'", 5, 5, "cannot write to the constant 'a'"),
    (D + "add 7, x", 5, 5, "cannot write to the constant 7"),
    (D + "sub -2, x", 5, 5, "cannot write to the constant -2"),
    (D + "dec 0x10", 5, 5, "cannot write to the constant 0x10"),
    # offsets
    (D + "clr ys+2", 5, 8, "offset +2 is outside 'ys', which has 2 cells (expected 'ys+0' .. 'ys+1')"),
    (D + "clr x-1", 5, 7, "offset -1 is outside 'x', which is 1 cell"),
    (D + "clr x+1", 5, 7, "offset +1 is outside 'x'"),
    # values and literals
    (".bits 8\n.data\nx: 200", 3, 4, "value 200 does not fit in 8 bits (expected -128 .. 127)"),
    (".bits 8\n.data\nx: -129", 3, 4, "value -129 does not fit in 8 bits"),
    (".data\nx: 32768", 2, 4, "value 32768 does not fit in 16 bits (expected -32768 .. 32767)"),
    (".bits 8\n.data\nx: 0\n.code\nmov x, 128", 5, 8, "literal 128 does not fit in 8 bits"),
    (".bits 4\n.data\nx: 0\n.code\nmov x, 'A'", 5, 8, "literal 65 does not fit in 4 bits"),
    (".data\nx: 0x", 2, 4, "bad integer literal '0x'"),
    (".data\nx: 12ab", 2, 4, "bad integer literal '12ab' (expected a decimal, 0x hexadecimal"),
    (".data\nx: 0b102", 2, 4, "bad integer literal '0b102'"),
    (".data\nx: 'ab'", 2, 4, "bad character literal 'ab'"),
    (".data\nx: ''", 2, 4, "empty character literal"),
    (".data\nx: '\\q'", 2, 4, "unknown escape"),
    (".data\nx: 'a", 2, 4, "bad character literal"),
    (".data\nx: 5,", 2, 6, "expected a value after ','"),
    (".data\nx: 5 6", 2, 6, "expected ',' between data values"),
    (".data\nx: y", 2, 4, "expected a number in the data section, got name 'y'"),
    (".data\nx 5", 2, 3, "expected ':' after the label 'x'"),
    (".data\nx: mov", 2, 4, "instruction 'mov' in the data section (switch to code with '.code')"),
    (".data\n5", 2, 1, "data without a label"),
    ("x: 5", 1, 4, "data in the code section"),
    (".data\nx: .zero 0", 2, 10, "'.zero' needs at least 1 cell"),
    (".data\nx: .zero", 2, 9, "'.zero' expects a count of cells"),
    (".zero 4", 1, 1, "'.zero' outside the data section"),
    (f".data\nx: .zero {limits.MAX_COLUMNS + 1}", 2, 10, f"limit of {limits.MAX_COLUMNS} columns"),
    # directives
    (".word 5", 1, 1, "unknown directive '.word'"),
    (".bits 64", 1, 7, f"'.bits 64' is outside what the machine runs exactly (expected {limits.MIN_BITS} to {limits.MAX_BITS})"),
    (".bits 1", 1, 7, f"expected {limits.MIN_BITS} to {limits.MAX_BITS}"),
    (".bits -8", 1, 8, "'.bits -8' is outside"),
    (".bits", 1, 6, "'.bits' expects a word size in bits"),
    (".bits 8 9", 1, 9, "'.bits' takes one operand"),
    (".bits 8\n.bits 8", 2, 1, "'.bits' given twice (first at line 1)"),
    ("halt\n.bits 8", 2, 1, "'.bits' must come before any statement (the first statement is at line 1)"),
    (".data\nx: 1\n.bits 8", 3, 1, "'.bits' must come before any statement"),
    ("start:\n.bits 8", 2, 1, "'.bits' must come before any statement"),
    (".isa fleq", 1, 1, "the program has no instructions"),
    (".isa foo", 1, 6, "unknown instruction set 'foo' (expected 'subleq' or 'fleq')"),
    (".isa", 1, 5, "'.isa' expects an instruction set"),
    (".isa subleq\n.isa subleq", 2, 1, "'.isa' given twice (first at line 1)"),
    ("halt\n.isa subleq", 2, 1, "'.isa' must come before any statement"),
    (".data 5", 1, 7, "'.data' takes no operands"),
    ("\"hello\"", 1, 1, "unexpected character '\"'"),
]


@pytest.mark.parametrize("source, line, col, fragment", CASES, ids=[c[3][:40] for c in CASES])
def test_error(source, line, col, fragment):
    with pytest.raises(AsmError) as info:
        assemble(source, "prog.asm")
    err = info.value
    assert (err.loc.file, err.loc.line, err.loc.col) == ("prog.asm", line, col), str(err)
    assert fragment in err.message, err.message
    assert str(err) == f"prog.asm:{line}:{col}: error: {err.message}"


def test_spec_example_message():
    src = "\n" * 6 + "loop:        jmp lopo\n"
    with pytest.raises(AsmError) as info:
        assemble(src, "prog.asm")
    assert str(info.value) == "prog.asm:7:18: error: unknown label 'lopo' (did you mean 'loop'?)"


def test_first_error_in_source_order_is_reported():
    # an unknown label (found when names are resolved) before a syntax error (found when parsing)
    src = ".data\nx: 0\n.code\njmp nowhere\nmov x\n"
    with pytest.raises(AsmError) as info:
        assemble(src, "p.asm")
    assert info.value.loc.line == 4
    src = ".data\nx: 0\n.code\nmov x\njmp nowhere\n"
    with pytest.raises(AsmError) as info:
        assemble(src, "p.asm")
    assert info.value.loc.line == 4 and "takes 2 operands" in info.value.message


def test_label_on_a_bad_line_is_still_defined():
    # the only error is the bad instruction, not a follow-on "unknown label"
    with pytest.raises(AsmError) as info:
        assemble("jmp there\nthere: frob\n", "p.asm")
    assert info.value.loc.line == 2 and "unknown instruction 'frob'" in info.value.message


def test_program_too_large_names_the_limit_and_a_statement():
    n = limits.MAX_COLUMNS // 2
    src = f".data\na: .zero {n}\nb: .zero {n}\n"
    with pytest.raises(AsmError) as info:
        assemble(src, "big.asm")
    assert info.value.loc.line == 3
    assert f"exceed the limit of {limits.MAX_COLUMNS} columns" in info.value.message
    # code that overflows: the first statement past the limit is named
    cells = limits.MAX_COLUMNS - 10
    src = f".data\na: .zero {cells}\n.code\n" + "clr a\n" * 20
    with pytest.raises(AsmError) as info:
        assemble(src, "big.asm")
    # 1 + (cells + 2 constants) + k instructions + 1 halt column > MAX  <=>  k > 6
    assert info.value.loc.line == 4 + 6 and "program too large" in info.value.message


def test_errors_are_looped_errors_with_no_result():
    from looped.errors import LoopedError

    with pytest.raises(LoopedError):
        assemble("bogus", "p.asm")


def test_data_label_suggestions_only_suggest_data_labels():
    with pytest.raises(AsmError) as info:
        assemble(".data\ncount: 0\n.code\ncounter: inc countr\n", "p.asm")
    assert "did you mean 'count'?" in info.value.message
