"""The punch card's layout: named row blocks (features) and column zones (tokens).

The state X has shape [n, d]: token t is row t of X (column t of the punch card) and holds d
features. Every feature index used anywhere in the project comes from a `Layout`: blocks ask for
`layout["mem"]`, never for a bare number. Values are stored as ±1 bits, most significant first.

SUBLEQ row blocks (L = address bits = ceil(log2 n), N = word bits):

| block        | size      | where it is non-zero | meaning                                         |
|--------------|-----------|----------------------|-------------------------------------------------|
| instr.a/b/c  | L each    | code tokens          | the instruction's operand addresses p_a, p_b, p_c |
| mem          | N         | memory tokens        | the cell's value, two's complement              |
| pc           | L         | scratch token        | program counter (a token address)               |
| pos          | L         | all but token 0      | the token's own address p_t                     |
| fetched.a/b/c| L each    | scratch token        | the current instruction, copied in by the fetch |
| diff         | N         | scratch token        | mem[b] - mem[a], before it is written back      |
| flag         | 1         | scratch token        | 1 when the new mem[b] <= 0                      |
| buf          | max(3L,2N)| transient            | attention writes here; the same layer clears it |
| ind          | 1         | scratch token        | the scratchpad indicator (stands in for biases) |

Between instructions every scratch block except `pc` is exactly zero.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Rows:
    """A named, contiguous block of feature rows. Bit 0 of a word is its *last* row (MSB first)."""

    name: str
    start: int
    size: int

    @property
    def stop(self) -> int:
        return self.start + self.size

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)

    @property
    def indices(self) -> range:
        return range(self.start, self.stop)

    def bit(self, j: int) -> int:
        """Row of bit j, counted from the least significant bit (j = 0)."""
        if not 0 <= j < self.size:
            raise IndexError(f"bit {j} outside block {self.name} of {self.size} rows")
        return self.stop - 1 - j

    def part(self, name: str, offset: int, size: int) -> "Rows":
        if offset < 0 or offset + size > self.size:
            raise ValueError(f"{name} does not fit in block {self.name}")
        return Rows(f"{self.name}.{name}", self.start + offset, size)


@dataclass(frozen=True)
class Zone:
    """A contiguous range of tokens (punch-card columns)."""

    name: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Layout:
    n: int  # tokens (card width)
    d: int  # features per token
    bits: int  # N, the word size
    addr_bits: int  # L, the positional-code length
    rows: dict[str, Rows] = field(repr=False)
    zones: dict[str, Zone] = field(repr=False)
    sizes: dict[str, int] = field(default_factory=dict)  # an instruction set's own dimensions

    def __getitem__(self, name: str) -> Rows:
        return self.rows[name]

    def zone(self, name: str) -> Zone:
        return self.zones[name]

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "d": self.d,
            "bits": self.bits,
            "addr_bits": self.addr_bits,
            "rows": {name: [r.start, r.stop] for name, r in self.rows.items()},
            "zones": {name: [z.start, z.stop] for name, z in self.zones.items()},
            **({"sizes": dict(self.sizes)} if self.sizes else {}),
        }


def address_bits(n: int) -> int:
    """L: bits of a token address, ceil(log2 n), at least 2 (the read margin needs L >= 2)."""
    return max(2, math.ceil(math.log2(max(n, 2))))


class RowAllocator:
    def __init__(self) -> None:
        self.rows: dict[str, Rows] = {}
        self.next = 0

    def add(self, name: str, size: int, parts: list[tuple[str, int, int]] = ()) -> Rows:
        block = Rows(name, self.next, size)
        self.rows[name] = block
        for part_name, offset, part_size in parts:
            self.rows[f"{name}.{part_name}"] = block.part(part_name, offset, part_size)
        self.next += size
        return block


@functools.lru_cache(maxsize=1024)  # a batch encodes many programs of one shape
def subleq_layout(n_memory: int, n_code: int, bits: int, n: int | None = None) -> Layout:
    """The SUBLEQ card: 1 scratch token, `n_memory` memory tokens, `n_code` command tokens (the
    halt column included), then padding up to `n` tokens (default: no padding)."""
    used = 1 + n_memory + n_code
    n = used if n is None else n
    if n < used:
        raise ValueError(f"card of {n} tokens cannot hold {used}")
    L, N = address_bits(n), bits
    fields = [("a", 0, L), ("b", L, L), ("c", 2 * L, L)]
    alloc = RowAllocator()
    alloc.add("instr", 3 * L, fields)
    alloc.add("mem", N)
    alloc.add("pc", L)
    alloc.add("pos", L)
    alloc.add("fetched", 3 * L, fields)
    alloc.add("diff", N)
    alloc.add("flag", 1)
    buf = max(3 * L, 2 * N)
    alloc.add("buf", buf, [("instr", 0, 3 * L), ("a", 0, N), ("b", N, N), ("write", 0, N)])
    alloc.add("ind", 1)
    zones = {
        "scratch": Zone("scratch", 0, 1),
        "memory": Zone("memory", 1, 1 + n_memory),
        "code": Zone("code", 1 + n_memory, used),
        "padding": Zone("padding", used, n),
    }
    return Layout(n=n, d=alloc.next, bits=N, addr_bits=L, rows=alloc.rows, zones=zones)


# ---- ±1 codes -----------------------------------------------------------------------------------


def bits_of(value: int, width: int) -> np.ndarray:
    """`value` modulo 2^width as ±1 bits, most significant first."""
    value &= (1 << width) - 1
    return np.array([1.0 if (value >> (width - 1 - i)) & 1 else -1.0 for i in range(width)])


def bits_array(values, width: int) -> np.ndarray:
    """bits_of for many values at once: [len(values), width]."""
    values = np.asarray(values, dtype=np.int64) & ((1 << width) - 1)
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    return np.where((values[:, None] >> shifts) & 1, 1.0, -1.0)


def position_codes(tokens, L: int) -> np.ndarray:
    """position_code for many tokens at once: [len(tokens), L]."""
    tokens = np.asarray(tokens, dtype=np.int64)
    return np.where(tokens[:, None] == 0, 0.0, bits_array(tokens, L))


def position_code(token: int, L: int) -> np.ndarray:
    """p_t: the ±1 binary code of token t. Token 0 gets the zero vector: it has no address of its
    own, so in the read heads its key is exactly the pointer it holds."""
    return np.zeros(L) if token == 0 else bits_of(token, L)


def decode_unsigned(bits: np.ndarray) -> np.ndarray:
    """±1 bits (last axis, MSB first) -> non-negative integers, rounding each bit by its sign."""
    ones = (np.asarray(bits) > 0).astype(np.int64)
    weights = 1 << np.arange(ones.shape[-1] - 1, -1, -1, dtype=np.int64)
    return ones @ weights


def decode_signed(bits: np.ndarray) -> np.ndarray:
    """±1 bits (last axis, MSB first) -> two's-complement integers."""
    width = np.asarray(bits).shape[-1]
    unsigned = decode_unsigned(bits)
    return np.where(unsigned >= (1 << (width - 1)), unsigned - (1 << width), unsigned)


def wrap(value: int, bits: int) -> int:
    """`value` modulo 2^bits, as a two's-complement integer."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value
