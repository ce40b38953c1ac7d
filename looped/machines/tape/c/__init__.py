"""C on the classic SUBLEQ tape machine: a compiler from a C subset (docs/c.md) to tapes.

frontend.py (pycparser -> checks -> ir.py), codegen.py (IR -> symbolic SUBLEQ), link.py
(-> words and a source map), runtime.c (multiply, divide, shifts, bitwise, printf), compiler.py
(the entry point `compile_c`), cli.py (`looped cc`, and `.c` for `looped run` and `trace`).
"""
