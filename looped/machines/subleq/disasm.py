"""A readable assembly listing of a `Program` (what `looped disasm` prints). No JAX here.

The listing shows every memory cell and every instruction of the punch card:

- the data section: the program's data labels with their initial values, the assembler's scratch
  cells (declared under a plain name such as `__T`, marked as scratch), and the constant pool as
  comments (a constant is written as its literal value where it is used);
- the code section: every instruction as `subleq a, b[, c]` after macro expansion, with label
  names where known (synthesized `__L<index>` labels for other jump targets), `halt` for the halt
  column, and a comment giving the index and the source statement it came from.

The listing re-assembles to a program with the same instructions and the same behaviour (the
scratch cells then become ordinary data labels, so they appear in the outputs).
"""

from __future__ import annotations

import re

from looped.machines.subleq.program import Program

_NAME_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
COMMENT_COL = 34


def _visible_name(name: str, taken: set[str]) -> str:
    """A name the assembler accepts for a hidden cell such as `#T` (`__T`), unique in `taken`."""
    base = "__" + re.sub(r"[^A-Za-z0-9_.]", "_", name.lstrip("#"))
    candidate = base
    while candidate in taken:
        candidate += "_"
    taken.add(candidate)
    return candidate


def _line(text: str, comment: str = "") -> str:
    if not comment:
        return text
    return f"{text.ljust(COMMENT_COL - 1)} ; {comment}" if len(text) < COMMENT_COL - 1 else \
        f"{text} ; {comment}"


def _span(offset: int, length: int) -> str:
    return f"mem[{offset}]" if length == 1 else f"mem[{offset}..{offset + length - 1}]"


def format_program(program: Program) -> str:
    memory, code = program.memory, program.code
    n_mem, n_code = len(memory), len(code)
    halt = program.halt_index
    taken = set(program.cells) | set(program.code_labels)

    # -- names of memory cells ----------------------------------------------------------------
    const_at: dict[int, str] = {}
    named: dict[int, list[tuple[str, int, str]]] = {}  # offset -> [(shown name, length, kind)]
    for cell in program.cells.values():
        if cell.kind == "const" and cell.length == 1:
            const_at[cell.offset] = cell.name
            continue
        shown = cell.name if _NAME_OK.match(cell.name) else _visible_name(cell.name, taken)
        named.setdefault(cell.offset, []).append((shown, cell.length, cell.kind))
    owner: dict[int, tuple[str, int]] = {}  # offset -> (name, k) for name+k
    for offset in sorted(named):
        for shown, length, kind in named[offset]:
            for k in range(length):
                if 0 <= offset + k < n_mem:
                    owner.setdefault(offset + k, (shown, k))
    for offset in range(n_mem):  # cells nobody named (hand-built programs)
        if offset not in owner and offset not in const_at:
            shown = _visible_name(f"m{offset}", taken)
            named[offset] = [(shown, 1, "scratch")]
            owner[offset] = (shown, 0)

    def data_operand(offset: int) -> str:
        if offset in const_at:
            return str(memory[offset])
        if offset in owner:
            name, k = owner[offset]
            return name if k == 0 else f"{name}+{k}"
        return f"mem[{offset}]"  # out of range: not re-assemblable, but visible

    # -- names of code indices ----------------------------------------------------------------
    labels_at: dict[int, list[str]] = {}
    for name, index in program.code_labels.items():
        labels_at.setdefault(index, []).append(name)
    for i, inst in enumerate(code[:-1]):
        if inst.c not in (i + 1, halt) and inst.c not in labels_at:
            labels_at[inst.c] = [_visible_name(f"L{inst.c}", taken)]

    def code_operand(index: int, source: str) -> str:
        if index == halt and source.strip().lower() == "halt":
            return "halt"  # the jump of a `halt` statement in the middle of the code
        if index in labels_at:
            return labels_at[index][0]
        return "halt" if index == halt else f"<{index}>"

    # -- listing ------------------------------------------------------------------------------
    users = sum(1 for c in program.cells.values() if c.kind == "user")
    out = [
        f"; {program.file}: {program.bits}-bit {program.isa.upper()}, "
        f"{1 + n_mem + n_code} columns = 1 + {n_mem} memory cells + {n_code} instructions "
        f"(halt column included)",
        f".isa {program.isa}",
        f".bits {program.bits}",
        "",
        ".data",
    ]
    if not users:
        out.append("; (no data labels)")
    offset = 0
    while offset < n_mem:
        if offset in const_at:
            out.append(f"; {_span(offset, 1)}: constant {memory[offset]} ({const_at[offset]}, "
                       f"read-only, the assembler's own; written as {memory[offset]} in code)")
            offset += 1
            continue
        entries = named.get(offset)
        if not entries:  # inside an array already printed (or an overlapping cell)
            offset += 1
            continue
        *aliases, (shown, length, kind) = entries
        length = max(1, min(length, n_mem - offset))
        for alias, _, _ in aliases:
            out.append(f"{alias}:")
        values = ", ".join(str(v) for v in memory[offset : offset + length])
        what = _span(offset, length)
        if kind == "scratch":
            original = [c.name for c in program.cells.values()
                        if c.offset == offset and c.kind == "scratch"]
            what += f" scratch {original[0] if original else ''} (the assembler's own, hidden)"
        out.append(_line(f"{shown}: {values}", what))
        offset += length

    out += ["", ".code"]
    previous_loc = object()
    for i, inst in enumerate(code):
        for name in labels_at.get(i, []):
            out.append(f"{name}:")
        if i == halt:
            out.append(_line("    halt", f"{i}: halt column (subleq {data_operand(inst.a)}, "
                                          f"{data_operand(inst.b)}, {i}: loops on itself)"))
            continue
        a_text, b_text = data_operand(inst.a), data_operand(inst.b)
        if inst.b in const_at and memory[inst.a] == 0 and inst.a in const_at:
            # A literal may not be written as B, so the jumps the assembler made with a constant
            # B (mem[b] - 0 is unchanged) are shown as the macros that make them.
            target = code_operand(inst.c, inst.source)
            text = f"    jmp {target}" if memory[inst.b] == 0 else f"    jle {b_text}, {target}"
        else:
            text = f"    subleq {a_text}, {b_text}"
            if inst.c != i + 1:
                text += f", {code_operand(inst.c, inst.source)}"
        comment = f"{i}"
        if inst.loc != previous_loc or inst.source != getattr(code[i - 1], "source", None):
            if inst.source:
                comment += f": {inst.source}"
            if inst.loc is not None:
                comment += f"  (line {inst.loc.line})"
        previous_loc = inst.loc
        out.append(_line(text, comment))
    return "\n".join(out) + "\n"
