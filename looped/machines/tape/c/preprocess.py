"""C preprocessing for the compiler: the system's `cpp` with looped's own <stdio.h> (include/),
or, where no `cpp` is found, a minimal stand-in that only accepts `#include <stdio.h>`.
Either way pycparser's coordinates name the user's FILE:LINE:COL (cpp writes line markers; the
stand-in keeps every line where it was)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from looped.errors import AsmError, SourceLoc

INCLUDE_DIR = os.path.join(os.path.dirname(__file__), "include")
_CPP_ERROR = re.compile(r"^(.*?):(\d+):(\d+): (?:fatal )?error: (.*)$", re.M)


def preprocess(text: str, file: str) -> str:
    cpp = shutil.which("cpp")
    if cpp is None:
        return _without_cpp(text, file)
    # -nostdinc: only looped's headers; -undef: no host macros (__GNUC__, __x86_64__ ...).
    cmd = [cpp, "-nostdinc", "-undef", "-std=c99", "-I", INCLUDE_DIR, "-"]
    done = subprocess.run(cmd, input=text, capture_output=True, text=True)
    if done.returncode != 0:
        match = _CPP_ERROR.search(done.stderr)
        if match:
            where, line, col, message = match.groups()
            where = file if where in ("<stdin>", "-") else where
            if "No such file" in message:
                message = f"not supported: #include of {message.split(':')[0]} (only <stdio.h>)"
            raise AsmError(SourceLoc(where, int(line), int(col)), message)
        raise AsmError(SourceLoc(file, 1, 1), "preprocessing failed: " + done.stderr.strip()[:200])
    # cpp names standard input "<stdin>": give the user's file name back to its line markers.
    return done.stdout.replace('"<stdin>"', _quoted(file))


def _quoted(file: str) -> str:
    return '"' + file.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _without_cpp(text: str, file: str) -> str:
    """Blank out `#include <stdio.h>` (the front end knows its functions, EOF and NULL); any other
    directive is refused at its place."""
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped.startswith("#"):
            continue
        if re.fullmatch(r"#\s*include\s*<stdio\.h>", stripped):
            lines[number - 1] = ""
        else:
            col = line.index("#") + 1
            raise AsmError(SourceLoc(file, number, col),
                           "not supported: preprocessor directives other than #include <stdio.h> "
                           "(no cpp was found on this machine)")
    return f"#line 1 {_quoted(file)}\n" + "\n".join(lines)
