"""C text -> a classic SUBLEQ tape (32-bit words) and its source map: the compiler's entry point.

    compiled = compile_c(text, "prog.c")
    compiled.words        # the tape, from address 0
    compiled.source_map   # instruction address -> SourceLoc in prog.c (or the runtime)
    compiled.exit_address # the cell that holds main's value once the tape halts (3)
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from looped.errors import AsmError, SourceLoc
from looped.machines.tape.c import ir
from looped.machines.tape.c.codegen import EXIT_ADDRESS, NRV, NSP, Z, FunctionGen, _walk
from looped.machines.tape.c.frontend import RUNTIME_OPS, lower
from looped.machines.tape.c.link import Ins, link

BITS = 32
DEFAULT_STACK = 160  # cells of stack, only when a function can call itself
RUNTIME_FILE = os.path.join(os.path.dirname(__file__), "runtime.c")


@dataclass
class CompiledC:
    words: list
    source_map: dict
    labels: dict
    file: str
    exit_address: int = EXIT_ADDRESS
    bits: int = BITS
    code_size: int = 0
    stack: int = 0

    def line_of(self, ip: int):
        """The SourceLoc of the instruction at ip, or None."""
        return self.source_map.get(ip)


@functools.lru_cache(maxsize=1)
def _runtime():
    with open(RUNTIME_FILE) as f:
        return lower(f.read(), "<runtime>", prefix="rt.")


def _calls(fn: ir.Function) -> set:
    names = set()

    def visit(x):
        if isinstance(x, ir.Call):
            names.add(x.func)
        if isinstance(x, ir.Binary) and x.op in RUNTIME_OPS:
            names.add(RUNTIME_OPS[x.op])
        if isinstance(x, ir.Stmt):
            for value in vars(x).values():
                visit_any(value)

    def visit_any(v):
        if isinstance(v, list):
            for item in v:
                visit_any(item)
        elif isinstance(v, ir.Expr):
            for node in _walk(v):
                visit(node)
        elif isinstance(v, ir.Stmt):
            visit(v)
    visit_any(fn.body)
    return names


class ProgramGen:
    def __init__(self, functions: dict, symbols: list, stack: int):
        self.functions = functions
        self.symbols = symbols
        self.by_label = {s.label: s for s in symbols}
        for fn in functions.values():
            for s in fn.locals:
                self.by_label[s.label] = s
        self.graph = {name: _calls(fn) for name, fn in functions.items()}
        self.labels = 0
        self.reached: list[str] = []
        self.stack = stack

    def new_label(self, hint: str) -> str:
        self.labels += 1
        return f".{hint}{self.labels}"

    def symbol_of(self, cell):
        return self.by_label.get(cell) if isinstance(cell, str) else None

    def reach(self, name: str):
        if name not in self.reached:
            self.reached.append(name)

    @functools.lru_cache(maxsize=None)
    def reachable(self, name: str) -> frozenset:
        seen, todo = set(), [name]
        while todo:
            for callee in self.graph.get(todo.pop(), ()):
                if callee not in seen:
                    seen.add(callee)
                    todo.append(callee)
        return frozenset(seen)

    def same_cycle(self, caller: str, callee: str) -> bool:
        return caller in self.reachable(callee)

    def recursive(self) -> bool:
        return any(name in self.reachable(name) for name in self.reached)

    def generate(self):
        self.reach("main")
        code: list = []
        gens = []
        done = 0
        while done < len(self.reached):
            name = self.reached[done]
            done += 1
            gen = FunctionGen(self, self.functions[name])
            out = gen.generate()
            if name == "main":
                out[-1 if not gen.deferred else len(out) - len(gen.deferred) - 1].c = "exit"
            gens.append(gen)
            code.extend(out)
        exit_loc = self.functions["main"].loc
        code += ["exit", Ins("EXIT", "EXIT", None, exit_loc), Ins(NRV, "EXIT", None, exit_loc),
                 Ins(Z, Z, -1, exit_loc)]
        data = [(Z, [0]), (NRV, [0]), (NSP, [("negaddr", "stack", 0)])]
        for sym in self.symbols:
            values = [v if isinstance(v, int) else ("addr", v[1], v[2]) for v in sym.init]
            data.append((sym.label, values + [0] * (sym.size - len(values))))
        for gen in gens:
            for sym in gen.fn.locals:
                data.append((sym.label, [0] * sym.size))
            for temp in gen.all_temps:
                data.append((temp, [0]))
        return _peephole(code), data


def _peephole(code: list) -> list:
    """Drop jumps to the very next instruction."""
    out = []
    for j, item in enumerate(code):
        if isinstance(item, Ins) and item.a == Z and item.b == Z and isinstance(item.c, str) and not item.label:
            rest = j + 1
            following = set()
            while rest < len(code) and isinstance(code[rest], str):
                following.add(code[rest])
                rest += 1
            if item.c in following:
                continue
        out.append(item)
    return out


def compile_c(text: str, file: str = "<c>", stack: int | None = None) -> CompiledC:
    """Compile C source to a tape; AsmError (FILE:LINE:COL) for anything outside the subset."""
    user = lower(text, file)
    if "main" not in user.functions:
        raise AsmError(SourceLoc(file, 1, 1), "no function 'main' is defined")
    for name in user.functions:
        if name.startswith("__"):
            raise AsmError(user.functions[name].loc, f"not supported: names starting with '__' ({name})")
    runtime = _runtime()
    functions = dict(runtime.functions)
    functions.update(user.functions)
    for name, info in user.funcs.items():
        if not info.defined:
            functions.pop(name, None)
    symbols = list(runtime.globals) + list(user.globals)
    gen = ProgramGen(functions, symbols, 0)
    code, data = gen.generate()
    size = DEFAULT_STACK if stack is None else stack
    stack_cells = size if gen.recursive() else 0
    fixed = {"labels": {"EXIT": EXIT_ADDRESS}, "size": EXIT_ADDRESS + 1,
             "values": {0: ("addr", Z, 0), 1: ("addr", Z, 0), 2: ("addr", "main.entry", 0), 3: 0}}
    linked = link(code, data, fixed, stack_cells)
    return CompiledC(linked.words, linked.source_map, linked.labels, file, code_size=linked.code_size,
                     stack=stack_cells)
