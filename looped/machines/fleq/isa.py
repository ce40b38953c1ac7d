"""FLEQ, the paper's general instruction, as a list of blocks: five layers.

    FLEQ(a, b, c, m, flag, p):  mem[c] = f_m(mem[a], mem[b]);  pc = p if mem[flag] <= 0 else pc + 1

Data cells hold reals directly in the state: a value of shape h x w spans w memory tokens, its
entries in the `val` rows (../shared/spec/fleq.md). The scratchpad is W *slot* tokens and one
*anchor* token. Slot token j handles column j of an operation: it holds the program counter (each
slot keeps its own copy; they stay identical), fetches the instruction, reads column j of each
operand and computes column j of the result, which the write puts into memory column c + j.
Pointers, the program counter and the function selector are ±1 / 0-1 codes; only the program
counter is corrected (the instruction fields are copied afresh each step and cleared).

    fetch      1 head    fetched <- the instruction at pc; slot j's pointers base + j by an adder
                         (looped/blocks/pointers.py: one base and a count per operand)
    operands   4 heads   opA <- A[:, j], opB <- B[:, j] (or B's one column on every slot; row-broadcast
                         when asked; zeros past an operand's count), flag <- [mem[flag] <= 0]
    function   2H+H+2+K  every function block on (opA, opB) side by side; result <- the selected one,
               heads     rows past the result's height zeroed (K = min(H, W))
    write      1 head    mem[c + j] <- result; pc <- flag ? p : pc + 1; clear the scratch rows
    correct    0 heads   snap pc to {-1, 0, +1}

The function layer's heads: `mul` 2 per row (H rows), `sigmoid` 1 per row, `matmul` 2,
`transpose` K. Its MLP holds the linear blocks (`add`, `sub`, `mov`), the fitted piecewise-linear
`recip` and `rsqrt`, and the read-outs of the attention blocks, each gated by its selector.

The state is float64: the products are read off a softmax in its linear regime, and float32
cannot resolve sigma(z) - 1/2 for the small z they need (looped/blocks/product.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from looped import blocks
from looped.blocks import (arith, faults, gates, matmul, pointers, product, pwl, pwl_constants, real, scaling, sigmoid,
                           subnormals, transpose)
from looped.machines.fleq.program import (FUNCTIONS, MAX_MAGNITUDE, MIN_MAGNITUDE, FleqProgram, to_json_value,
                                          unholdable)
from looped.machines.base import Card, InstructionSet
from looped.layers import Stack, layer
from looped.layout import Layout, Rows, RowAllocator, Zone, address_bits, bits_array, position_codes

# The inverse temperature: at the write's score gap of 1 (the smallest gap of any read or write),
# exp(-lam) underflows to exactly 0 in float64 (below 2^-1074 ~ 5e-324), so every read and write
# moves values exactly: integers stay integers, zeros stay zeros, whatever the card width.
LAMBDA = 800.0

# Gate of the memory overwrite: larger than |new - old| for any two values a slot may hold, a
# faulting block's result included (looped/blocks/gates.py).
OVERWRITE_GATE = 2.0**800

from looped.machines.fleq.faults import MATMUL_B_LIMIT  # noqa: E402  (matmul's domain: |B entries|)

# The attention blocks read clipped operands (real.move_clipped): sigmoid's is exact beyond
# +-1000 (sigma is 1 or 0 in float64 there), matmul's B beyond +-1e4 is outside its domain.
SIGMOID_CLIP = 1000.0
MATMUL_CLIP = 1.0e4


# looped/machines/base.py weight_bytes: heads with dense d x d value maps, and the bytes one MLP
# unit takes, sparse (its reads, writes and bias, and the plan's gathered copy).
DENSE_HEADS = 3
UNIT_BYTES = 512


def inverse_temperature(n: int) -> float:
    """lam = LAMBDA for every card width: the softmax of every read and write is an exact
    selection in float64 (the weights of the other keys underflow to 0)."""
    return LAMBDA


@functools.lru_cache(maxsize=1024)  # a batch encodes many programs of one shape (a frozen Layout)
def fleq_layout(slots: int, height: int, n: int, n_columns: int = 0, n_code: int = 0) -> Layout:
    """The FLEQ card: W = `slots` slot tokens, the anchor, `n_columns` memory tokens, `n_code`
    command tokens (the halt column included), then padding up to `n` tokens."""
    W, H, M = slots, height, len(FUNCTIONS)
    scratch = W + 1
    used = scratch + n_columns + n_code
    if n < used:
        raise ValueError(f"card of {n} tokens cannot hold {used}")
    L = address_bits(n)
    K = min(H, W)
    alloc = RowAllocator()
    # The instruction's fields: base pointers of a, b and c and their column counts (slot j uses
    # base + j while j < count: looped/blocks/pointers.py; `nb0` counts a b read by every slot
    # from its base), then the rest.
    scalar_fields = [("f", L), ("p", L), ("halt", L), ("fnoff", M), ("rowoff", H), ("bcast", 1), ("nbcast", 1),
                     ("flagslot", W), ("flagold", 1)]
    instr_fields = _packed([("a", L), ("b", L), ("c", L), ("na", 1), ("nb", 1), ("nb0", 1), ("nc", 1)]
                           + scalar_fields)
    instr_size = sum(size for _, _, size in instr_fields)
    alloc.add("instr", instr_size, instr_fields)
    alloc.add("val", H)
    # On memory tokens: 1 where the input held a subnormal, which the machine cannot hold (its val
    # is 0); reading the cell is a fault. A write clears it. `unheldread`: the marks a slot read.
    alloc.add("unheld", 1)
    alloc.add("unheldread", 1)
    alloc.add("pc", L)
    alloc.add("pos", L)
    alloc.add("slot", W)
    alloc.add("nslot", W)
    alloc.add("ind", 1)
    alloc.add("other", 1)
    alloc.add("anc", 1)
    alloc.add("slotnum", 1)  # j on slot token j
    alloc.add("minusslot", L)  # the code of -j mod 2^L on slot token j (the pointer adders' operand)
    # `off`: 1 on a slot past the destination's width (its result is not used); offa, offb, offb0:
    # past the count of a, b, b's broadcast read (the slot reads zeros).
    fetched_fields = _packed([("a", L), ("b", L), ("b0", L), ("c", L), ("off", 1), ("offa", 1), ("offb", 1),
                              ("offb0", 1)] + scalar_fields)
    alloc.add("fetched", sum(size for _, _, size in fetched_fields), fetched_fields)
    alloc.add("opA", H)
    alloc.add("opB", H)
    alloc.add("mulA", H)  # the operands clipped for the attention blocks' logits (real.move_clipped)
    alloc.add("mulB", H)
    alloc.add("sigA", H)
    alloc.add("matB", H)
    alloc.add("opApos", H)  # relu(opA) and relu(-opA), for the piecewise-linear blocks
    alloc.add("opAneg", H)
    alloc.add("flag", 1)  # [mem[flag] <= 0] before the write
    alloc.add("flagraw", 1)  # its exact decision's first stage (looped/blocks/exact.py)
    alloc.add("branch", 1)  # the flag the branch takes: after the write
    alloc.add("result", H)
    alloc.add("resultraw", 1)  # first stage of [result row 0 <= 0], for a flag the instruction writes
    alloc.add("expsteps", scaling.exponent_rows())  # exponent's thresholds (first stage)
    alloc.add("scalesteps", scaling.scale_rows())  # scale's indicators [b >= j]
    # Underflow checks (looped/blocks/subnormals.py): 2^537 |a +- b| for add and sub, 2^537 |a| for
    # scale (first stage), and one decision per row (the last: scale's), > 0 where one underflows.
    alloc.add("summagnitude", H)
    alloc.add("scalemagnitude", 1)
    alloc.add("tiny", H + 1)
    alloc.add("faultraw", 1)  # > 0 where a block's check failed (looped/blocks/faults.py)
    alloc.add("faultsum", 1)  # faultraw gathered over the slots
    alloc.add("fault", 1)  # 1 once the machine has faulted (kept: the card halts)
    alloc.add("faultpc", L)  # the faulting instruction's program counter
    alloc.add("carried", 1)  # on memory tokens: the fault the write carried
    alloc.add("kept", 1)  # on memory tokens: 1 but on the token the write addresses
    # One transient buffer, used by every layer in turn (each layer's MLP clears what it wrote).
    offsets = _packed([("mul", 2 * H), ("sigmoid", H), ("matmul", 2 * H), ("transpose", K * H)])
    buf = max(instr_size, 2 * H + 1, sum(size for _, _, size in offsets), H + 1)
    alloc.add("buf", buf, [("instr", 0, instr_size), ("A", 0, H), ("B", H, H), ("F", 2 * H, 1), ("write", 0, H),
                           ("written", H, 1)] + offsets)
    for name, offset, size in instr_fields:  # the instruction's fields inside the fetch buffer
        alloc.rows[f"buf.instr.{name}"] = alloc.rows["buf.instr"].part(name, offset, size)
    zones = {
        "scratch": Zone("scratch", 0, scratch),
        "slots": Zone("slots", 0, W),
        "anchor": Zone("anchor", W, scratch),
        "memory": Zone("memory", scratch, scratch + n_columns),
        "code": Zone("code", scratch + n_columns, used),
        "padding": Zone("padding", used, n),
    }
    return Layout(n=n, d=alloc.next, bits=0, addr_bits=L, rows=alloc.rows, zones=zones,
                  sizes={"slots": W, "height": H, "functions": M})


def _packed(sizes: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(name, offset, size) of consecutive parts."""
    out, at = [], 0
    for name, size in sizes:
        out.append((name, at, size))
        at += size
    return out


# The layout's row blocks that carry a card's state from one instruction to the next (Stack.state_rows).
STATE_ROWS = ("pc", "val", "unheld", "fault", "faultpc")


def fleq_stack(layout: Layout, lam: float) -> Stack:
    r, d = layout.rows, layout.d
    W, L = layout.sizes["slots"], layout.addr_bits
    select = {name: r["fetched.fnoff"].start + m for m, name in enumerate(FUNCTIONS)}
    opA, opB, out = r["opA"], r["opB"], r["result"]
    raw, expsteps, scalesteps = r["faultraw"].start, r["expsteps"], r["scalesteps"]
    active = faults.active(layout)
    fetch_fields = ("f", "p", "halt", "fnoff", "rowoff", "bcast", "nbcast", "flagslot", "flagold")
    fetched, minus = (lambda name: r[f"fetched.{name}"]), r["minusslot"]
    unheld = ((r["unheld"].start, r["unheldread"].start),)  # an operand read also reads its cell's mark
    only = lambda function, *parts: gates.only_where_selected(select[function], *parts)  # noqa: E731
    layers = (
        layer(
            "fetch",
            blocks.read(layout, r["pc"], r["instr"], r["buf.instr"], name="fetch"),
            # Slot j's pointers: base + j, and whether j is past each operand's count.
            *[pointers.add_slot_index(layout, r[f"buf.instr.{p}"], minus, fetched(p)) for p in "abc"],
            blocks.move(layout, r["buf.instr.b"], fetched("b0")),
            *[pointers.past_count(layout, r[f"buf.instr.{count}"].start, fetched(off).start)
              for count, off in (("na", "offa"), ("nb", "offb"), ("nb0", "offb0"), ("nc", "off"))],
            *[blocks.move(layout, r[f"buf.instr.{f}"], r[f"fetched.{f}"]) for f in fetch_fields],
            blocks.clear(layout, r["buf.instr"]),
            # The program counter the previous instruction's branch left (the fetch above read it
            # with a noise far below its margin), snapped back to {-1, 0, +1}.
            blocks.error_correction(layout, r["pc"], tokens="scratch"),
            d=d,
        ),
        layer(
            "operands",
            pointers.read_or_anchor(layout, lam, fetched("a"), fetched("offa").start, r["val"], r["buf.A"], "read a",
                                    also=unheld),
            pointers.read_or_anchor(layout, lam, fetched("b"), fetched("offb").start, r["val"], r["buf.B"], "read b",
                                    also=unheld),
            pointers.read_or_anchor(layout, lam, fetched("b0"), fetched("offb0").start, r["val"], r["buf.B"],
                                    "read b (every slot)", also=unheld),
            pointers.drop_pointer(layout, fetched("c"), fetched("off").start),
            blocks.read(layout, r["fetched.f"], r["val"].part("0", 0, 1), r["buf.F"], name="read flag",
                        also=((r["unheld"], r["unheldread"]),)),
            subnormals.read_unheld(layout, r["unheldread"], raw),
            faults.sign_raw(layout, r["buf.F"].start, r["flagraw"]),
            real.move(layout, r["buf.A"], opA),
            real.split_sign(layout, r["buf.A"], r["opApos"], r["opAneg"]),
            real.move_broadcast(layout, r["buf.B"], opB, r["fetched.bcast"].start, r["fetched.nbcast"].start),
            real.move_clipped(layout, r["buf.A"], r["mulA"], faults.MUL_OPERAND_LIMIT),
            real.move_clipped(layout, r["buf.B"], r["mulB"], faults.MUL_OPERAND_LIMIT, r["fetched.bcast"].start,
                              r["fetched.nbcast"].start),
            real.move_clipped(layout, r["buf.A"], r["sigA"], SIGMOID_CLIP),
            real.move_clipped(layout, r["buf.B"], r["matB"], MATMUL_CLIP, r["fetched.bcast"].start,
                              r["fetched.nbcast"].start),
            *only("exponent", scaling.exponent_stage1(layout, r["buf.A"].start, expsteps, select["exponent"])),
            *only("scale", scaling.scale_stage1(layout, r["buf.B"].start, scalesteps, select["scale"], raw, active)),
            subnormals.underflow_stage1(layout, r["buf.A"], r["buf.B"], r["summagnitude"],
                                        {select["add"]: 1.0, select["sub"]: -1.0}),
            *only("scale", subnormals.scale_underflow_stage1(layout, r["buf.A"].start, r["scalemagnitude"].start,
                                                             select["scale"])),
            blocks.clear(layout, r["buf.A"], r["buf.B"], r["buf.F"], r["unheldread"]),
            d=d,
        ),
        layer(
            "function",
            # Each block acts only where its function is selected (looped/layers.py skip_where): a
            # kernel may leave the unselected blocks out, bit for bit the same.
            *only("mul", product.heads(layout, lam, r["mulA"], r["mulB"], r["buf.mul"])),
            *only("sigmoid", sigmoid.heads(layout, lam, r["sigA"], r["buf.sigmoid"])),
            *only("matmul", matmul.heads(layout, lam, opA, r["matB"], r["buf.matmul"])),
            *only("transpose", transpose.heads(layout, lam, opA, r["buf.transpose"])),
            faults.le_zero(layout, r["flagraw"], r["flag"]),
            *only("add", arith.add(layout, opA, opB, out, select["add"])),
            *only("sub", arith.sub(layout, opA, opB, out, select["sub"])),
            *only("mov", arith.mov(layout, opA, out, select["mov"])),
            *only("mul", product.mlp(layout, r["buf.mul"], out, select["mul"])),
            *only("matmul", matmul.mlp(layout, r["buf.matmul"], out, select["matmul"])),
            *only("transpose", transpose.mlp(layout, opA, r["buf.transpose"], out, select["transpose"])),
            *only("recip", pwl.recip(layout, r["opApos"], r["opAneg"], out, select["recip"])),
            *only("rsqrt", pwl.rsqrt(layout, r["opApos"], out, select["rsqrt"])),
            *only("sigmoid", sigmoid.mlp(layout, r["buf.sigmoid"], out, select["sigmoid"])),
            *only("exponent", scaling.exponent(layout, expsteps, out, select["exponent"], raw, active)),
            *only("scale", scaling.scale(layout, opA, scalesteps, out, select["scale"], raw, active, MAX_MAGNITUDE)),
            # The blocks' domains: a check that fails makes `faultraw` positive.
            *only("add", faults.check_sum(layout, opA, opB, 1.0, select["add"], raw, MAX_MAGNITUDE)),
            *only("sub", faults.check_sum(layout, opA, opB, -1.0, select["sub"], raw, MAX_MAGNITUDE)),
            subnormals.check_underflow(layout, r["summagnitude"], r["tiny"].part("sum", 0, layout.sizes["height"]),
                                       MIN_MAGNITUDE),
            subnormals.check_scale_underflow(layout, r["scalemagnitude"].start,
                                             scaling.indicator_rows(scalesteps, range(-scaling.SCALE_RANGE, 0)),
                                             select["scale"], r["tiny"].stop - 1, MIN_MAGNITUDE),
            *only("mul", faults.check_product(layout, r["buf.mul"], opA, opB, select["mul"], raw)),
            *only("matmul", faults.check_matmul(layout, opB, r["buf.matmul"],
                                                matmul.normaliser(layout.n) / (2 * matmul.MATMUL_SCALE),
                                                matmul.shared_index(layout, opA), select["matmul"], raw, MATMUL_B_LIMIT,
                                                MAX_MAGNITUDE)),
            *only("recip", faults.check_recip(layout, opA, r["opApos"], r["opAneg"], select["recip"], raw,
                                              *pwl_constants.RECIP_DOMAIN)),
            *only("rsqrt", faults.check_rsqrt(layout, opA, select["rsqrt"], raw, *pwl_constants.RSQRT_DOMAIN)),
            blocks.clear(layout, r["buf.mul"], r["buf.sigmoid"], r["buf.matmul"], r["buf.transpose"], opA, opB,
                         r["opApos"], r["opAneg"], r["flagraw"], expsteps, scalesteps, r["mulA"], r["mulB"], r["sigA"],
                         r["matB"], r["summagnitude"], r["scalemagnitude"]),
            d=d,
        ),
        layer(
            "check",
            faults.gather(layout, lam, r["faultraw"], r["faultsum"], r["tiny"]),
            faults.raise_fault(layout, r["faultsum"], r["fault"]),
            faults.sign_raw(layout, out.start, r["resultraw"]),
            blocks.clear(layout, r["faultraw"], r["tiny"]),
            blocks.clear(layout, r["faultsum"], tokens="all"),
            d=d,
        ),
        layer(
            "write",
            faults.write(layout, r["fetched.c"], out, r["val"], r["buf.write"], r["fault"], r["carried"], r["kept"]),
            real.read_slot_result(layout, lam, r["fetched.flagslot"], r["resultraw"], r["buf.written"]),
            # The addressed value is erased here and the new one put in the next layer: exact for reals.
            faults.erase(layout, r["val"], r["carried"], r["kept"]),
            faults.erase(layout, r["unheld"], r["carried"], r["kept"]),
            faults.branch_flag(layout, r["flag"].start, r["buf.written"].start, r["fetched.flagold"].start,
                               r["fetched.flagslot"], r["fault"].start, r["branch"].start),
            faults.to_halt(layout, r["fetched.p"], r["fetched.halt"], r["pc"], r["faultpc"], r["fault"].start),
            blocks.clear(layout, r["flag"], r["buf.written"], out, r["resultraw"]),
            faults.clear_on_scratch(layout, r["buf.write"], r["carried"], r["kept"]),
            d=d,
        ),
        layer(
            "branch",
            blocks.branch(layout, r["pc"], r["fetched.p"], r["branch"]),
            faults.put(layout, r["buf.write"], r["val"], r["carried"], r["kept"]),
            blocks.clear(layout, r["buf.write"], r["carried"], r["kept"], tokens="all"),
            blocks.clear(layout, r["branch"], r["fetched"]),
            d=d,
        ),
    )
    # The health figure is taken where the program counter is snapped: on the fetch's input.
    # Between instructions a card's state is its program counter, memory (values and unheld marks)
    # and fault record; every other row a layer writes is cleared by the step that wrote it.
    state = tuple(int(f) for name in STATE_ROWS for f in r[name].indices)
    return Stack(layers=layers, corrected_rows=tuple(r["pc"].indices), health_before=0,
                 scratch_tokens=layout.zone("scratch").size, per_card=True, state_rows=state)



@functools.lru_cache(maxsize=4096)
def _code(token: int, L: int) -> np.ndarray:
    """One token's position code (read-only): an encoding writes the same few addresses into
    every instruction, and one numpy call per field was most of a card's encoding."""
    code = position_codes([int(token)], L)[0]
    code.flags.writeable = False
    return code


def constant_rows(layout: Layout) -> np.ndarray:
    """The state [n, d] every FLEQ card starts from before its program: positions, and the rows
    that tell slot tokens, the anchor and the other tokens apart."""
    r, n, W = layout.rows, layout.n, layout.sizes["slots"]
    X = np.zeros((n, layout.d))
    X[:, r["pos"].slice] = position_codes(np.arange(n), layout.addr_bits)
    X[: layout.zone("scratch").size, r["pos"].slice] = 0.0
    X[W:, r["other"].slice] = 1.0
    X[W, r["anc"].slice] = 1.0
    X[:W, r["ind"].slice] = 1.0
    nslot = np.ones((n, W))
    nslot[:W] = 1.0 - np.eye(W)
    nslot[W] = 0.0  # the anchor
    X[:, r["nslot"].slice] = nslot
    X[:W, r["slot"].slice] = np.eye(W)
    X[:W, r["slotnum"].start] = np.arange(W)
    X[:W, r["minusslot"].slice] = bits_array((-np.arange(W)) % (1 << layout.addr_bits), layout.addr_bits)
    return X


# ---- the instruction set object ---------------------------------------------------------------------


def operand_run(columns) -> tuple[int, ...]:
    """An operand's columns, checked to be consecutive (base, base + 1, ...): what a base pointer
    and a count express (looped/blocks/pointers.py)."""
    columns = tuple(columns)
    if columns and columns != tuple(range(columns[0], columns[0] + len(columns))):
        raise ValueError(f"operand columns {columns} are not consecutive")
    return columns


def b_operand(columns) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """B's columns as (consecutive columns, ()) or ((), one column read by every slot)."""
    columns = tuple(columns)
    if len(columns) > 1 and len(set(columns)) == 1:
        return (), columns
    return operand_run(columns), ()


def card_width(program: FleqProgram, slots: int) -> int:
    return slots + 1 + program.n_columns + len(program.code)


class Fleq(InstructionSet):
    """FLEQ on reals, vectors and matrices; machine key (n, W slots, H rows)."""

    name = "fleq"
    settings_syntax = "json"

    def machine_key(self, programs: Sequence[FleqProgram], n: int | None = None) -> tuple:
        # (the widest operand once per distinct code: cards of one program's `--sets` share theirs)
        W = max(p.slots for p in {id(p.code): p for p in programs}.values())
        H = max(p.height for p in programs)
        width = max(card_width(p, W) for p in programs)
        return (max(width, n or 0), W, H)

    def layout(self, key: tuple) -> Layout:
        n, W, H = key
        return fleq_layout(W, H, n)

    def stack(self, layout: Layout) -> Stack:
        return fleq_stack(layout, self.inverse_temperature(layout))

    def inverse_temperature(self, layout: Layout) -> float:
        return inverse_temperature(layout.n)

    def machine_size(self, layout: Layout) -> tuple[int, int, int]:
        """Heads: 3H + K + 10 (fleq_stack's table). Hidden units: a bound fitted on built stacks
        (the fitted recip and rsqrt and the checks per row, the transpose's K^2, the pointer
        adders' per address bit), between 0 and 25 % above for every W, H <= 32 measured."""
        W, H, L = layout.sizes["slots"], layout.sizes["height"], layout.addr_bits
        K = min(H, W)
        return 3 * H + K + 10, 2800 + 425 * H + 4 * K * K + 80 * L + 10 * W, max(L + 1, W + 2, K + 2)

    def weight_bytes(self, layout: Layout) -> int:
        """The weights as built: DENSE_HEADS heads (the fetch, the flag's read, the write) hold
        d x d value maps; the other heads (looped/blocks/heads.py) keep their value entries
        sparse but dense query/key maps [d, k], k <= W + 2; every MLP unit keeps its few reads
        and writes (at most UNIT_BYTES each, the kernel plan's copies included)."""
        heads, hidden, width = self.machine_size(layout)
        d, W = layout.d, layout.sizes["slots"]
        sparse_heads = max(heads - DENSE_HEADS, 0)
        return 8 * (DENSE_HEADS * (d * d + 2 * d * width) + sparse_heads * 2 * d * (W + 2)) + UNIT_BYTES * hidden

    def dtype(self, layout: Layout):
        return np.dtype(np.float64)

    def encode(self, programs: Sequence[FleqProgram], key: tuple) -> tuple[list[Card], np.ndarray]:
        n, W, H = key
        machine = fleq_layout(W, H, n)
        r, L, M = machine.rows, machine.addr_bits, len(FUNCTIONS)
        X = np.repeat(constant_rows(machine)[None], len(programs), axis=0)
        # Cards of one program (`--sets`: with_settings shares its code) differ only in their data:
        # they are encoded as a group, their instruction tokens once and copied, their memories in
        # one assignment (card by card, encoding was 17 ms a card, then 0.1 ms: 8 of a batch of 64
        # calculators' 75 ms).
        groups: dict[tuple, list[int]] = {}
        for i, program in enumerate(programs):
            same = (id(program.code), len(program.code), program.memory.shape, program.zero_col, program.halt_index)
            groups.setdefault(same, []).append(i)
        layouts = {}
        for members in groups.values():
            program = programs[members[0]]
            layout = fleq_layout(W, H, n, program.n_columns, len(program.code))
            layouts.update(dict.fromkeys(members, layout))
            mem0, code0 = layout.zone("memory").start, layout.zone("code").start
            rows = np.asarray(members)
            X[rows, :W, r["pc"].slice] = _code(code0, L)
            memory = np.stack([np.asarray(programs[i].memory, np.float64) for i in members])  # [g, h, columns]
            unheld = unholdable(memory)
            X[rows, mem0 : mem0 + program.n_columns, r["val"].start : r["val"].start + program.height] = \
                np.where(unheld, 0.0, memory).transpose(0, 2, 1)
            X[rows, mem0 : mem0 + program.n_columns, r["unheld"].start] = unheld.any(axis=1)
            first = members[0]
            for k, inst in enumerate(program.code):
                self._encode_instruction(X[first, code0 + k], r, L, W, H, M, inst, mem0, code0, program)
            X[rows[1:], code0 : code0 + len(program.code)] = X[first, code0 : code0 + len(program.code)]
        cards = [Card(program, layouts[i], X[i]) for i, program in enumerate(programs)]
        return cards, X

    @staticmethod
    def _encode_instruction(x, r, L, W, H, M, inst, mem0, code0, program) -> None:
        def base(columns, field):
            if columns:
                x[r[f"instr.{field}"].slice] = _code(mem0 + columns[0], L)

        a, (b, b_every), c = operand_run(inst.a_cols), b_operand(inst.b_cols), operand_run(inst.c_cols)
        base(a, "a")
        base(b or b_every, "b")
        base(c, "c")
        for field, columns in (("na", a), ("nb", b), ("nc", c)):
            x[r[f"instr.{field}"].start] = len(columns)
        x[r["instr.nb0"].start] = len(b_every)
        x[r["instr.f"].slice] = _code(mem0 + inst.flag_col, L)
        x[r["instr.halt"].slice] = _code(code0 + program.halt_index, L)
        x[r["instr.p"].slice] = _code(code0 + inst.p, L)
        x[r["instr.fnoff"].slice] = [0.0 if name == inst.fn else 1.0 for name in FUNCTIONS]
        x[r["instr.rowoff"].slice] = [0.0 if i < inst.c_height else 1.0 for i in range(H)]
        x[r["instr.bcast"].start] = 1.0 if inst.b_rows_broadcast else 0.0
        x[r["instr.nbcast"].start] = 0.0 if inst.b_rows_broadcast else 1.0
        # The branch tests the flag cell after the write: when the instruction writes it (as column
        # j of c), slot j's result is the new value.
        written = [j for j, col in enumerate(inst.c_cols) if col == inst.flag_col]
        if written:
            x[r["instr.flagslot"].start + written[0]] = 1.0
        else:
            x[r["instr.flagold"].start] = 1.0

    def decode_memory(self, cards: Sequence[Card], X: np.ndarray) -> list[np.ndarray]:
        out = []
        for i, card in enumerate(cards):
            program, layout = card.program, card.layout
            mem0, val = layout.zone("memory").start, layout["val"]
            memory = np.asarray(X[i, mem0 : mem0 + program.n_columns, val.start : val.start + program.height]).T.copy()
            # (a cell still marked was never written: it holds its input, which the machine held as 0)
            marked = np.asarray(X[i, mem0 : mem0 + program.n_columns, layout["unheld"].start]) > 0.5
            memory[:, marked] = np.asarray(program.memory, np.float64)[:, marked]
            out.append(memory)
        return out

    def decode_faults(self, cards: Sequence[Card], X: np.ndarray, memories: Sequence, steps: Sequence[int]) -> list:
        """The fault row of slot 0 (exactly 0 or 1) and, where it is set, the faulting program
        counter the layers kept; the report describes the instruction there."""
        from looped.machines.fleq.faults import describe
        from looped.layout import decode_unsigned

        out = []
        for i, card in enumerate(cards):
            layout = card.layout
            if float(X[i, 0, layout["fault"].start]) < 0.5:
                out.append(None)
                continue
            token = int(decode_unsigned(np.asarray(X[i, 0, layout["faultpc"].slice])))
            pc = token - layout.zone("code").start
            out.append(describe(card.program, memories[i], pc, int(steps[i])))
        return out

    def trace_observer(self, layout: Layout):
        return ValueObserver(layout["val"].slice)

    def decode_observed(self, cards: Sequence[Card], observed) -> list[np.ndarray]:
        values = np.asarray(observed)  # [T, B, n, H]
        out = []
        for i, card in enumerate(cards):
            mem0 = card.layout.zone("memory").start
            block = values[:, i, mem0 : mem0 + card.program.n_columns, : card.program.height]
            out.append(np.swapaxes(block, 1, 2))  # [T, h, columns]
        return out

    def oracle_step(self, program: FleqProgram, memory: np.ndarray, pc: int) -> int:
        from looped.machines.fleq import oracle as fleq_oracle

        return fleq_oracle.step(program, memory, pc)

    def format_program(self, program: FleqProgram) -> str:
        from looped.machines.fleq.disasm import format_fleq_program

        return format_fleq_program(program)

    def read_card(self, X, layout: dict, file: str) -> FleqProgram:
        from looped.machines.fleq.disasm import program_from_card

        return program_from_card(X, layout, file)

    def card_header(self, X, layout: dict, file: str) -> str:
        return f"; {file}: {layout['n']} columns x {layout['d']} rows, FLEQ, float{X.dtype.itemsize * 8}\n"

    def cell_names(self, program: FleqProgram) -> list[str]:
        names = [f"#{c}" for c in range(program.n_columns)]
        for name, value in program.values.items():
            for k in value.columns:
                names[k] = name if value.shape[1] == 1 else f"{name}+{k - value.offset}"
        return names

    def changed(self, program: FleqProgram, names: Sequence[str], before, after) -> dict:
        out = {}
        for name, value in program.values.items():
            if value.kind == "const":
                continue
            old, new = program.value_of(before, name), program.value_of(after, name)
            if not np.array_equal(old, new):
                out[name] = to_json_value(new, value.shape)
        return out

    def format_instruction(self, program: FleqProgram, inst, names: Sequence[str]) -> str:
        def operand(columns):
            if not columns:
                return "_"
            first = names[columns[0]]
            return first.split("+")[0] if len(set(columns)) > 1 else first

        target = "halt" if inst.p == program.halt_index else str(inst.p)
        for label, index in program.code_labels.items():
            if index == inst.p and inst.p != program.halt_index:
                target = label
                break
        return (f"fleq {inst.fn}, {operand(inst.c_cols)}, {operand(inst.a_cols)}, {operand(inst.b_cols)}, "
                f"{names[inst.flag_col]}, {target}")

    def layout_json(self, card: Card) -> dict:
        """The exported machine's `layout` (fleq.md): rows, pc, halt and every value's place."""
        program, layout = card.program, card.layout
        mem0, val = layout.zone("memory").start, layout["val"]
        return {
            **layout.to_json(),
            "isa": "fleq",
            "pc_token": self.pc_token,
            "halt_pc": card.halt_token,
            "zero_col": program.zero_col,
            "one_col": program.one_col,
            "values": {name: {"token": mem0 + v.offset, "rows": [val.start, val.start + v.shape[0]],
                              "shape": list(v.shape), "kind": v.kind}
                       for name, v in program.values.items()},
            "code_labels": {name: layout.zone("code").start + i for name, i in program.code_labels.items()},
            "source": [{"token": card.code_token(k), "loc": str(inst.loc) if inst.loc else None, "text": inst.source}
                       for k, inst in enumerate(program.code)],
        }


@dataclass(frozen=True)
class ValueObserver:
    """What a FLEQ trace records after each step: every token's value rows."""

    val_rows: slice

    def __call__(self, X):
        return X[:, :, self.val_rows]

    def __hash__(self):
        return hash((self.val_rows.start, self.val_rows.stop))


FLEQ = Fleq()
