"""The instruction-set interface: what an instruction set owns, bundled in one object.

An instruction set (SUBLEQ, FLEQ, ...) owns

* its **layout**: the named row blocks and column zones of its punch card, for a machine shape;
* its **stack**: the layers of one instruction, built from blocks (looped/blocks/);
* its **card encoding and decoding**: programs -> initial states, final states -> memory;
* its **λ rule** and **dtype**: derived from the machine shape, never tuned per program;
* its **oracle step**: the plain interpreter the tests compare with;
* its **printer**: one instruction as source text.

The runner (looped/runner.py) and the kernels (kernels/) know none of this: the engine asks the
instruction set for a stack, a card batch, where the program counter lives and how to decode the
result. A *machine key* is a hashable tuple that fixes the weights (for SUBLEQ: card width and
word size); every program with the same key runs on the same machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from looped.layers import Stack
from looped.layout import Layout


@dataclass(frozen=True)
class Card:
    """One program on its punch card: the initial state X [n, d] (float64; the engine casts it)."""

    program: Any
    layout: Layout
    X: np.ndarray

    @property
    def halt_token(self) -> int:
        return self.layout.zone("code").start + self.program.halt_index

    def memory_token(self, cell: int) -> int:
        return self.layout.zone("memory").start + cell

    def code_token(self, index: int) -> int:
        return self.layout.zone("code").start + index


class InstructionSet:
    """The interface; see looped/machines/subleq/isa.py and looped/machines/fleq/isa.py for the two sets."""

    name: str = ""
    settings_syntax: str = "integers"  # how `--set NAME=VALUE` values are read: "integers" or "json"
    pc_token: int = 0  # the scratch token whose `pc` rows the runner decodes (the scratch zone's first)

    # -- machine shape -------------------------------------------------------------------------
    def machine_key(self, programs: Sequence, n: int | None = None) -> tuple:
        """The machine that runs these programs as one batch (cards padded to one width, at least
        `n` when given). Raises LoopedError when they cannot share one."""
        raise NotImplementedError

    def layout(self, key: tuple) -> Layout:
        """The machine's layout (no program zones: the weights depend on the key only)."""
        raise NotImplementedError

    def stack(self, layout: Layout) -> Stack:
        raise NotImplementedError

    def inverse_temperature(self, layout: Layout) -> float:
        raise NotImplementedError

    def dtype(self, layout: Layout):
        """The state's dtype (a numpy dtype); no side effects (looped/precision.py's `use` switches JAX)."""
        raise NotImplementedError

    # -- cards -----------------------------------------------------------------------------------
    def encode(self, programs: Sequence, key: tuple) -> tuple[list[Card], np.ndarray]:
        """The programs' cards on the machine `key` and their states stacked [B, n, d]."""
        raise NotImplementedError

    def decode_memory(self, cards: Sequence[Card], X: np.ndarray) -> list:
        """Each card's final memory from the states X [B, n, d] (what `program.outputs` takes)."""
        raise NotImplementedError

    def trace_observer(self, layout: Layout) -> Callable:
        """A hashable function of the batch X [B, n, d] (jnp) recording what a trace keeps per step."""
        raise NotImplementedError

    def decode_observed(self, cards: Sequence[Card], observed) -> list:
        """Per card, the memory after each traced step: a list over cards of [T, ...] arrays."""
        raise NotImplementedError

    def decode_pc(self, layout: Layout, X: np.ndarray) -> np.ndarray:
        """The program counter (a token index) of state(s) X [..., n, d]."""
        from looped.layout import decode_unsigned

        assert self.pc_token == layout.zone("scratch").start
        return decode_unsigned(np.asarray(X)[..., self.pc_token, layout["pc"].slice])

    def machine_size(self, layout: Layout) -> tuple[int, int, int]:
        """(attention heads, MLP hidden units, widest query/key map) of the machine on `layout`,
        estimated without building it (looped/memory_guard.py). The default is a generous bound
        for small machines; an instruction set whose size grows with its programs states its own."""
        return 8, 8 * layout.d, layout.d

    def weight_bytes(self, layout: Layout) -> int | None:
        """Bytes of one copy of the machine's weights as it is built, for an instruction set that
        keeps most of them sparse (looped/layers.py SparseValueHead, UnitsMLP); None: every head and
        MLP dense, as looped/memory_guard.py counts them from machine_size."""
        return None

    def decode_faults(self, cards: Sequence[Card], X: np.ndarray, memories: Sequence, steps: Sequence[int]) -> list:
        """Per card, the fault its machine reported (a dict: step, loc, block, value, message), or
        None. Only machines whose layers detect faults have any (FLEQ: looped/blocks/faults.py)."""
        return [None] * len(cards)

    # -- oracle and printing ---------------------------------------------------------------------
    def oracle_step(self, program, memory, pc: int) -> int:
        """Execute the instruction at `pc` on `memory` in place (the plain interpreter); next pc."""
        raise NotImplementedError

    def format_instruction(self, program, inst, names: Sequence[str]) -> str:
        """One instruction as source text, memory columns named by `names`."""
        raise NotImplementedError

    def changed(self, program, names: Sequence[str], before, after) -> dict:
        """The cells an instruction changed, {name: new value} (for `looped trace`)."""
        raise NotImplementedError

    def cell_names(self, program) -> list[str]:
        """A name for every memory cell (column): `label`, or `label+k` inside an array."""
        raise NotImplementedError

    def format_program(self, program) -> str:
        """The whole program as readable source (`looped disasm`)."""
        raise NotImplementedError

    def check_runnable(self, program) -> None:
        """Raise a located LoopedError when `program`, although assembled, is no program to run."""

    def read_card(self, X, layout: dict, file: str):
        """The program on an exported card (X and its layout JSON, looped/export.py)."""
        raise NotImplementedError

    def card_header(self, X, layout: dict, file: str) -> str:
        """A comment line to put above the listing of an exported card (may be empty)."""
        return ""
