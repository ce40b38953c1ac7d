"""Classic (von Neumann) SUBLEQ tapes: the parser and the program object. No JAX here.

A *tape* is the memory image of the SUBLEQ most people know (the Rosetta Code dialect): one memory
holds code and data, the instruction pointer IP starts at 0 and each step reads A, B, C =
mem[IP], mem[IP+1], mem[IP+2] and sets IP = IP + 3; then

* A = -1: one byte of input is stored in mem[B] (-1 once the input is exhausted);
* else B = -1: mem[A] mod 256 is written as one byte of output;
* else mem[B] = mem[B] - mem[A] (wrapping at the word size), and IP = C when the result is <= 0.

The machine halts when IP < 0 or IP > size - 3. A read or write of an address outside the memory
(other than the -1 cases above) is a *fault*. See docs/tapes.md; the oracle is looped/machines/tape/oracle.py
and the machine looped/machines/tape/isa.py.

Tape text: integers separated by whitespace or commas; `#` or `;` starts a comment that runs to
the end of the line. Errors name `FILE:LINE:COL`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from looped.limits import DEFAULT_BITS, MAX_BITS
from looped.errors import AsmError, LoopedError, SourceLoc

# Word sizes of the tape machine. Below 4 bits no tape of 3 cells fits (the memory size is at
# most 2^(N-1): every address must be a non-negative word).
MIN_TAPE_BITS = 4
# Output cells on the card; a run that fills them pauses, the driver empties them and resumes
# (looped/machines/tape/engine.py), so this bounds nothing but the card's width.
DEFAULT_OUTPUT_CAPACITY = 64

_TOKEN = re.compile(r"[^\s,#;]+")


@dataclass(frozen=True)
class TapeProgram:
    """A tape with its input. `memory` is the whole initial memory (its length is the memory size M:
    the tape's cells, then zeros up to `--memory`). `input` is the bytes the program reads."""

    memory: tuple[int, ...]
    bits: int = DEFAULT_BITS
    input: bytes = b""
    file: str = "<tape>"
    tape_length: int = -1  # cells given in the tape text (the rest of `memory` is zeros)
    output_capacity: int = DEFAULT_OUTPUT_CAPACITY
    isa: str = "tape"

    def __post_init__(self):
        if self.tape_length < 0:
            object.__setattr__(self, "tape_length", len(self.memory))

    @property
    def size(self) -> int:
        return len(self.memory)

    # The engine's generic interface: the runner stops a card when its `pc` rows decode to the
    # halt address. The tape machine's `pc` block is one row, `stop`, set to 1 when the instance
    # halts, faults or fills its output cells (looped/machines/tape/isa.py).
    halt_index = 0

    def with_input(self, data: bytes | str) -> "TapeProgram":
        if isinstance(data, str):
            data = data.encode("utf-8")
        return dataclasses.replace(self, input=bytes(data))

    def with_memory_size(self, size: int) -> "TapeProgram":
        if size < self.tape_length:
            raise LoopedError(f"error: --memory {size} is smaller than the tape ({self.tape_length} cells)")
        check_memory_size(size, self.bits)
        return dataclasses.replace(self, memory=tuple(self.memory[: self.tape_length]) + (0,) * (size - self.tape_length))

    def outputs(self, state) -> dict:
        """What `looped tape --json` prints besides status and steps (state: a TapeState)."""
        return {"output": decode_output(state.output), "memory": list(state.memory)}


def decode_output(data: bytes) -> str:
    """Output bytes as a string: UTF-8 where valid, other bytes kept losslessly as surrogate
    escapes (Python's `surrogateescape`: `s.encode('utf-8', 'surrogateescape')` gives the bytes)."""
    return bytes(data).decode("utf-8", errors="surrogateescape")


def fault_message(memory, ip: int, step: int) -> str:
    """What a fault says: the step, the IP and the address at fault, read off the memory (which a
    fault leaves as it was)."""
    size = len(memory)
    a, b = memory[ip], memory[ip + 1]
    valid = lambda x: 0 <= x < size  # noqa: E731
    if a == -1:
        what = f"input into mem[{b}]"
    elif b == -1:
        what = f"output of mem[{a}]"
    else:
        what = f"subtraction mem[{b}] -= mem[{a}]"
    bad = b if a == -1 else (a if not valid(a) else b)
    return (f"fault at step {step}, IP {ip}: {what}: address {bad} is outside the memory "
            f"(0 .. {size - 1})")


def max_memory(bits: int) -> int:
    """The largest memory an N-bit tape can address: 2^(N-1) cells (addresses are non-negative
    words). The card's width limit (looped/limits.py) applies on top."""
    return 1 << (bits - 1)


def check_bits(bits: int, loc: SourceLoc | None = None) -> None:
    if not MIN_TAPE_BITS <= bits <= MAX_BITS:
        raise AsmError(loc, f"word size {bits} is not supported for tapes (expected {MIN_TAPE_BITS} .. {MAX_BITS} bits)")


def check_memory_size(size: int, bits: int, loc: SourceLoc | None = None) -> None:
    limit = max_memory(bits)
    if size > limit:
        need = next((b for b in range(bits + 1, MAX_BITS + 1) if size <= max_memory(b)), None)
        hint = f"; use --bits {need} or more" if need else ""
        raise AsmError(loc, f"a memory of {size} cells does not fit {bits}-bit addresses "
                            f"(at most {limit} cells{hint})")


def parse_tape(text: str, file: str = "<tape>", bits: int = DEFAULT_BITS) -> TapeProgram:
    """The tape in `text`; AsmError (FILE:LINE:COL) for anything that is not an integer of the word
    size, or a tape too large for it."""
    check_bits(bits)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    values: list[int] = []
    first_loc = None
    if text.startswith("\ufeff"):  # a byte-order mark (editors that save "UTF-8 with BOM")
        text = text[1:]
    for number, line in enumerate(text.splitlines(), start=1):
        cut = min((i for i in (line.find("#"), line.find(";")) if i >= 0), default=len(line))
        empty = re.search(r"(?:^|,)\s*,", line[:cut])  # `1,,2`: a missing value between separators
        if empty:
            raise AsmError(SourceLoc(file, number, empty.end()),
                           "expected an integer before this comma (two separators with no value between)")
        for match in _TOKEN.finditer(line[:cut]):
            word, loc = match.group(), SourceLoc(file, number, match.start() + 1)
            if not re.fullmatch(r"[+-]?[0-9]+", word):
                bad = next((i for i, ch in enumerate(word) if "\udc80" <= ch <= "\udcff"), None)
                if bad is not None:  # a byte that is not UTF-8 (load_tape), outside a comment
                    raise AsmError(SourceLoc(file, number, match.start() + bad + 1),
                                   "not a text file (expected a tape of integers)")
                shown = word if len(word) <= 24 else word[:20] + "..."
                raise AsmError(loc, f"expected an integer, got '{shown}'")
            if len(word.lstrip("+-").lstrip("0")) > 20:  # far outside any word (int() refuses long strings)
                raise AsmError(loc, f"value {word[:20]}... does not fit in {bits}-bit words (expected {low} .. "
                                    f"{high}; see --bits)")
            value = int(word)
            if not low <= value <= high:
                raise AsmError(loc, f"value {value} does not fit in {bits}-bit words (expected {low} .. {high}; "
                                    f"see --bits)")
            values.append(value)
            first_loc = first_loc or loc
    if not values:
        raise AsmError(SourceLoc(file, 1, 1), "empty tape (expected integers separated by spaces or commas)")
    check_memory_size(len(values), bits, first_loc)
    return TapeProgram(memory=tuple(values), bits=bits, file=file)


def load_tape(path: str, bits: int = DEFAULT_BITS) -> TapeProgram:
    import os

    if not os.path.exists(path):
        raise AsmError(SourceLoc(path, 1, 1), "no such file (expected a tape of integers)")
    if os.path.isdir(path):
        raise AsmError(SourceLoc(path, 1, 1), "is a directory (expected a tape of integers)")
    with open(path, "rb") as f:
        raw = f.read()
    # Bytes that are not UTF-8 are kept as surrogate escapes: harmless in a comment (an old tape's
    # Latin-1 remark), "not a text file" at their place anywhere else (parse_tape).
    return parse_tape(raw.decode("utf-8", errors="surrogateescape"), path, bits)


def format_tape(values, comments: dict[int, str] | None = None, per_line: int = 3, header: str = "") -> str:
    """Tape text: `per_line` values a line, `# comment` after the line that starts at a commented
    address (`comments`: address -> text), `header` lines first."""
    comments = comments or {}
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []
    values = list(values)
    at = 0
    while at < len(values):
        stop = at + per_line
        for k in range(at + 1, min(stop, len(values))):  # a comment starts its own line
            if k in comments:
                stop = k
                break
        text = " ".join(str(v) for v in values[at:stop])
        lines.append(f"{text:<24} # {comments[at]}" if at in comments else text)
        at = stop
    return "\n".join(lines) + "\n"
