"""The back end's promises (docs/c.md): values stay in place, so simple statements cost what the
docs say; the linker resolves labels, patched operands and constant cells."""

import pytest

from looped.machines.tape.c.compiler import compile_c
from looped.machines.tape.c.link import Ins, link
from looped.machines.tape.c.oracle import run_tape


def steps_of(body: str, globals_: str = "int x = 5, y = 7;") -> int:
    """Steps of main's body beyond an empty main's."""
    empty = run_tape(compile_c(f"{globals_}\nint main(void) {{ return 0; }}\n", "e.c")).steps
    full = run_tape(compile_c(f"{globals_}\nint main(void) {{ {body} return 0; }}\n", "f.c")).steps
    return full - empty


@pytest.mark.parametrize("body,steps", [
    ("x -= y;", 1),            # y x
    ("x++;", 1),               # #k:-1 x
    ("x += 3;", 1),            # #k:-3 x
    ("x += y;", 3),            # y z; z x; z z
    ("x = y;", 4),             # x x; y z; z x; z z
    ("x = 9;", 2),             # x x; #k:-9 x
    ("x = x + y;", 3),         # in place: x += y
    ("x = -y;", 2),            # x x; y x
    ("x *= 4;", 6),            # two doublings in place
])
def test_simple_statements_cost_what_the_docs_say(body, steps):
    assert steps_of(body) == steps


def test_a_loop_step_costs_a_few_instructions():
    # x = 100 (2), the jump to the test (1), 15 iterations of `y x` and the test `Z x end` with the
    # jump back (3 each), the last test (1)
    assert steps_of("x = 100; while (x > 0) x -= y;") == 2 + 1 + 15 * 3 + 1


def test_link_resolves_labels_operands_and_constants():
    code = [Ins("#k:72", -1), Ins("#k:-1", "v", "end"), "end", Ins(("v", 0), -1), Ins("v", "v", -1)]
    fixed = {"labels": {}, "size": 0, "values": {}}
    linked = link(code, [("v", [104])], fixed)
    words = linked.words
    assert words[0:3] == [linked.labels["#k:72"], -1, 3]
    assert words[linked.labels["#k:72"]] == 72 and words[linked.labels["v"]] == 104
    assert linked.labels["end"] == 6 and linked.code_size == 12
    from looped.machines.tape import oracle
    from looped.machines.tape.program import TapeProgram

    state = oracle.run(TapeProgram(memory=tuple(words), bits=32))
    assert bytes(state.output) == b"Hi" and state.status == "halted"
