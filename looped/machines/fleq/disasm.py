"""A readable `.isa fleq` listing of a `FleqProgram` (what `looped disasm` prints). No JAX here.

The listing is FLEQ source that assembles back to the same program (same memory, same
instructions):

- the data section: every user value with its current contents (numbers in their shortest exact
  form, `.zeros`/`.eye` where they fit), and a comment with its memory columns and shape;
- the code section: one statement per instruction: the call-only form `OP c, a[, b]` when the
  instruction never jumps, `jle x, L` / `jmp L` for branch-only instructions, `jgt x, L` for the
  assembler's `jgt` pattern, else the general form `fleq OP, c, a, b, flag, target`; operands are
  label names, `name+k` for one column, and number literals for the assembler's constants (which
  the assembler allocates again, in the same order); code labels where known, synthesized
  `__L<index>` labels for other targets; a comment with the index and the source statement.

A program that was not made by the assembler (hand-built column lists) is listed as well as its
columns allow; a scratch value used other than by `jgt` becomes a data label `__T` (so the
memory layout of the re-assembled program moves it before the constants).
"""

from __future__ import annotations

import re

import numpy as np

from looped.machines.fleq.assembler import number_text
from looped.machines.fleq.program import FleqInstruction, FleqProgram, Value

COMMENT_COL = 40
_NAME_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")


def _line(text: str, comment: str = "") -> str:
    if not comment:
        return text
    return f"{text.ljust(COMMENT_COL - 1)} ; {comment}" if len(text) < COMMENT_COL - 1 else \
        f"{text} ; {comment}"


def _visible_name(name: str, taken: set[str]) -> str:
    base = "__" + re.sub(r"[^A-Za-z0-9_.]", "_", name.lstrip("#"))
    candidate = base
    while candidate in taken:
        candidate += "_"
    taken.add(candidate)
    return candidate


def format_value(array: np.ndarray, indent: int = 0) -> str:
    """A value as FLEQ data: `2.5`, `[1, 2]`, `[[1, 2], [3, 4]]` (rows on their own lines when
    there are several), `.zeros H[, W]` or `.eye N`."""
    array = np.asarray(array, dtype=float)
    h, w = array.shape
    if (h, w) == (1, 1):
        return number_text(array[0, 0])
    if not array.any():
        return f".zeros {h}" if w == 1 else f".zeros {h}, {w}"
    if h == w and np.array_equal(array, np.eye(h)):
        return f".eye {h}"
    if w == 1:
        return "[" + ", ".join(number_text(x) for x in array[:, 0]) + "]"
    rows = ["[" + ", ".join(number_text(x) for x in row) + "]" for row in array]
    if h == 1:
        return f"[{rows[0]}]"
    return "[" + (",\n" + " " * (indent + 1)).join(rows) + "]"


def _jgt_pattern(inst: FleqInstruction, program: FleqProgram, scratch_cols: set[int]) -> bool:
    """`sub T, 1, x` testing T: what the assembler makes of `jgt x, L`."""
    return (inst.fn == "sub" and len(inst.c_cols) == 1 and inst.c_cols[0] in scratch_cols
            and inst.flag_col == inst.c_cols[0] and inst.a_cols == (program.one_col,)
            and len(inst.b_cols) == 1 and inst.c_height == 1 and not inst.b_rows_broadcast)


def format_fleq_program(program: FleqProgram) -> str:
    memory, code = program.memory, program.code
    halt = program.halt_index
    values = list(program.values.values())
    taken = set(program.values) | set(program.code_labels)
    scratch_cols = {c for v in values if v.kind == "scratch" for c in v.columns}
    jgt_at = {i for i, inst in enumerate(code[:-1]) if _jgt_pattern(inst, program, scratch_cols)}
    scratch_elsewhere = any(
        col in scratch_cols
        for i, inst in enumerate(code[:-1]) if i not in jgt_at
        for col in (*inst.a_cols, *inst.b_cols, *inst.c_cols, inst.flag_col))

    # -- operand names ----------------------------------------------------------------------------
    shown: dict[str, str] = {}  # value name -> the name in the listing
    declared: list[Value] = []  # values declared in the data section, in memory order
    for v in sorted(values, key=lambda v: v.offset):
        if v.kind == "user":
            shown[v.name] = v.name if _NAME_OK.match(v.name) else _visible_name(v.name, taken)
            declared.append(v)
        elif v.kind == "scratch" and scratch_elsewhere:
            shown[v.name] = _visible_name(v.name, taken)
            declared.append(v)
    by_cols: dict[tuple[int, ...], str] = {}
    column_of: dict[int, tuple[str, int]] = {}
    for v in values:
        h, w = v.shape
        cols = tuple(v.columns)
        if v.kind == "const":
            block = memory[:h, v.offset : v.offset + w]
            if block.size and np.all(block == block.flat[0]):
                by_cols.setdefault(cols, number_text(block.flat[0]))
            continue
        if v.name in shown:
            by_cols.setdefault(cols, shown[v.name])
            for k, col in enumerate(cols):
                column_of.setdefault(col, (shown[v.name], k))

    def operand(cols: tuple[int, ...]) -> str:
        if len(cols) > 1 and len(set(cols)) == 1:  # a scalar or a column read by every slot
            cols = cols[:1]
        if cols in by_cols:
            return by_cols[cols]
        if len(cols) == 1 and cols[0] in column_of:
            name, k = column_of[cols[0]]
            return f"{name}+{k}"
        return "<columns " + ", ".join(map(str, cols)) + ">"  # not expressible

    labels_at: dict[int, list[str]] = {}
    for name, index in program.code_labels.items():
        labels_at.setdefault(index, []).append(name)
    for i, inst in enumerate(code[:-1]):
        if inst.p != halt and inst.p not in labels_at and not _is_call(program, i, inst):
            labels_at[inst.p] = [_visible_name(f"L{inst.p}", taken)]

    def target(index: int) -> str:
        if index in labels_at:
            return labels_at[index][0]
        return "halt" if index == halt else f"<{index}>"

    # -- listing ------------------------------------------------------------------------------------
    out = [
        f"; {program.file}: FLEQ, {program.height} rows x {program.n_columns} memory columns, "
        f"{len(code)} instructions (halt included), {program.slots} slot"
        f"{'s' * (program.slots != 1)}",
        ".isa fleq",
        "",
        ".data",
    ]
    if not declared:
        out.append("; (no data labels)")
    names_at: dict[int, list[Value]] = {}
    for v in declared:
        names_at.setdefault(v.offset, []).append(v)
    for offset in sorted(names_at):
        group = names_at[offset]
        v = group[0]
        h, w = v.shape
        prefix = "".join(f"{shown[a.name]}: " for a in group)
        text = prefix + format_value(memory[:h, offset : offset + w], indent=len(prefix))
        cols = f"column {offset}" if w == 1 else f"columns {offset}..{offset + w - 1}"
        comment = f"{cols}, {h}x{w}"
        if v.kind == "scratch":
            comment += f", scratch {v.name} (the assembler's own)"
        first, *rest = text.split("\n")
        out.append(_line(first, comment))
        out.extend(rest)
    constants = [v for v in values if v.kind == "const"]
    if constants:
        out.append("; constants (the assembler's own, written as numbers in the code): "
                   + ", ".join(f"{v.name} column {v.offset}" if v.shape[1] == 1 else
                               f"{v.name} columns {v.offset}..{v.offset + v.shape[1] - 1}"
                               for v in sorted(constants, key=lambda v: v.offset)))

    out += ["", ".code"]
    for i, inst in enumerate(code[:-1]):
        for name in labels_at.get(i, []):
            out.append(f"{name}:")
        text = "    " + _statement(program, i, inst, operand, target, i in jgt_at)
        comment = f"{i}"
        if inst.source:
            comment += f": {inst.source}"
        if inst.loc is not None:
            comment += f"  (line {inst.loc.line})"
        out.append(_line(text, comment))
    for name in labels_at.get(halt, []):
        out.append(f"{name}:")
    out.append(_line("    halt", f"{halt}: the halt instruction"))
    return "\n".join(out) + "\n"


def _is_call(program: FleqProgram, i: int, inst: FleqInstruction) -> bool:
    """Whether the instruction is written in the call-only form `OP c, a[, b]`."""
    return bool(inst.c_cols) and inst.flag_col == program.one_col and inst.p == i + 1


def _statement(program: FleqProgram, i: int, inst: FleqInstruction, operand, target,
               is_jgt: bool) -> str:
    if is_jgt:
        return f"jgt {operand(inst.b_cols)}, {target(inst.p)}"
    if inst.fn == "mov" and not (inst.a_cols or inst.b_cols or inst.c_cols):
        if inst.flag_col == program.zero_col:
            return f"jmp {target(inst.p)}"
        return f"jle {operand((inst.flag_col,))}, {target(inst.p)}"
    inputs = [operand(inst.a_cols)] + ([operand(inst.b_cols)] if inst.b_cols else [])
    if _is_call(program, i, inst):
        return f"{inst.fn} {operand(inst.c_cols)}, " + ", ".join(inputs)
    c = operand(inst.c_cols) if inst.c_cols else "_"
    b = inputs[1] if len(inputs) > 1 else "_"
    return f"fleq {inst.fn}, {c}, {inputs[0]}, {b}, {operand((inst.flag_col,))}, {target(inst.p)}"


# ---- an exported FLEQ machine read back -------------------------------------------------------------


def program_from_card(X: np.ndarray, layout: dict, file: str = "<card>") -> FleqProgram:
    """The FleqProgram on an exported card (`looped export` of a FLEQ program): memory from the
    value rows of the memory tokens, instructions from the instruction rows of the command tokens,
    names from the layout's `values` and `code_labels`."""
    from looped.machines.fleq.program import FUNCTIONS
    from looped.layout import decode_unsigned

    rows, zones, sizes = layout["rows"], layout["zones"], layout["sizes"]
    H, L = sizes["height"], layout["addr_bits"]
    m0, m1 = zones["memory"]
    c0, c1 = zones["code"]
    val = slice(rows["val"][0], rows["val"][0] + H)
    memory = np.asarray(X[m0:m1, val], dtype=np.float64).T.copy()
    values = {name: Value(name, v["token"] - m0, tuple(v["shape"]), v.get("kind", "user"))
              for name, v in layout["values"].items()}

    def code(token: int, field: str) -> int | None:
        start = rows[f"instr.{field}"][0]
        bits = X[token, start : start + L]
        return None if not np.any(bits) else int(decode_unsigned(bits))

    def count(token: int, field: str) -> int:
        return int(round(float(X[token, rows[f"instr.{field}"][0]])))

    def columns(token: int, field: str, n: int, step: int = 1) -> list[int]:
        """The operand's base pointer and count as columns (looped/blocks/pointers.py)."""
        return [code(token, field) - m0 + step * j for j in range(n)] if n else []

    zero, one = layout["zero_col"], layout["one_col"]
    instructions = []
    for token in range(c0, c1):
        fnoff = X[token, rows["instr.fnoff"][0] : rows["instr.fnoff"][1]]
        fn = FUNCTIONS[int(np.argmin(fnoff))]
        c_cols = columns(token, "c", count(token, "nc"))
        a_cols = columns(token, "a", count(token, "na"))
        b_cols = columns(token, "b", count(token, "nb")) or columns(token, "b", count(token, "nb0"), step=0)
        rowoff = X[token, rows["instr.rowoff"][0] : rows["instr.rowoff"][1]]
        instructions.append(FleqInstruction(
            fn=fn, a_cols=tuple(a_cols), b_cols=tuple(b_cols), c_cols=tuple(c_cols),
            c_height=int(np.sum(rowoff < 0.5)) if c_cols else 0,
            flag_col=code(token, "f") - m0, p=code(token, "p") - c0,
            b_rows_broadcast=bool(X[token, rows["instr.bcast"][0]] > 0.5)))
    labels = {name: token - c0 for name, token in layout.get("code_labels", {}).items()}
    return FleqProgram(memory=memory, code=tuple(instructions), values=values, code_labels=labels,
                       zero_col=zero, one_col=one, file=file)
