"""One self-contained HTML page for a recorded run (looped/view/record.py): the template's script,
style and the recording's data inline, nothing fetched, so that it opens from disk.

The data the page's script reads (looped/view/view.js):

    {"machine", "file", "status", "message", "steps" (N), "first" (the window's first step),
     "layout": {"n", "d", "rows": [[name, start, stop], ...], "zones": [[name, start, stop], ...]},
     "columns": [a name per token], "heads": [{"layer", "name", "mode"}], "scale": R,
     "listing": [source lines], "lines": [source line of each code index or null],
     "start": {"card": [n*d rounded values, token-major], "memory": {label: value}, "pc", "output"},
     "records": [{"pc", "x": [index, value, ...], "m": {label: value}, "h": [[head, s, column, w]],
                  "o": "text"}, ...]}
"""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np

from looped.view.record import Recording

TEMPLATE_FILES = ("page.html", "view.css", "view.js")


def render(recording: Recording) -> str:
    """The page as one string."""
    html, css, js = (resources.files("looped.view").joinpath(name).read_text("utf-8") for name in TEMPLATE_FILES)
    data = json.dumps(page_data(recording), separators=(",", ":"), ensure_ascii=False)
    data = data.replace("<", "\\u003c")  # no "</script>" inside the data (only strings hold a '<')
    replacements = {
        "{{TITLE}}": _escape(f"looped view: {recording.program.file}"),
        "{{STEPS}}": str(recording.total),
        "{{CSS}}": css,
        "{{DATA}}": data,
        "{{JS}}": js,
    }
    return re.sub("|".join(re.escape(k) for k in replacements), lambda m: replacements[m.group()], html)


def write(recording: Recording, path: str) -> int:
    """Write the page to `path`; its size in bytes."""
    text = render(recording).encode("utf-8")
    with open(path, "wb") as f:
        f.write(text)
    return len(text)


def page_data(recording: Recording) -> dict:
    layout, start = recording.layout, recording.start
    listing, lines = source_listing(recording)
    return {
        "machine": recording.machine,
        "language": recording.language,
        "file": recording.program.file,
        "status": recording.status,
        "message": recording.message,
        "steps": recording.total,
        "first": recording.first,
        "layout": {"n": layout.n, "d": layout.d, "rows": row_blocks(layout), "zones": column_zones(layout)},
        "columns": column_names(recording),
        "heads": recording.heads,
        "scale": colour_range(recording),
        "live_rows": live_rows(recording),
        "cells_per_token": cells_per_token(recording),
        "listing": listing,
        "lines": lines,
        "start": {"card": [_plain(v) for v in start.card.reshape(-1).tolist()], "memory": start.memory,
                  "pc": start.pc, "output": start.output},
        "records": [step.to_json() for step in recording.steps],
    }


def _plain(value: float):
    return int(value) if value == int(value) else value


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ---- names for the card's rows and columns -----------------------------------------------------------


def row_blocks(layout) -> list:
    """[[name, start, stop]] of the card's row blocks: the top-level blocks, the finest where they
    overlap (a tape's `cell` is shown as its parts `eof`, `mem`, `out`)."""
    blocks = [(name, r.start, r.stop) for name, r in layout.rows.items() if "." not in name and r.size]
    leaves = [b for b in blocks
              if not any(o is not b and b[1] <= o[1] and o[2] <= b[2] and (o[1], o[2]) != (b[1], b[2]) for o in blocks)]
    seen, out = set(), []
    for name, first, stop in sorted(leaves, key=lambda b: b[1]):
        if (first, stop) not in seen:
            seen.add((first, stop))
            out.append([name, first, stop])
    return out


def column_zones(layout) -> list:
    """[[name, start, stop]] of the column zones, finest first where they overlap (FLEQ's scratch
    is its slots and the anchor), empty zones left out."""
    zones, ranges = [], set()
    for z in layout.zones.values():  # a zone that is another's columns under a second name: once
        if z.size and (z.start, z.stop) not in ranges:
            ranges.add((z.start, z.stop))
            zones.append((z.name, z.start, z.stop))
    fine = [z for z in zones if not any(o is not z and z[1] <= o[1] and o[2] <= z[2] for o in zones)]
    return [list(z) for z in sorted(fine, key=lambda z: z[1])]


def cells_per_token(recording: Recording) -> int:
    """Memory cells a memory token holds (a tape machine may pack several on one token)."""
    if recording.machine != "tape":
        return 1
    zone = recording.layout.zone("memory")
    return max(1, -(-recording.memory_cells // zone.size)) if zone.size else 1


def column_names(recording: Recording) -> list[str]:
    """A name for every token: its zone and what it holds (a memory cell's label, a slot's index,
    an instruction's code index)."""
    layout, program = recording.layout, recording.program
    names = [""] * layout.n
    cell_names = None
    if recording.machine in ("subleq", "fleq"):
        from looped import machines

        cell_names = machines.get(recording.machine).cell_names(program)
    for zone, first, stop in column_zones(layout):
        for t in range(first, stop):
            k = t - first
            if zone == "memory" and cell_names:
                names[t] = cell_names[k] if k < len(cell_names) else f"#{k}"
            elif zone == "memory":
                per = cells_per_token(recording)
                names[t] = f"mem[{k}]" if per == 1 else f"mem[{k * per}..{k * per + per - 1}]"
            elif zone == "code":
                names[t] = f"code {k}" + (" (halt)" if k == program.halt_index and recording.machine != "tape" else "")
            elif zone == "slots":
                names[t] = f"slot {k}"
            elif zone in ("output", "input"):
                names[t] = f"{zone[:-3] if zone == 'output' else 'in'}[{k}]"
            elif zone == "scratch" or zone == "anchor":
                names[t] = zone if stop - first == 1 else f"{zone} {k}"
            else:
                names[t] = zone
    return names


def live_rows(recording: Recording) -> list[int]:
    """The feature rows that hold a non-zero value in some state the page shows (the others are
    scratch rows, which every instruction clears before it ends: the page hides them by default)."""
    d = recording.layout.d
    live = set(np.flatnonzero(np.abs(recording.start.card).max(axis=0) > 0).tolist())
    for step in recording.steps:
        live.update(i % d for i in step.card[0::2])
    return sorted(live)


def colour_range(recording: Recording) -> float:
    """R: the card's colour scale runs over [-R, R] (1 for the ±1 bits of the integer machines;
    the largest value on the card for FLEQ's reals)."""
    largest = float(abs(recording.start.card).max(initial=1.0))
    for step in recording.steps:
        if step.card:
            largest = max(largest, max(abs(v) for v in step.card[1::2]))
    return max(1.0, largest)


# ---- the program listing -----------------------------------------------------------------------------


def source_listing(recording: Recording) -> tuple[list[str], list]:
    """The source's lines, and for every code index (tapes: every cell) the line it came from."""
    program = recording.program
    text = _read(program.file)
    if recording.cell_lines is not None:  # a tape compiled from C: the C source
        return ([] if text is None else text.splitlines()), list(recording.cell_lines)
    if recording.machine == "tape":
        if text is None:
            return [], []
        return text.splitlines(), tape_cell_lines(text, len(program.memory))
    lines = [inst.loc.line if inst.loc and inst.loc.file == program.file else None for inst in program.code]
    if text is None:  # no source file (a program built in Python): its instructions
        return [inst.source for inst in program.code], list(range(1, len(program.code) + 1))
    return text.splitlines(), lines


def tape_cell_lines(text: str, cells: int) -> list:
    """The line of each of a tape's cells (None past the tape's text), read as parse_tape reads it
    (comments after '#' or ';', integers separated by whitespace or commas)."""
    out = []
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        cut = min((i for i in (line.find("#"), line.find(";")) if i >= 0), default=len(line))
        out += [number] * len(re.findall(r"[^\s,#;]+", line[:cut]))
    return (out + [None] * cells)[:cells]


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None
