"""looped/view/record.py and page.py without a browser: the window of a long run, what the page
holds, the tape's source lines, and `looped view`'s errors."""

import json
import re

import numpy as np
import pytest

from looped.assembler import assemble_file
from looped.view import page
from looped.view.record import Snapshot, record
from view_helpers import run_cli


@pytest.fixture(scope="module")
def multiply():
    return assemble_file("programs/multiply.asm")


def state_at(recording, k: int) -> Snapshot:
    """The state after step k, rebuilt from the start and the steps as the page does."""
    start = recording.start
    state = Snapshot(start.card.copy(), dict(start.memory), start.pc, start.output)
    for step in recording.steps[: k - recording.first]:
        state.apply(step)
    return state


def test_a_window_keeps_the_last_steps_from_the_state_at_its_start(multiply):
    whole = record(multiply)
    assert whole.status == "halted" and whole.first == 0
    window = record(multiply, window=50)
    assert (window.total, window.first, len(window.steps)) == (whole.total, whole.total - 50, 50)
    at = state_at(whole, window.first)
    assert np.array_equal(window.start.card, at.card)
    assert (window.start.memory, window.start.pc) == (at.memory, at.pc)
    assert [s.to_json() for s in window.steps] == [s.to_json() for s in whole.steps[window.first:]]
    data = page.page_data(window)
    assert (data["first"], data["steps"], len(data["records"])) == (window.first, whole.total, 50)


def test_the_last_state_is_the_run_and_the_heads_point_at_the_operands(multiply):
    from looped import engine

    recording = record(multiply)
    (result,) = engine.run([multiply], backend="dense")
    final = state_at(recording, recording.total)
    assert final.memory == result.outputs and recording.total == result.steps
    heads = {(h["layer"], h["name"]): i for i, h in enumerate(recording.heads)}
    names = page.column_names(recording)
    code0 = recording.layout.zone("code").start
    for k, step in enumerate(recording.steps[:20]):
        pc = recording.steps[k - 1].pc if k else recording.start.pc
        inst = multiply.code[pc]
        looks = {h: (column, weight) for h, s, column, weight in step.heads if weight >= 0.5}
        assert looks[heads[("fetch", "fetch")]][0] == code0 + pc  # the fetch reads the instruction's column
        cells = multiply.cell_names()
        assert names[looks[heads[("operands", "read a")]][0]] == cells[inst.a]
        assert names[looks[heads[("operands", "read b")]][0]] == cells[inst.b]
        assert names[looks[heads[("write", "write")]][0]] == cells[inst.b]  # mem[b] takes the difference


def test_the_page_is_self_contained_and_its_data_cannot_end_the_script(multiply, tmp_path):
    source = tmp_path / "tricky.asm"
    source.write_text(open("programs/multiply.asm").read() + "; </script><script>alert(1)</script>\n")
    text = page.render(record(assemble_file(str(source)), max_steps=5))
    assert text.count("</script>") == 2  # the data's end and the page script's end
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing from the network
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S).group(1))
    assert data["listing"][-1].endswith("</script>") and data["steps"] == 5
    assert '<body data-steps="5">' in text


def test_tape_cells_map_to_their_lines():
    text = "# a comment 1 2 3\n0 0 3 ; six\n7, 8,9\n\n-1 # x\n"
    assert page.tape_cell_lines(text, 9) == [2, 2, 2, 3, 3, 3, 5, None, None]


def test_errors_name_the_file_and_exit_2(tmp_path):
    status, _, err = run_cli("view", "nowhere.asm", "-o", str(tmp_path / "x.html"))
    assert status == 2 and err.startswith("nowhere.asm:1:1: error:")
    status, _, err = run_cli("view", "programs/gcd.asm", "--input", "abc", "-o", str(tmp_path / "x.html"))
    assert status == 2 and "--input" in err and "Traceback" not in err
    status, _, err = run_cli("view", "tapes/hi.tape", "--set", "a=1", "-o", str(tmp_path / "x.html"))
    assert status == 2 and "--set" in err
    status, _, err = run_cli("view", "programs/gcd.asm", "-o", str(tmp_path / "no" / "x.html"))
    assert status == 2 and "no such folder" in err


@pytest.mark.slow
def test_the_fast_and_dense_evaluations_record_the_same_run(multiply):
    fast, dense = record(multiply, evaluator="fast"), record(multiply, evaluator="dense")
    assert [s.to_json() for s in fast.steps] == [s.to_json() for s in dense.steps]


@pytest.mark.slow
def test_a_fleq_fault_stops_the_recording_with_the_machines_message(tmp_path):
    source = tmp_path / "fault.asm"
    source.write_text(".isa fleq\n.data\nx: 3\ny: 0\nz: 0\n.code\n    add z, x, x\n    recip y, y\n    add z, z, x\n")
    recording = record(assemble_file(str(source)))
    assert (recording.status, recording.total) == ("fault", 2)
    assert "outside the domain of 'recip'" in recording.message
