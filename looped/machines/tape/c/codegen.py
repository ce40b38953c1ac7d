"""The back end: IR (ir.py) -> symbolic SUBLEQ (link.Ins), then words (link.py).

Conventions (docs/c.md):
* `Z` is a cell that is always 0 between two instructions' uses; `NRV` holds minus the value a
  function returned; cell 3 (`EXIT`) gets main's value when the program halts.
* Every function has a static frame: its parameters, locals and temporaries are fixed cells, so
  values stay in place and `x += y` is one instruction. A call writes the arguments into the
  callee's parameter cells, patches the C cell of the callee's return jump with the return
  address and jumps. Only a call inside a cycle of the call graph (recursion) saves the caller's
  frame on the stack first (self-modifying pushes and pops through `NSP` = minus the stack pointer).
* Pointers are cell addresses: `*p` patches an operand of the instruction that reads or writes.
* Zero temporaries are 0 whenever free (they accumulate negated values); value temporaries hold
  anything.
"""

from __future__ import annotations

from looped.errors import AsmError
from looped.machines.tape.c import ir
from looped.machines.tape.c.frontend import RUNTIME_OPS
from looped.machines.tape.c.link import (Ins, address_label, constant_label, link,
                                         neg_address_label)

Z, NRV, NSP, EXIT = "Z", "NRV", "NSP", "EXIT"
EXIT_ADDRESS = 3
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
INT_MIN = -(1 << 31)


def k(value: int) -> str:
    """The constant cell holding `value`, wrapped to the 32-bit word (-INT_MIN is INT_MIN)."""
    value %= 1 << 32
    return constant_label(value - (1 << 32) if value >= 1 << 31 else value)


class FunctionGen:
    def __init__(self, program: "ProgramGen", fn: ir.Function):
        self.p, self.fn = program, fn
        self.out: list = []
        self.deferred: list = []
        self.loc = fn.loc
        self.value_free: list[str] = []
        self.zero_free: list[str] = []
        self.in_use: list[str] = []
        self.all_temps: list[str] = []
        self.dirty: set[str] = set()  # temporaries in use that hold a value (zero ones: not 0)
        self.loops: list[tuple[str, str]] = []
        self.ret_label = f"{fn.name}.ret"

    # ---- emission -----------------------------------------------------------------------------

    def ins(self, a, b, c=None):
        self.out.append(Ins(a, b, c, self.loc))
        if isinstance(b, str) and b in self.in_use:  # liveness of temporaries (frame_cells)
            if a == b and ".z" in b:
                self.dirty.discard(b)  # a zero temporary cleared: 0 again
            else:
                self.dirty.add(b)

    def label(self, name: str):
        self.out.append(name)

    def new_label(self, hint="L") -> str:
        return self.p.new_label(hint)

    def goto(self, target: str):
        self.ins(Z, Z, target)

    def clear(self, cell):
        self.ins(cell, cell)

    def patched(self, hint="P") -> str:
        """A label for the next instruction, whose operands will be patched."""
        name = self.new_label(hint)
        self.label(name)
        return name

    # ---- temporaries --------------------------------------------------------------------------

    def value_temp(self) -> str:
        return self._take(self.value_free, "t")

    def zero_temp(self) -> str:
        return self._take(self.zero_free, "z")

    def _take(self, pool, kind) -> str:
        cell = pool.pop() if pool else self._new_temp(kind)
        self.in_use.append(cell)
        self.dirty.discard(cell)
        return cell

    def _new_temp(self, kind) -> str:
        cell = f"{self.fn.name}.{kind}{len(self.all_temps)}"
        self.all_temps.append(cell)
        return cell

    def free(self, cell):
        if cell is None:
            return
        self.in_use.remove(cell)
        (self.zero_free if ".z" in cell else self.value_free).append(cell)

    # ---- cells of simple expressions ----------------------------------------------------------

    def direct_cell(self, e):
        """The cell holding e's value without any code, or None."""
        if isinstance(e, ir.Const):
            return k(e.value)
        if isinstance(e, ir.Var):
            return e.sym.label
        if isinstance(e, ir.AddrOf):
            return address_label(e.sym.label)
        if isinstance(e, ir.Load):
            return self.static_element(e.addr)
        return None

    def static_element(self, addr):
        """The cell of *(array + constant) when the array is static: no patching needed."""
        if isinstance(addr, ir.AddrOf):
            return addr.sym.label
        if (isinstance(addr, ir.Binary) and addr.op in "+-" and isinstance(addr.a, ir.AddrOf)
                and isinstance(addr.b, ir.Const)):
            offset = addr.b.value if addr.op == "+" else -addr.b.value
            return (addr.a.sym.label, offset)
        return None

    def value_cell(self, e):
        """(cell, temp to free or None) holding e's value."""
        cell = self.direct_cell(e)
        if cell is not None:
            return cell, None
        if isinstance(e, ir.Assign) and isinstance(e.target, ir.Var):
            self.assignment(e)
            return e.target.sym.label, None
        t = self.value_temp()
        self.assign(t, e)
        return t, t

    # ---- dst -= e, dst += e, dst = e ---------------------------------------------------------

    def sub_into(self, e, dst):
        """mem[dst] -= e (dst must not be read by e)."""
        cell = self.direct_cell(e)
        if cell is not None:
            self.ins(cell, dst)
        elif isinstance(e, ir.Unary) and e.op == "-":
            self.add_into(e.a, dst)
        elif isinstance(e, ir.Binary) and e.op == "+":
            self.sub_into(e.a, dst)
            self.sub_into(e.b, dst)
        elif isinstance(e, ir.Binary) and e.op == "-":
            self.sub_into(e.a, dst)
            self.add_into(e.b, dst)
        elif isinstance(e, ir.Load):
            self.load_operand(e.addr)
            self.ins(0, dst)
        elif isinstance(e, ir.Seq):
            for item in e.items[:-1]:
                self.effect(item)
            self.sub_into(e.items[-1], dst)
        else:
            cell, temp = self.value_cell(e)
            self.ins(cell, dst)
            self.free(temp)

    def add_into(self, e, dst):
        """mem[dst] += e (dst must not be read by e)."""
        if isinstance(e, ir.Const):
            self.ins(k(-e.value), dst)
        elif isinstance(e, ir.Unary) and e.op == "-":
            self.sub_into(e.a, dst)
        elif isinstance(e, ir.Call) or self.runtime_call(e) is not None:
            self.call(self.runtime_call(e) or e)
            self.ins(NRV, dst)
        else:
            s = self.zero_temp()
            self.sub_into(e, s)
            self.ins(s, dst)
            self.clear(s)
            self.free(s)

    def assign(self, dst, e):
        """mem[dst] = e for a scalar cell dst."""
        if isinstance(e, ir.Call) or self.runtime_call(e) is not None:
            self.call(self.runtime_call(e) or e)
            self.clear(dst)
            self.ins(NRV, dst)
            return
        if _doubles_in_place(e, dst, self):
            shifts = (e.a.value if isinstance(e.a, ir.Const) else e.b.value).bit_length() - 1
            for _ in range(shifts):  # dst *= 2^k: k doublings in place
                self.ins(dst, Z)
                self.ins(Z, dst)
                self.clear(Z)
            return
        if self.reads(e, dst):
            if isinstance(e, ir.Binary) and e.op in "+-" and self.is_cell(e.a, dst) and not self.reads(e.b, dst):
                (self.add_into if e.op == "+" else self.sub_into)(e.b, dst)
            elif isinstance(e, ir.Binary) and e.op == "+" and self.is_cell(e.b, dst) and not self.reads(e.a, dst):
                self.add_into(e.a, dst)
            elif self.is_cell(e, dst):
                pass
            else:
                s = self.zero_temp()
                self.sub_into(e, s)
                self.clear(dst)
                self.ins(s, dst)
                self.clear(s)
                self.free(s)
            return
        if isinstance(e, ir.GetChar):
            self.ins(-1, dst)
        elif isinstance(e, ir.Call) or self.runtime_call(e) is not None:
            self.call(self.runtime_call(e) or e)
            self.clear(dst)
            self.ins(NRV, dst)
        elif isinstance(e, (ir.Logical,)) or (isinstance(e, ir.Binary) and e.op in COMPARISONS) or (
                isinstance(e, ir.Unary) and e.op == "!"):
            yes, no = self.new_label("T"), self.new_label("F")
            self.clear(dst)
            self.branch(e, yes, no, yes)
            self.label(yes)
            self.ins(k(-1), dst)
            self.label(no)
        elif isinstance(e, ir.Cond):
            first, second, end = self.new_label("Ca"), self.new_label("Cb"), self.new_label("Ce")
            self.branch(e.cond, first, second, first)
            self.label(first)
            self.assign(dst, e.a)
            self.goto(end)
            self.label(second)
            self.assign(dst, e.b)
            self.label(end)
        elif isinstance(e, ir.Unary) and e.op == "~":
            self.clear(dst)
            self.sub_into(e.a, dst)
            self.ins(k(1), dst)  # ~a = -a - 1
        elif isinstance(e, ir.Binary) and e.op == "*" and (isinstance(e.a, ir.Const) or isinstance(e.b, ir.Const)):
            self.multiply_constant(dst, e)
        elif isinstance(e, (ir.Assign, ir.IncDec)):
            cell = self.assignment(e)
            if cell != dst:
                self.clear(dst)
                self.add_into(_cell_expr(e, cell), dst)
            if cell in self.in_use:
                self.free(cell)
        elif isinstance(e, ir.Seq):
            for item in e.items[:-1]:
                self.effect(item)
            self.assign(dst, e.items[-1])
        else:
            self.clear(dst)
            if isinstance(e, ir.Const):
                self.ins(k(-e.value), dst)
            elif isinstance(e, ir.Unary) and e.op == "-":
                self.sub_into(e.a, dst)
            elif isinstance(e, ir.Load) and self.direct_cell(e) is None:
                self.load_operand(e.addr)
                self.ins(0, Z)
                self.ins(Z, dst)
                self.clear(Z)
            elif _contains_call(e):  # dst is written only after the calls (it is not live across them)
                self.out.pop()  # the clear above, moved after the evaluation
                s = self.zero_temp()
                self.sub_into(e, s)
                self.clear(dst)
                self.ins(s, dst)
                self.clear(s)
                self.free(s)
            else:
                self.add_into(e, dst)

    def is_cell(self, e, cell) -> bool:
        return self.direct_cell(e) == cell and not isinstance(e, ir.Const)

    def reads(self, e, cell) -> bool:
        """Might evaluating e read or write `cell`? (conservative)"""
        sym = self.p.symbol_of(cell)
        return _reads(e, cell, sym)

    def multiply_constant(self, dst, e):
        """dst = x * c by doublings and additions (a runtime call for large c)."""
        x, c = (e.b, e.a.value) if isinstance(e.a, ir.Const) else (e.a, e.b.value)
        magnitude = abs(c)
        if magnitude > 1 << 12 or c == INT_MIN:
            self.call(ir.Call(e.loc, "__mul", [x, ir.Const(e.loc, c)]))
            self.clear(dst)
            self.ins(NRV, dst)
            return
        cell, temp = self.value_cell(x)
        if cell == dst:  # dst = dst * c: work on a copy
            copy = self.value_temp()
            self.assign(copy, x)
            cell, temp = copy, copy
        negative = self.zero_temp()
        self.ins(cell, negative)  # negative = -x
        self.clear(dst)
        started = False
        for bit in bin(magnitude)[2:]:
            if started:
                self.ins(dst, Z)
                self.ins(Z, dst)
                self.clear(Z)
            if bit == "1":
                self.ins(negative if c > 0 else cell, dst)
                started = True
        self.clear(negative)
        self.free(negative)
        self.free(temp)

    # ---- loads and stores through pointers ----------------------------------------------------

    def load_operand(self, addr) -> str:
        """Emit the patch that makes the next instruction's A cell the address `addr`; returns that
        instruction's label (the caller emits it next)."""
        static = self.static_element(addr)
        if static is not None:
            raise AssertionError("static element reached load_operand")
        s = self.zero_temp()
        self.sub_into(addr, s)
        op = self.new_label("ld")
        self.clear((op, 0))
        self.ins(s, (op, 0))
        self.clear(s)
        self.free(s)
        self.label(op)
        return op

    def store(self, addr, value_neg_cell):
        """mem[addr] = -mem[value_neg_cell] (the cell holds minus the value)."""
        static = self.static_element(addr)
        if static is not None:
            self.clear(static)
            self.ins(value_neg_cell, static)
            return
        s = self.zero_temp()
        self.sub_into(addr, s)
        first, second = self.new_label("st"), self.new_label("st")
        for cell in ((first, 0), (first, 1), (second, 1)):
            self.clear(cell)
            self.ins(s, cell)
        self.clear(s)
        self.free(s)
        self.label(first)
        self.ins(0, 0)
        self.label(second)
        self.ins(value_neg_cell, 0)

    def add_through(self, addr, neg_cell):
        """mem[addr] -= mem[neg_cell] (one patched operand)."""
        static = self.static_element(addr)
        if static is not None:
            self.ins(neg_cell, static)
            return
        s = self.zero_temp()
        self.sub_into(addr, s)
        op = self.new_label("ad")
        self.clear((op, 1))
        self.ins(s, (op, 1))
        self.clear(s)
        self.free(s)
        self.label(op)
        self.ins(neg_cell, 0)

    # ---- assignments --------------------------------------------------------------------------

    def assignment(self, e):
        """Perform an Assign or IncDec; returns the cell holding the expression's value."""
        if isinstance(e, ir.IncDec):
            if isinstance(e.target, ir.Var) or self.direct_cell(e.target) is not None:
                cell = self.direct_cell(e.target)
                old = None
                if e.post and getattr(e, "value_used", False):
                    old = self.value_temp()
                    self.assign(old, e.target)
                self.ins(k(-e.delta), cell)
                return old or cell
            return self.assign_through(e.target.addr, "+", ir.Const(e.loc, e.delta),
                                       post_delta=e.delta if e.post else None, value_used=getattr(e, "value_used", False))
        target, value, op = e.target, e.value, e.op
        cell = self.direct_cell(target)
        if cell is not None:
            if op is None:
                self.assign(cell, value)
            elif op == "+" and not self.reads(value, cell):
                self.add_into(value, cell)
            elif op == "-" and not self.reads(value, cell):
                self.sub_into(value, cell)
            else:
                self.assign(cell, ir.Binary(e.loc, op, target, value))
            return cell
        addr = target.addr
        if op in ("+", "-") and not getattr(e, "value_used", False):
            # *p += v: one patched subtraction of -v
            s = self.zero_temp()
            (self.sub_into if op == "+" else self.add_into)(value, s)
            self.add_through(addr, s)
            self.clear(s)
            self.free(s)
            return None
        return self.assign_through(addr, op, value, value_used=getattr(e, "value_used", False))

    def assign_through(self, addr, op, value, post_delta=None, value_used=False):
        """*addr = value, or *addr = *addr op value; addr evaluated once."""
        temp = None
        if _has_effect(addr):
            cell, temp = self.value_cell(addr)
            addr = ir.Var(addr.loc, _TempSym(cell))
        target = ir.Load(addr.loc, addr)
        new = value if op is None else ir.Binary(addr.loc, op, target, value)
        s = self.zero_temp()
        self.sub_into(new, s)
        result = None
        if value_used:
            result = self.value_temp()
            self.clear(result)
            self.ins(s, result)
            if post_delta is not None:
                self.ins(k(post_delta), result)
        self.store(addr, s)
        self.clear(s)
        self.free(s)
        if temp is not None:
            self.free(temp)
        return result

    # ---- effects (statements' expressions) ----------------------------------------------------

    def effect(self, e):
        if isinstance(e, (ir.Assign, ir.IncDec)):
            self.assignment(e)
        elif isinstance(e, ir.Call) or self.runtime_call(e) is not None:
            self.call(self.runtime_call(e) or e)
        elif isinstance(e, ir.Seq):
            for item in e.items:
                self.effect(item)
        elif isinstance(e, ir.GetChar):
            self.ins(-1, Z)
            self.clear(Z)
        elif isinstance(e, ir.Cond):
            first, second, end = self.new_label("Ca"), self.new_label("Cb"), self.new_label("Ce")
            self.branch(e.cond, first, second, first)
            self.label(first)
            self.effect(e.a)
            self.goto(end)
            self.label(second)
            self.effect(e.b)
            self.label(end)
        elif isinstance(e, ir.Logical):
            end = self.new_label("Le")
            self.branch(e, end, end, end)
            self.label(end)
        elif _has_effect(e):
            cell, temp = self.value_cell(e)
            self.free(temp)

    # ---- calls --------------------------------------------------------------------------------

    def runtime_call(self, e):
        if isinstance(e, ir.Binary) and e.op in RUNTIME_OPS:
            if e.op == "*" and (isinstance(e.a, ir.Const) or isinstance(e.b, ir.Const)):
                return None
            return ir.Call(e.loc, RUNTIME_OPS[e.op], [e.a, e.b])
        return None

    def call(self, e: ir.Call):
        callee = self.p.functions.get(e.func)
        if callee is None:
            raise AsmError(e.loc, f"undefined function '{e.func}' (declared but never defined)")
        self.p.reach(e.func)
        recursive = self.p.same_cycle(self.fn.name, e.func)
        params = [s.label for s in callee.params]
        if recursive or any(_contains_call(a) for a in e.args):  # a call inside may reuse these params
            negs = []
            for a in e.args:
                s = self.zero_temp()
                self.sub_into(a, s)
                negs.append(s)
            frame = self.frame_cells(exclude=negs) if recursive else []
            self.push(frame)
            for p, s in zip(params, negs):
                self.clear(p)
                self.ins(s, p)
                self.clear(s)
            for s in negs:
                self.free(s)
        else:
            frame = []
            for p, a in zip(params, e.args):
                self.assign(p, a)
        back = self.new_label("ret")
        ret_cell = (f"{e.func}.ret", 2)
        self.clear(ret_cell)
        self.ins(neg_address_label(back), ret_cell)
        self.goto(f"{e.func}.entry")
        self.label(back)
        self.pop(frame)

    def frame_cells(self, exclude) -> list:
        cells = []
        for sym in self.fn.locals:
            cells.extend([sym.label] if sym.size == 1 else [(sym.label, j) for j in range(sym.size)])
        cells.append((self.ret_label, 2))
        # A temporary not yet written holds nothing; a zero one that is 0 is 0 again when the
        # callee (which frees its temporaries at 0) returns.
        cells.extend(t for t in self.in_use if t not in exclude and t in self.dirty)
        return cells

    def push(self, cells):
        for cell in cells:
            op = self.new_label("push")
            self.clear((op, 1))
            self.ins(NSP, (op, 1))
            self.ins(cell, Z)
            self.label(op)
            self.ins(Z, 0)
            self.clear(Z)
            self.ins(k(1), NSP)
            if isinstance(cell, str) and ".z" in cell:
                self.clear(cell)  # the callee's own use of this temp expects 0

    def pop(self, cells):
        for cell in reversed(cells):
            self.ins(k(-1), NSP)
            read, wipe = self.new_label("pop"), self.new_label("pop")
            for op in ((read, 0), (wipe, 1)):
                self.clear(op)
                self.ins(NSP, op)
            self.clear(cell)
            self.label(read)
            self.ins(0, Z)
            self.ins(Z, cell)
            self.label(wipe)
            self.ins(cell, 0)
            self.clear(Z)

    # ---- branches -----------------------------------------------------------------------------

    def branch(self, e, yes: str, no: str, nxt: str):
        """Jump to `yes` when e is true, to `no` when false; `nxt` is the label right after."""
        if isinstance(e, ir.Const):
            target = yes if e.value else no
            if target != nxt:
                self.goto(target)
        elif isinstance(e, ir.Unary) and e.op == "!":
            self.branch(e.a, no, yes, nxt)
        elif isinstance(e, ir.Logical):
            middle = self.new_label("And" if e.op == "&&" else "Or")
            if e.op == "&&":
                self.branch(e.a, middle, no, middle)
            else:
                self.branch(e.a, yes, middle, middle)
            self.label(middle)
            self.branch(e.b, yes, no, nxt)
        elif isinstance(e, ir.Binary) and e.op in COMPARISONS:
            self.compare(e, yes, no, nxt)
        elif isinstance(e, ir.Cond):
            first, second = self.new_label("Ca"), self.new_label("Cb")
            self.branch(e.cond, first, second, first)
            self.label(first)
            self.branch(e.a, yes, no, second)
            self.label(second)
            self.branch(e.b, yes, no, nxt)
        else:
            cell, temp = self.value_cell(e)
            self.nonzero(cell, temp is not None, yes, no, nxt)
            self.free(temp)

    def jump_le(self, a, b, le: str, gt: str, nxt: str):
        """mem[b] -= mem[a]; to `le` when the result is <= 0, else to `gt`."""
        if le == gt:
            self.ins(a, b)
            if le != nxt:
                self.goto(le)
            return
        self.ins(a, b, le)
        if gt != nxt:
            self.goto(gt)

    def nonzero(self, cell, destroyable: bool, yes, no, nxt):
        """Branch on cell != 0, exactly (also for INT_MIN)."""
        le = self.new_label("le")
        self.jump_le(Z, cell, le, yes, le)
        self.label(le)
        self.nonzero_after_le(cell, destroyable, yes, no, nxt)

    def sign(self, cell, destroyable, op, yes, no, nxt):
        """Branch on `cell op 0`."""
        if op == "<=":
            self.jump_le(Z, cell, yes, no, nxt)
        elif op == ">":
            self.jump_le(Z, cell, no, yes, nxt)
        elif op == "!=":
            self.nonzero(cell, destroyable, yes, no, nxt)
        elif op == "==":
            self.nonzero(cell, destroyable, no, yes, nxt)
        elif op == "<":  # <= 0 and != 0
            le = self.new_label("le")
            self.jump_le(Z, cell, le, no, le)
            self.label(le)
            self.nonzero_after_le(cell, destroyable, yes, no, nxt)
        else:  # ">=": > 0, or == 0
            le = self.new_label("le")
            self.jump_le(Z, cell, le, yes, le)
            self.label(le)
            self.nonzero_after_le(cell, destroyable, no, yes, nxt)

    def nonzero_after_le(self, cell, destroyable, yes, no, nxt):
        """Branch on cell != 0 for a cell known to be <= 0."""
        if destroyable:
            self.jump_le(k(-1), cell, yes, no, nxt)  # cell + 1 <= 0 <=> cell < 0
            return
        t = self.value_temp()
        zero_or_min = self.new_label("zm")
        self.clear(t)
        self.jump_le(cell, t, zero_or_min, yes, zero_or_min)  # -cell > 0: cell < 0
        self.label(zero_or_min)
        self.jump_le(k(1), t, no, yes, nxt)  # -cell - 1 <= 0: cell was 0, not INT_MIN
        self.free(t)

    def compare(self, e, yes, no, nxt):
        op, a, b = e.op, e.a, e.b
        if isinstance(a, ir.Const) and not isinstance(b, ir.Const):
            a, b, op = b, a, _MIRROR[op]
        if isinstance(b, ir.Const) and b.value == 0:
            cell, temp = self.value_cell(a)
            self.sign(cell, temp is not None, op, yes, no, nxt)
            self.free(temp)
            return
        if op in ("==", "!="):
            t, temp_b = self.difference(a, b)
            self.sign(t, True, op, yes, no, nxt)
            self.free(t)
            return
        if isinstance(b, ir.Const):
            self.compare_constant(a, op, b.value, yes, no, nxt)
            return
        ca, ta = self.value_cell(a)
        cb, tb = self.value_cell(b)
        # Signs first: a - b cannot overflow when a and b are both <= 0 or both > 0.
        gt_label = yes if op in (">", ">=") else no
        lt_label = yes if op in ("<", "<=") else no
        a_le, same = self.new_label("ale"), self.new_label("same")
        self.jump_le(Z, ca, a_le, None, None)
        self.jump_le(Z, cb, gt_label, same, same)
        tail = self.out
        self.out = self.deferred
        self.label(a_le)
        self.jump_le(Z, cb, same, lt_label, None)
        self.out = tail
        self.label(same)
        if op in ("<=", ">"):  # a - b <= 0
            t = self.copy_destroyable(ca, ta)
            self.jump_le(cb, t, yes if op == "<=" else no, no if op == "<=" else yes, nxt)
        else:  # b - a <= 0 <=> a >= b
            t = self.copy_destroyable(cb, tb)
            self.jump_le(ca, t, yes if op == ">=" else no, no if op == ">=" else yes, nxt)
        for temp in dict.fromkeys((ta, tb, t)):  # in order: the same tape in every process
            if temp is not None:
                self.free(temp)

    def copy_destroyable(self, cell, temp):
        if temp is not None:
            return temp
        t = self.value_temp()
        self.clear(t)
        self.ins(cell, Z)
        self.ins(Z, t)
        self.clear(Z)
        return t

    def compare_constant(self, a, op, c, yes, no, nxt):
        if op == "<=":
            if c == (1 << 31) - 1:
                return self.goto(yes) if yes != nxt else None
            op, c = "<", c + 1
        elif op == ">":
            if c == (1 << 31) - 1:
                return self.goto(no) if no != nxt else None
            op, c = ">=", c + 1
        # op is "<" or ">="; a < c <=> c - a > 0, computed where it cannot overflow
        true_if_less = yes if op == "<" else no
        false_if_less = no if op == "<" else yes
        cell, temp = self.value_cell(a)
        safe = self.new_label("safe")
        if c > 0:
            self.jump_le(Z, cell, true_if_less, safe, safe)  # a <= 0 < c
        else:
            self.jump_le(Z, cell, safe, false_if_less, safe)  # a > 0 >= c
        self.label(safe)
        t = self.value_temp()
        self.clear(t)
        self.ins(k(-c), t)
        self.jump_le(cell, t, false_if_less, true_if_less, nxt)  # c - a <= 0: a >= c
        self.free(t)
        self.free(temp)

    def difference(self, a, b):
        """A destroyable temp holding a - b (wrapping), and None."""
        t = self.value_temp()
        if self.reads(a, t) or self.reads(b, t):
            raise AssertionError
        self.assign(t, ir.Binary(a.loc, "-", a, b))
        return t, None

    # ---- statements ---------------------------------------------------------------------------

    def statements(self, stmts):
        for s in stmts:
            self.statement(s)

    def statement(self, s):
        self.loc = s.loc
        if isinstance(s, ir.ExprStmt):
            self.effect(s.expr)
        elif isinstance(s, ir.Output):
            for item in s.items:
                if isinstance(item, int):
                    self.ins(k(item), -1)
                else:
                    cell, temp = self.value_cell(item)
                    self.ins(cell, -1)
                    self.free(temp)
        elif isinstance(s, ir.If):
            then, other, end = self.new_label("then"), self.new_label("else"), self.new_label("fi")
            self.branch(s.cond, then, other if s.other else end, then)
            self.label(then)
            self.statements(s.then)
            if s.other:
                self.goto(end)
                self.label(other)
                self.statements(s.other)
            self.label(end)
        elif isinstance(s, ir.Loop):
            self.loop(s)
        elif isinstance(s, ir.Break):
            self.goto(self.loops[-1][0])
        elif isinstance(s, ir.Continue):
            self.goto(self.loops[-1][1])
        elif isinstance(s, ir.Return):
            self.ret(s)
        else:
            raise AssertionError(type(s))

    def loop(self, s: ir.Loop):
        body, test, cont, end = (self.new_label(h) for h in ("body", "test", "cont", "end"))
        if s.test_first and s.cond is not None:
            self.goto(test)
        self.label(body)
        self.loops.append((end, cont))
        self.statements(s.body)
        self.loops.pop()
        self.label(cont)
        self.loc = s.loc
        if s.step is not None:
            self.effect(s.step)
        self.label(test)
        if s.cond is None:
            self.goto(body)
        else:
            self.branch(s.cond, body, end, end)
        self.label(end)

    def ret(self, s: ir.Return):
        e = s.value
        if e is None:
            if self.fn.name == "main":
                self.clear(NRV)
        elif isinstance(e, ir.Call) or self.runtime_call(e) is not None:
            self.call(self.runtime_call(e) or e)
        elif _contains_call(e):
            cell, temp = self.value_cell(e)
            self.clear(NRV)
            self.ins(cell, NRV)
            self.free(temp)
        else:
            self.clear(NRV)
            self.sub_into(e, NRV)
        self.goto(self.ret_label)

    def generate(self) -> list:
        self.label(f"{self.fn.name}.entry")
        _mark_used_values(self.fn.body)
        self.statements(self.fn.body)
        if self.fn.name == "main":
            self.clear(NRV)
        self.loc = self.fn.loc
        self.out.append(Ins(Z, Z, 0, self.fn.loc, label=self.ret_label))
        return self.out + self.deferred


class _TempSym:
    def __init__(self, label):
        self.label, self.size, self.addr_taken, self.owner = label, 1, False, "temp"


def _doubles_in_place(e, dst, gen) -> bool:
    """e is dst * 2^k (k >= 1)."""
    if not (isinstance(e, ir.Binary) and e.op == "*"):
        return False
    const, other = (e.a, e.b) if isinstance(e.a, ir.Const) else (e.b, e.a)
    if not isinstance(const, ir.Const) or not gen.is_cell(other, dst):
        return False
    c = const.value
    return 1 < c <= 1 << 30 and c & (c - 1) == 0


def _cell_expr(e, cell):
    return ir.Var(e.loc, _TempSym(cell))


_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _children(e):
    if isinstance(e, (ir.Unary,)):
        return [e.a]
    if isinstance(e, (ir.Binary, ir.Logical)):
        return [e.a, e.b]
    if isinstance(e, ir.Cond):
        return [e.cond, e.a, e.b]
    if isinstance(e, ir.Assign):
        return [e.target, e.value]
    if isinstance(e, ir.IncDec):
        return [e.target]
    if isinstance(e, ir.Call):
        return list(e.args)
    if isinstance(e, ir.Load):
        return [e.addr]
    if isinstance(e, ir.Seq):
        return list(e.items)
    return []


def _walk(e):
    yield e
    for child in _children(e):
        yield from _walk(child)


def _is_call(x) -> bool:
    """A call, or an operator the runtime computes (a multiplication by a constant is inline)."""
    if isinstance(x, ir.Call):
        return True
    if isinstance(x, ir.Binary) and x.op in RUNTIME_OPS:
        return not (x.op == "*" and (isinstance(x.a, ir.Const) or isinstance(x.b, ir.Const))
                    and abs(x.a.value if isinstance(x.a, ir.Const) else x.b.value) <= 1 << 12)
    return False


def _contains_call(e) -> bool:
    return any(_is_call(x) for x in _walk(e))


def _has_effect(e) -> bool:
    return any(isinstance(x, (ir.Assign, ir.IncDec, ir.GetChar)) or _is_call(x) for x in _walk(e))


def _reads(e, cell, sym) -> bool:
    for x in _walk(e):
        if isinstance(x, ir.Var) and x.sym.label == cell:
            return True
        if sym is not None and isinstance(x, ir.Load) and sym.addr_taken:
            return True
        if isinstance(x, ir.Load) and isinstance(x.addr, ir.AddrOf) and x.addr.sym.label == cell:
            return True
        if _is_call(x) and sym is not None and (sym.owner is None or sym.addr_taken):
            return True  # a callee may change a global or reach the cell through a pointer
    return False


def _mark_used_values(stmts):
    """Mark the assignments and ++/-- whose value is used (the others need no copy)."""
    def visit_expr(e, used):
        if isinstance(e, (ir.Assign, ir.IncDec)):
            e.value_used = used
        if isinstance(e, ir.Seq):
            for j, item in enumerate(e.items):
                visit_expr(item, used and j == len(e.items) - 1)
            return
        for child in _children(e):
            visit_expr(child, True)

    def visit(stmts):
        for s in stmts:
            if isinstance(s, ir.ExprStmt):
                visit_expr(s.expr, False)
            elif isinstance(s, ir.If):
                visit_expr(s.cond, True)
                visit(s.then)
                visit(s.other)
            elif isinstance(s, ir.Loop):
                if s.cond is not None:
                    visit_expr(s.cond, True)
                if s.step is not None:
                    visit_expr(s.step, False)
                visit(s.body)
            elif isinstance(s, ir.Return) and s.value is not None:
                visit_expr(s.value, True)
            elif isinstance(s, ir.Output):
                for item in s.items:
                    if not isinstance(item, int):
                        visit_expr(item, True)
    visit(stmts)
