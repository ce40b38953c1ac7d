"""The kernels' structure hints, checked against the weights on the states the machines visit
(looped/hints.py), for every instruction set; and the checker catches a false hint."""

import dataclasses

import numpy as np
import pytest

from looped.assembler import assemble_file
from looped.engine import _encode
from looped.hints import check_hints, check_trace
from looped.layers import Layer, Stack
from looped.machine import machine_for

SUBLEQ_PROGRAMS = ["programs/gcd.asm", "programs/bubble_sort.asm", "programs/factorial.asm"]
FLEQ_PROGRAMS = ["programs/fleq/calculator.asm", "programs/fleq/matrix_ops.asm"]


def machine_and_card(path):
    program = assemble_file(path)
    instruction_set, key, _, X = _encode([program], None)
    return machine_for(instruction_set.name, key), X[0]


@pytest.mark.parametrize("path", SUBLEQ_PROGRAMS + FLEQ_PROGRAMS)
def test_every_hint_holds_on_the_states_a_program_visits(path):
    machine, X = machine_and_card(path)
    assert check_trace(machine.stack, machine.lam, X, steps=12) == []


def _with_part(stack: Stack, layer_index: int, part_index: int, **changes) -> Stack:
    layers = list(stack.layers)
    lay = layers[layer_index]
    parts = list(lay.parts)
    parts[part_index] = dataclasses.replace(parts[part_index], **changes)
    layers[layer_index] = Layer(lay.heads, tuple(parts), lay.d, lay.name)
    return dataclasses.replace(stack, layers=tuple(layers))


def _with_head(stack: Stack, layer_index: int, head_index: int, **changes) -> Stack:
    layers = list(stack.layers)
    lay = layers[layer_index]
    heads = list(lay.heads)
    heads[head_index] = dataclasses.replace(heads[head_index], **changes)
    layers[layer_index] = Layer(tuple(heads), lay.parts, lay.d, lay.name)
    return dataclasses.replace(stack, layers=tuple(layers))


def test_a_false_mlp_hint_is_caught():
    machine, X = machine_and_card("programs/gcd.asm")
    write = [lay.name for lay in machine.stack.layers].index("write")
    overwrite = [p.name.startswith("overwrite") for p in machine.stack.layers[write].parts].index(True)
    lying = _with_part(machine.stack, write, overwrite, tokens="scratch")  # it writes memory tokens
    assert any("overwrite" in p for p in check_trace(lying, machine.lam, X, steps=3))


def test_a_false_query_hint_is_caught():
    machine, X = machine_and_card("programs/gcd.asm")
    lying = _with_head(machine.stack, 2, 0, queries="scratch")  # the write head: it is "others"
    assert any("queries='scratch'" in p for p in check_hints(lying, machine.lam, X))


def test_a_false_key_hint_is_caught():
    machine, X = machine_and_card("programs/gcd.asm")
    lying = _with_head(machine.stack, 0, 0, keys="scratch+self")  # the fetch reads a far token
    assert any("keys='scratch+self'" in p for p in check_hints(lying, machine.lam, X))
