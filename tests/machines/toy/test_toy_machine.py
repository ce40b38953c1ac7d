"""A fourth machine, added the way docs/adding-a-machine.md says: MOVLEQ, a toy built from the
existing blocks in a few dozen lines, registered by one line, and run by the engine on every
backend, checked against its own plain interpreter after every step.

MOVLEQ's instruction `a, b, c` moves and branches: mem[b] <- mem[a]; go to c when the moved
value is <= 0, else to the next instruction. Its programs are written with SUBLEQ's assembler
(raw `subleq a, b, c` triples read as movleq) and use SUBLEQ's punch card, so the toy needs only
its stack, its oracle step, and the registration.
"""

import dataclasses

import pytest

from looped import blocks, engine, machines
from looped.assembler import assemble
from looped.layers import Stack, layer
from looped.layout import Layout
from looped.machines.subleq.isa import Subleq


def movleq_stack(layout: Layout) -> Stack:
    """Four layers, each a list of existing blocks (SUBLEQ's, with the subtractor left out)."""
    r, d = layout.rows, layout.d
    layers = (
        layer("fetch",
              blocks.read(layout, r["pc"], r["instr"], r["buf.instr"], name="fetch"),
              blocks.move(layout, r["buf.instr"], r["fetched"]),
              blocks.clear(layout, r["buf.instr"]), d=d),
        layer("operand",  # diff <- mem[a]: the value to move
              blocks.read(layout, r["fetched.a"], r["mem"], r["buf.a"], name="read a"),
              blocks.move(layout, r["buf.a"], r["diff"]),
              blocks.clear(layout, r["buf.a"]), d=d),
        layer("write",
              blocks.write(layout, r["fetched.b"], r["diff"], r["mem"], r["buf.write"]),
              blocks.overwrite(layout, r["buf.write"], r["mem"]),
              blocks.clear(layout, r["buf.write"], tokens="all"),
              blocks.flag_le_zero(layout, r["diff"], r["flag"]),
              blocks.clear(layout, r["diff"]), d=d),
        layer("branch",
              blocks.branch(layout, r["pc"], r["fetched.c"], r["flag"]),
              blocks.clear(layout, r["flag"], r["fetched"]), d=d),
        layer("correct",
              blocks.error_correction(layout, r["mem"]),
              blocks.error_correction(layout, r["pc"], tokens="scratch"), d=d),
    )
    corrected = tuple(list(r["mem"].indices) + list(r["pc"].indices))
    return Stack(layers=layers, corrected_rows=corrected, scratch_tokens=layout.zone("scratch").size)


class Movleq(Subleq):
    """SUBLEQ's card, layout, λ rule and decoding; its own layers and oracle step."""

    name = "movleq"

    def stack(self, layout: Layout) -> Stack:
        return movleq_stack(layout)

    def oracle_step(self, program, memory, pc: int) -> int:
        inst = program.code[pc]
        memory[inst.b] = memory[inst.a]
        return inst.c if memory[inst.b] <= 0 else pc + 1


MOVLEQ = Movleq()

SOURCE = """
.data
x: 5
y: 0
z: -3
n: 0
.code
start:  subleq x, y, start   ; y <- 5  (> 0: next)
        subleq z, n, skip    ; n <- -3 (<= 0: jump)
        subleq y, z, start   ; skipped
skip:   subleq y, x, start   ; x <- 5  (> 0: next)
        subleq n, y, done    ; y <- -3 (<= 0: jump to done)
done:   halt
"""


@pytest.fixture(scope="module")
def registered():
    machines.register("movleq", machines.Registration(f"{__name__}:MOVLEQ"))  # the one line
    yield
    del machines.REGISTRY["movleq"]


def toy_program():
    return dataclasses.replace(assemble(SOURCE, "toy.asm"), isa="movleq")


def oracle_trace(program, max_steps=50):
    memory, pc, states = list(program.memory), 0, []
    while pc != program.halt_index and len(states) < max_steps:
        pc = MOVLEQ.oracle_step(program, memory, pc)
        states.append((pc, list(memory)))
    return states


def test_the_oracle_moves_and_branches():
    program = toy_program()
    final_pc, final = oracle_trace(program)[-1]
    assert final_pc == program.halt_index
    assert program.outputs(final) == {"x": 5, "y": -3, "z": -3, "n": -3}


@pytest.mark.parametrize("backend", ["dense", "fast"])
def test_the_toy_machine_runs_on_the_engine_step_by_step_like_its_oracle(registered, backend):
    program = toy_program()
    expected = oracle_trace(program)
    steps = list(engine.trace_steps(program, 50, backend=backend))
    assert [(s, pc, list(mem)) for s, _, pc, mem in steps] == [
        (k + 1, pc, memory) for k, (pc, memory) in enumerate(expected)]
    (result,) = engine.run([program], backend=backend)
    assert result.status == "halted" and result.steps == len(expected)
    assert result.outputs == program.outputs(expected[-1][1])


def test_an_unregistered_machine_is_refused():
    with pytest.raises(ValueError, match="unknown instruction set 'nosuch'"):
        machines.get("nosuch")
