"""The kernels' structure hints (looped/hints.py) hold on the states the tape machine visits:
input, output, a jump, self-modification, full output cells (a pause), a halt and a fault, and
the frozen states after them; and the machine's shape (layers, heads)."""

import dataclasses

import pytest

from looped.hints import check_trace
from looped.machines.tape.isa import TAPE
from looped.machine import machine_for
from looped.machines.tape.program import parse_tape

# 0: read a byte into 13; 3: write mem[13]; 6: mem[3] -= 1 rewrites the output's operand (the
# next round writes mem[12], then mem[11], ...); 9: back to 0 (mem[15] - mem[15] = 0 jumps). With
# two output cells the second output fills them: the machine pauses (and stays frozen).
TAPES = {
    "io, jump, self-modification, full": "-1 13 3  13 -1 6  14 3 9  15 15 0  0 0 1 0",
    "halt": "-1 9 3  9 -1 6  10 10 -1  0 0",
    "fault": "0 0 3  3 100 0",
}


@pytest.mark.parametrize("name", list(TAPES))
def test_every_hint_holds_on_the_states_a_tape_visits(name):
    tape = dataclasses.replace(parse_tape(TAPES[name]).with_input(b"ab"), output_capacity=2)
    key = TAPE.machine_key([tape])
    machine = machine_for("tape", key)
    _, X = TAPE.encode([tape], key)
    assert check_trace(machine.stack, machine.lam, X[0], steps=8) == []
