"""The assembler helpers every machine shares (looped/assembler/statements.py)."""

from types import SimpleNamespace

from looped.assembler.statements import header_directive_problem, label_name_problem, place_code
from looped.errors import SourceLoc


def stmt(op, *labels):
    return SimpleNamespace(op=op, labels=[(name, SourceLoc("f.asm", 1, 1)) for name in labels])


def test_label_names():
    assert label_name_problem("name", "loop", {"halt"}) is None
    assert "bad label name '3x'" in label_name_problem("int", "3x", {"halt"})
    assert "reserved word" in label_name_problem("name", "HALT", {"halt", "jmp"})


def test_header_directive_once_and_first():
    first = SourceLoc("f.asm", 2, 1)
    assert header_directive_problem(".bits", None, None) is None
    assert header_directive_problem(".bits", first, None) == "'.bits' given twice (first at line 2)"
    assert "before any statement (the first statement is at line 2)" in header_directive_problem(".isa", None, first)


def test_place_code_halts_and_sizes():
    # a halt between real instructions that execution falls into takes one instruction; a halt
    # after an unconditional jump, or at the end, is the machine's halt (one past the end)
    code = [stmt("mov", "start"), stmt("halt", "stop"), stmt("jmp"), stmt("halt", "end"), stmt("mov"),
            stmt("error"), stmt("halt")]
    places = place_code(code, lambda st: 2, lambda st: st.op == "jmp", [("tail", None)])
    assert places.sizes == [2, 1, 2, 0, 2, 0, 0]
    assert places.starts == [0, 2, 3, 5, 5, 7, 7]
    assert places.halt_index == 7
    assert places.labels == {"start": 0, "stop": 7, "end": 7, "tail": 7}
