"""The exported machine, run by an independent NumPy implementation of the layer formula in
../shared/spec/interfaces.md (this file imports nothing from the library to do it)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from looped.machines.subleq import oracle
from looped.assembler import assemble_file
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
    X = data["X"].astype(np.float64)
    lam = float(data["lam"])
    layers = []
    for i in range(int(data["n_layers"])):
        heads = [tuple(data[f"layer{i}/head{h}/{k}"].astype(np.float64) for k in ("wq", "wk", "wv"))
                 for h in range(int(data[f"layer{i}/n_heads"]))]
        layers.append((heads, *(data[f"layer{i}/{k}"].astype(np.float64) for k in ("w1", "b1", "w2", "b2"))))
    pc0, pc1 = layout["rows"]["pc"]
    m0, m1 = layout["rows"]["mem"]
    bits = layout["bits"]

    def unsigned(v):
        return int("".join("1" if b > 0 else "0" for b in v), 2)

    def pc():
        return unsigned(X[layout["pc_token"], pc0:pc1])

    steps = 0
    while pc() != layout["halt_pc"] and steps < max_steps:
        for layer in layers:
            X = numpy_layer(X, lam, *layer)
        steps += 1
    memory = {}
    for name, (token, length) in layout["labels"].items():
        values = [unsigned(X[t, m0:m1]) for t in range(token, token + length)]
        values = [v - (1 << bits) if v >= 1 << (bits - 1) else v for v in values]
        memory[name] = values[0] if length == 1 else values
    return steps, memory


@pytest.mark.parametrize("name", ["giannou_factorial", "giannou_reverse_list", "gcd"])
def test_exported_machine_runs_in_plain_numpy(tmp_path, name):
    program = assemble_file(f"programs/{name}.asm")
    path = tmp_path / "machine.npz"
    export(program, str(path))
    steps, memory = run_npz(path)
    expected = oracle.run(program)
    assert steps == expected.steps
    assert memory == program.outputs(expected.memory)


def test_export_keys_and_dtypes(tmp_path):
    path = tmp_path / "m.npz"
    export(assemble_file("programs/multiply.asm"), str(path))
    data = np.load(path)
    n, d = data["X"].shape
    assert data["X"].dtype == np.float32 and data["lam"].dtype == np.float32
    for i in range(int(data["n_layers"])):
        for h in range(int(data[f"layer{i}/n_heads"])):
            assert data[f"layer{i}/head{h}/wv"].shape == (d, d)
            assert data[f"layer{i}/head{h}/wq"].shape[0] == d
        hidden = data[f"layer{i}/w1"].shape[1]
        assert data[f"layer{i}/b1"].shape == (hidden,) and data[f"layer{i}/w2"].shape == (hidden, d)
        assert data[f"layer{i}/b2"].shape == (d,)
    layout = json.loads(str(data["layout"]))
    assert {"bits", "rows", "pc_token", "labels", "halt_pc"} <= set(layout)
    assert {"mem", "pc"} <= set(layout["rows"]) and layout["pc_token"] == 0


def test_export_command_applies_settings(tmp_path):
    path = tmp_path / "m.npz"
    rc = subprocess.run([sys.executable, "-m", "looped.cli", "export", "programs/gcd.asm", "--set", "a=12",
                         "--set", "b=18", "-o", str(path)], capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    assert run_npz(path)[1]["g"] == 6
