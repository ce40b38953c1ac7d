"""The exported FLEQ machine (../shared/spec/fleq.md), run by an independent NumPy forward pass of
the plain layer formula in the file's dtype (this file imports nothing from the library to run it),
reproduces `looped run`; and `looped disasm` of it gives a program that runs to the same memory."""

import json
import subprocess
import sys

import numpy as np
import pytest

from looped import engine
from looped.assembler import assemble, assemble_file
from looped.export import export


def numpy_layer(X, lam, heads, w1, b1, w2, b2):
    A = X.copy()
    for wq, wk, wv in heads:
        scores = lam * (X @ wq) @ (X @ wk).T
        scores -= scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        A += weights @ (X @ wv)
    return A + np.maximum(A @ w1 + b1, 0) @ w2 + b2


def run_npz(path, max_steps=10_000):
    data = np.load(path)
    layout = json.loads(str(data["layout"]))
    X = data["X"]
    dtype = X.dtype
    lam = data["lam"].astype(dtype)
    layers = []
    for i in range(int(data["n_layers"])):
        heads = [tuple(data[f"layer{i}/head{h}/{k}"] for k in ("wq", "wk", "wv"))
                 for h in range(int(data[f"layer{i}/n_heads"]))]
        layers.append((heads, *(data[f"layer{i}/{k}"] for k in ("w1", "b1", "w2", "b2"))))
    pc0, pc1 = layout["rows"]["pc"]

    def pc():
        return int("".join("1" if b > 0 else "0" for b in X[layout["pc_token"], pc0:pc1]), 2)

    steps = 0
    while pc() != layout["halt_pc"] and steps < max_steps:
        for layer in layers:
            X = numpy_layer(X, lam, *layer)
        assert X.dtype == dtype
        steps += 1
    values = {}
    for name, place in layout["values"].items():
        t, (r0, r1), (h, w) = place["token"], place["rows"], place["shape"]
        assert r1 - r0 == h
        values[name] = np.array([[X[t + j, r0 + i] for j in range(w)] for i in range(h)])
    return steps, values, layout


@pytest.mark.parametrize("path, settings", [
    ("programs/fleq/calculator.asm", {"x": 12.5, "y": -0.3}),
    ("programs/fleq/matrix_ops.asm", {}),
])
def test_numpy_forward_pass_reproduces_looped_run(tmp_path, path, settings):
    program = assemble_file(path).with_settings(settings)
    export(program, str(tmp_path / "m.npz"))
    steps, values, layout = run_npz(str(tmp_path / "m.npz"))
    (result,) = engine.run([program], backend="dense")
    assert layout["isa"] == "fleq" and steps == result.steps
    assert np.load(str(tmp_path / "m.npz"))["X"].dtype == np.float64
    for name, value in result.outputs.items():
        np.testing.assert_allclose(values[name].reshape(np.shape(value)), value, rtol=1e-9, atol=1e-10)


def test_layout_names_every_value_and_the_program_counter(tmp_path):
    program = assemble_file("programs/fleq/matrix_ops.asm")
    export(program, str(tmp_path / "m.npz"))
    layout = json.loads(str(np.load(str(tmp_path / "m.npz"))["layout"]))
    assert {"pc", "val"} <= set(layout["rows"]) and layout["pc_token"] == 0
    assert layout["values"]["A"]["shape"] == [3, 3]
    assert layout["values"]["v"]["shape"] == [3, 1]
    assert set(program.user_values) <= set(layout["values"])
    assert int(np.load(str(tmp_path / "m.npz"))["n_layers"]) == 6  # the paper's FLEQ needs 13


def test_exported_machine_disassembles_to_a_program_that_runs_the_same(tmp_path):
    program = assemble_file("programs/fleq/matrix_ops.asm").with_settings({"c": -1.5})
    export(program, str(tmp_path / "m.npz"))
    listing = subprocess.run([sys.executable, "-m", "looped.cli", "disasm", str(tmp_path / "m.npz")],
                             capture_output=True, text=True, check=True).stdout
    again = assemble(listing, "disasm.asm")
    first, second = engine.run([program, again])
    assert first.steps == second.steps
    assert first.outputs == second.outputs
