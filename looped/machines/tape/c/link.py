"""Symbolic SUBLEQ (the back end's output) -> tape words, with a source map.

An operand is an int (an absolute address, or -1 for I/O), a label name, or (label, offset).
Instruction labels name their first cell, so (L, 0), (L, 1), (L, 2) are its A, B and C cells
(self-modifying code patches them). Special data labels are made on demand:
"#k:V" a cell holding V, "#a:L:K" one holding the address of L plus K, "#na:L" one holding
minus the address of L.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Ins:
    a: object
    b: object
    c: object = None  # None: the next instruction
    loc: object = None  # SourceLoc of the C construct that made it
    label: str | None = None


@dataclass
class Linked:
    words: list
    labels: dict
    source_map: dict = field(default_factory=dict)  # instruction address -> SourceLoc
    code_size: int = 0


def constant_label(value: int) -> str:
    return f"#k:{value}"


def address_label(label: str, offset: int = 0) -> str:
    return f"#a:{label}:{offset}"


def neg_address_label(label: str) -> str:
    return f"#na:{label}"


def link(code: list, data: list, fixed: dict, stack: int = 0) -> Linked:
    """code: Ins and label strings, placed from address fixed["size"] on (`fixed`: the cells before
    the code: "labels" names some, "values" gives each one's value). data: (label, [values]) blocks
    after the code, values ints or ("addr"/"negaddr", label, offset); the special constant cells
    follow, then `stack` zero cells (label "stack")."""
    labels: dict[str, int] = dict(fixed["labels"])
    address = fixed["size"]
    for item in code:
        if isinstance(item, str):
            labels[item] = address
        else:
            if item.label:
                labels[item.label] = address
            address += 3
    code_end = address
    blocks = list(data)
    specials: dict[str, object] = {}
    for item in code:
        if isinstance(item, Ins):
            for op in (item.a, item.b, item.c):
                name = op[0] if isinstance(op, tuple) else op
                if isinstance(name, str) and name.startswith("#") and name not in specials:
                    specials[name] = _special_value(name)
    for label, values in data:
        for v in values:
            if isinstance(v, tuple) and v[0].startswith("#"):
                specials.setdefault(v[0], _special_value(v[0]))
    for name in sorted(specials, key=lambda s: (s.split(":")[0], s)):
        blocks.append((name, [specials[name]]))
    for label, values in blocks:
        labels[label] = address
        address += len(values)
    labels["stack"] = address
    total = address + stack
    words = [0] * total
    for addr, value in fixed["values"].items():
        words[addr] = _resolve_value(value, labels)
    source_map = {}
    at = fixed["size"]
    for item in code:
        if isinstance(item, str):
            continue
        words[at] = _resolve(item.a, labels, at)
        words[at + 1] = _resolve(item.b, labels, at)
        words[at + 2] = at + 3 if item.c is None else _resolve(item.c, labels, at)
        if item.loc is not None:
            source_map[at] = item.loc
        at += 3
    for label, values in blocks:
        base = labels[label]
        for k, v in enumerate(values):
            words[base + k] = _resolve_value(v, labels)
    return Linked(words, labels, source_map, code_end)


def _special_value(name: str):
    kind, _, rest = name.partition(":")
    if kind == "#k":
        return int(rest)
    if kind == "#a":
        label, _, offset = rest.rpartition(":")
        return ("addr", label, int(offset))
    if kind == "#na":
        return ("negaddr", rest, 0)
    raise ValueError(name)


def _resolve_value(value, labels) -> int:
    if isinstance(value, int):
        return value
    kind, label, offset = value
    address = labels[label] + offset
    return -address if kind == "negaddr" else address


def _resolve(op, labels, at) -> int:
    if isinstance(op, int):
        return op
    if isinstance(op, tuple):
        return labels[op[0]] + op[1]
    return labels[op]
