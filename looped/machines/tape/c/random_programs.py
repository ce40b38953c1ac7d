"""Random C programs for fuzzing the compiler against gcc (small, in the spirit of csmith):
globals and arrays, helper functions with parameters, nested loops and branches, every operator
of the subset, pointers into arrays (helpers that sum, find the maximum and store through them),
calls (one bounded recursion), printf of intermediate values.

Every program is free of undefined behaviour for gcc -fwrapv: division and modulo go through
helpers that avoid a zero divisor and INT_MIN / -1, shift counts are taken into 0 .. 31 by a
helper, array indices are in range by construction, locals are initialised, functions do not
write globals (so evaluation order cannot matter) and loops are bounded.
"""

from __future__ import annotations

import random

PRELUDE = """#include <stdio.h>

int sdiv(int a, int b) { if (b == 0 || (a == -2147483647 - 1 && b == -1)) return a; return a / b; }
int smod(int a, int b) { if (b == 0 || (a == -2147483647 - 1 && b == -1)) return a; return a % b; }
int sshl(int a, int b) { if (b < 0) b = -b; return a << (b % 32); }
int sshr(int a, int b) { if (b < 0) b = -b; return a >> (b % 32); }
int psum(int *p, int n) { int s = 0; while (n-- > 0) s += *p++; return s; }
void pset(int *p, int i, int v) { *(p + i) = v; p[i] += i; }
int pmax(int *p, int *end) { int m = *p; while (++p < end) if (*p > m) m = *p; return m; }
"""

EDGE = [0, 1, -1, 2, 3, 7, 10, 100, 255, 256, -128, 65535, 2147483647, -2147483647, 123456789, -987654321]


class Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.globals: list[str] = []
        self.arrays: dict[str, int] = {}
        self.functions: list[tuple[str, int]] = []  # (name, number of parameters)
        self.lines: list[str] = []

    # ---- expressions ------------------------------------------------------------------------

    def constant(self) -> str:
        r = self.rng.random()
        if r < 0.6:
            return str(self.rng.randint(-20, 40))
        if r < 0.85:
            value = self.rng.choice(EDGE)
        else:
            value = self.rng.randint(-(1 << 31) + 1, (1 << 31) - 1)
        return f"({value})" if value < 0 else str(value)

    def expr(self, names: list[str], depth: int) -> str:
        rng = self.rng
        if depth <= 0 or rng.random() < 0.25:
            if names and rng.random() < 0.7:
                return rng.choice(names)
            if self.arrays and rng.random() < 0.3:
                array = rng.choice(list(self.arrays))
                return f"{array}[{rng.randrange(self.arrays[array])}]"
            return self.constant()
        kind = rng.random()
        a = self.expr(names, depth - 1)
        if kind < 0.5:
            op = rng.choice(["+", "-", "*", "+", "-", "<", "<=", ">", ">=", "==", "!=", "&&", "||", "&", "|", "^"])
            return f"({a} {op} {self.expr(names, depth - 1)})"
        if kind < 0.6:
            helper = rng.choice(["sdiv", "smod", "sshl", "sshr"])
            return f"{helper}({a}, {self.expr(names, depth - 1)})"
        if kind < 0.7:
            return f"({rng.choice(['-', '~', '!'])} {a})"
        if kind < 0.8:
            return f"({a} ? {self.expr(names, depth - 1)} : {self.expr(names, depth - 1)})"
        if kind < 0.9 and self.functions:
            name, count = rng.choice(self.functions)
            if name == "rec":  # a small constant depth
                return f"rec({rng.randint(0, 4)}, {self.expr(names, depth - 2)})"
            args = ", ".join(self.expr(names, depth - 2) for _ in range(count))
            return f"{name}({args})"
        if kind < 0.95 and self.arrays:
            array = rng.choice(list(self.arrays))
            size = self.arrays[array]
            r = rng.random()
            if r < 0.2:
                return f"psum({array}, {rng.randint(0, size)})"
            if r < 0.35:
                start = rng.randrange(size)
                return f"pmax({array} + {start}, {array} + {size})"
            if r < 0.5:
                return f"*({array} + {self.index(names, size)})"
            return f"{array}[{self.index(names, size)}]"
        return f"({a} * {rng.randint(-12, 12)})"

    def index(self, names: list[str], size: int) -> str:
        """An index in [0, size): a constant, or a value folded into range."""
        if self.rng.random() < 0.5 or not names:
            return str(self.rng.randrange(size))
        return f"(({self.rng.choice(names)} % {size} + {size}) % {size})"

    # ---- statements ---------------------------------------------------------------------------

    def block(self, names: list[str], writable: list[str], depth: int, indent: str, loops: int) -> list[str]:
        out = []
        for _ in range(self.rng.randint(1, 4)):
            out.extend(self.statement(names, writable, depth, indent, loops))
        return out

    def statement(self, names, writable, depth, indent, loops) -> list[str]:
        rng = self.rng
        r = rng.random()
        target = rng.choice(writable)
        if r < 0.35 or depth <= 0:
            op = rng.choice(["=", "=", "+=", "-=", "*=", "^=", "|=", "&="])
            return [f"{indent}{target} {op} {self.expr(names, 2)};"]
        if r < 0.45:
            return [f"{indent}{target}{rng.choice(['++', '--'])};"]
        if r < 0.5 and self.writable_arrays:
            array = rng.choice(self.writable_arrays)
            return [f"{indent}pset({array}, {self.index(names, self.arrays[array])}, {self.expr(names, 2)});"]
        if r < 0.55 and self.writable_arrays:
            array = rng.choice(self.writable_arrays)
            return [f"{indent}{array}[{self.index(names, self.arrays[array])}] {rng.choice(['=', '+=', '-='])} "
                    f"{self.expr(names, 2)};"]
        if r < 0.7:
            out = [f"{indent}if ({self.expr(names, 2)}) {{"] + self.block(names, writable, depth - 1, indent + "    ", loops)
            if rng.random() < 0.5:
                out += [f"{indent}}} else {{"] + self.block(names, writable, depth - 1, indent + "    ", loops)
            return out + [f"{indent}}}"]
        if r < 0.85 and loops < 2:
            counter = f"i{loops}"
            bound = rng.randint(1, 5)
            body = self.block(names + [counter], writable, depth - 1, indent + "    ", loops + 1)
            if rng.random() < 0.2:
                body.insert(rng.randrange(len(body) + 1), f"{indent}    if ({self.expr(names, 1)}) "
                                                        f"{rng.choice(['break', 'continue'])};")
            if rng.random() < 0.7:
                return [f"{indent}for ({counter} = 0; {counter} < {bound}; {counter}++) {{"] + body + [f"{indent}}}"]
            return ([f"{indent}{counter} = {bound};", f"{indent}do {{"] + body
                    + [f"{indent}}} while (--{counter} > 0);"])
        return [f'{indent}printf("%d\\n", {self.expr(names, 2)});']

    # ---- the program --------------------------------------------------------------------------

    def function(self, index: int) -> list[str]:
        count = self.rng.randint(1, 3)
        params = [f"p{j}" for j in range(count)]
        name = f"f{index}"
        self.writable_arrays = []
        lines = [f"int {name}({', '.join('int ' + p for p in params)}) {{", "    int i1 = 0;",
                 "    int t = " + self.expr(params, 1) + ";"]
        lines += self.block(params + ["t"] + self.globals, params + ["t"], 1, "    ", 1)
        lines += [f"    return {self.expr(params + ['t'], 2)};", "}"]
        self.functions.append((name, count))
        return lines

    def program(self) -> str:
        rng = self.rng
        out = [PRELUDE]
        for g in range(rng.randint(1, 3)):
            name = f"g{g}"
            self.globals.append(name)
            out.append(f"int {name} = {self.constant()};")
        for a in range(rng.randint(0, 2)):
            name, size = f"a{a}", rng.randint(2, 6)
            self.arrays[name] = size
            out.append(f"int {name}[{size}] = {{{', '.join(self.constant() for _ in range(size))}}};")
        out.append("")
        for f in range(rng.randint(0, 2)):
            out += self.function(f)
        if rng.random() < 0.3:  # a bounded recursion
            out += ["int rec(int n, int x) {", "    if (n <= 0) return x;",
                    f"    return rec(n - 1, {self.expr(['x', 'n'], 2)});", "}"]
            self.functions.append(("rec", 2))
        locals_ = [f"x{j}" for j in range(rng.randint(1, 3))]
        self.writable_arrays = list(self.arrays)
        out.append("int main(void) {")
        out.append("    int i0 = 0, i1 = 0;")
        for name in locals_:
            out.append(f"    int {name} = {self.expr(self.globals, 1)};")
        names = locals_ + self.globals
        out += self.block(names, locals_ + self.globals, 3, "    ", 0)
        shown = " ".join("%d" for _ in names)
        out.append(f'    printf("{shown}\\n", {", ".join(names)});')
        for array, size in self.arrays.items():
            out.append(f'    for (i0 = 0; i0 < {size}; i0++) printf("%d ", {array}[i0]);')
        out.append(f"    return {self.expr(names, 2)};")
        out.append("}")
        return "\n".join(out) + "\n"


def random_program(seed: int) -> str:
    """A random C program (deterministic in `seed`)."""
    return Generator(seed).program()
