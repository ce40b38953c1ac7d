"""The exported machine: the initial state and every weight as plain arrays in one `.npz`.

Keys (see ../shared/spec/interfaces.md): `X` [n, d], `lam`, `n_layers`, `layer{i}/n_heads`,
`layer{i}/head{h}/wq|wk|wv`, `layer{i}/w1|b1|w2|b2`, and `layout`, a JSON string that says how to
read the state. Arrays are float32 up to the float32 word-size limit, float64 above it.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from looped.engine import _encode
from looped.machines.base import Card
from looped.machine import machine_for, stack_arrays
from looped.errors import AsmError, SourceLoc


def layout_json(card: Card) -> dict:
    program, layout = card.program, card.layout
    mem0 = layout.zone("memory").start
    return {
        **layout.to_json(),  # bits, n, d, addr_bits, rows, zones
        "pc_token": 0,
        "halt_pc": card.halt_token,
        "labels": {name: [mem0 + c.offset, c.length] for name, c in program.user_cells.items()},
        "cells": {name: [mem0 + c.offset, c.length, c.kind] for name, c in program.cells.items()},
        "code_labels": {name: layout.zone("code").start + i for name, i in program.code_labels.items()},
        "source": [
            {"token": card.code_token(k), "loc": str(inst.loc) if inst.loc else None, "text": inst.source}
            for k, inst in enumerate(program.code)
        ],
    }


def machine_arrays(program) -> dict[str, np.ndarray]:
    instruction_set, key, (card,), _ = _encode([program], None)
    machine = machine_for(instruction_set.name, key)
    dtype = np.dtype(machine.dtype)
    arrays: dict[str, np.ndarray] = {
        "X": card.X.astype(dtype),
        "lam": np.asarray(machine.lam, dtype),
        "n_layers": np.asarray(len(machine.stack.layers)),
    }
    for i, layer in enumerate(stack_arrays(machine.stack)):
        arrays[f"layer{i}/n_heads"] = np.asarray(len(layer["heads"]))
        for h, head in enumerate(layer["heads"]):
            for key in ("wq", "wk", "wv"):
                arrays[f"layer{i}/head{h}/{key}"] = head[key].astype(dtype)
        for key in ("w1", "b1", "w2", "b2"):
            arrays[f"layer{i}/{key}"] = layer[key].astype(dtype)
    layout = instruction_set.layout_json(card) if hasattr(instruction_set, "layout_json") else layout_json(card)
    arrays["layout"] = np.asarray(json.dumps(layout))
    return arrays


def export(program, path: str) -> None:
    np.savez(path, **machine_arrays(program))


def load_card(path: str) -> tuple[np.ndarray, dict]:
    """The initial state and layout of an exported machine."""
    where = SourceLoc(path, 1, 1)
    if not os.path.isfile(path):
        raise AsmError(where, "no such file (expected a .npz written by `looped export`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            X, layout = np.asarray(data["X"]), json.loads(str(data["layout"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        raise AsmError(where, "not an exported machine (expected a .npz written by `looped export`)") from None
    if not {"rows", "zones", "halt_pc", "bits"} <= set(layout):
        raise AsmError(where, "the layout lacks rows, zones, halt_pc or bits (expected a .npz written "
                              "by `looped export`)")
    return X, layout


__all__ = ["export", "machine_arrays", "layout_json", "load_card"]
