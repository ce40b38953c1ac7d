"""The runtime (looped/machines/tape/c/runtime.c: multiply, divide, modulo, shifts, bitwise, %d %x)
on edge values against gcc, through one compiled program on the tape oracle."""

import pytest

from looped.machines.tape.c.compiler import compile_c
from looped.machines.tape.c.oracle import gcc_available, run_gcc, run_tape

pytestmark = pytest.mark.skipif(not gcc_available(), reason="gcc is the oracle")

VALUES = [0, 1, -1, 2, 7, -13, 100, 65535, 123456789, -987654321, 2147483647, "-2147483647 - 1"]
SHIFTS = [0, 1, 5, 16, 31]


def source(ops, pairs_of_shift=False) -> str:
    values = ", ".join(str(v) for v in VALUES)
    body = []
    for op in ops:
        if op in ("<<", ">>"):
            body.append(f'for (i = 0; i < {len(VALUES)}; i++) for (j = 0; j < {len(SHIFTS)}; j++) '
                        f'printf("%d ", v[i] {op} s[j]);')
        elif op in ("/", "%"):
            body.append(f'for (i = 0; i < {len(VALUES)}; i++) for (j = 0; j < {len(VALUES)}; j++) '
                        f'if (v[j] != 0 && !(v[i] == v[11] && v[j] == -1)) printf("%d ", v[i] {op} v[j]);')
        else:
            body.append(f'for (i = 0; i < {len(VALUES)}; i++) for (j = 0; j < {len(VALUES)}; j++) '
                        f'printf("%d ", v[i] {op} v[j]);')
        body.append('putchar(10);')
    return ("#include <stdio.h>\n"
            f"int v[{len(VALUES)}] = {{{values}}};\n"
            f"int s[{len(SHIFTS)}] = {{{', '.join(map(str, SHIFTS))}}};\n"
            "int main(void) {\n    int i, j;\n    " + "\n    ".join(body) +
            '\n    for (i = 0; i < 12; i++) printf("%x %d|", v[i], v[i]);\n    return 0;\n}\n')


@pytest.mark.parametrize("ops", [("*",), ("/", "%"), ("<<", ">>"), ("&", "|", "^")])
def test_runtime_matches_gcc(ops):
    text = source(ops)
    tape = run_tape(compile_c(text, "runtime_check.c"))
    gcc = run_gcc(text)
    assert tape.status == "halted"
    assert tape.output.decode().split("\n") == gcc.output.decode().split("\n")


def test_constant_multipliers_inline_match_gcc():
    lines = [f'printf("%d ", x * {c}); printf("%d ", {c} * x);' for c in (0, 1, 2, 3, 10, 16, 255, -1, -6, 4096, 4097)]
    text = ("#include <stdio.h>\nint xs[5] = {0, 7, -9, 123456, -2147483647 - 1};\n"
            "int main(void) { int k, x; for (k = 0; k < 5; k++) { x = xs[k]; " + " ".join(lines) + " } return 0; }\n")
    compiled = compile_c(text, "mulconst.c")
    assert "__mul.entry" in compiled.labels  # only 4097 needs the runtime
    tape = run_tape(compiled)
    assert tape.output == run_gcc(text).output
