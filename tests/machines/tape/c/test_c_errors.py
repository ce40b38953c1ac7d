"""Bad C: syntax errors, undeclared names and features outside the subset are refused with
FILE:LINE:COL (the user's file, also after #include <stdio.h>), exit 2 at the command line,
never a traceback."""

import pytest

from looped.errors import AsmError
from looped.machines.tape.c.compiler import compile_c

HEAD = "#include <stdio.h>\n"

CASES = [
    # (source after the include line, line, column or None, words the message must hold)
    ("int main(void) {\n    return x;\n}\n", 3, 12, ["undeclared identifier 'x'"]),
    ("int main(void) {\n    int a = 1\n    return a;\n}\n", 4, 5, ["syntax error"]),
    ("int main(void) {\n    return 1 +;\n}\n", 3, None, ["syntax error"]),
    ("float f;\nint main(void) { return 0; }\n", 2, None, ["not supported: float"]),
    ("int main(void) {\n    double d = 1.5;\n    return 0;\n}\n", 3, None, ["not supported: double"]),
    ("int main(void) {\n    int a = 2;\n    return a * 1.5;\n}\n", 4, None, ["not supported: float"]),
    ("struct point { int x; };\nint main(void) { return 0; }\n", 2, None, ["not supported: struct"]),
    ("int main(void) {\n    int a = 1;\n    switch (a) { case 1: return 2; }\n    return 0;\n}\n", 4, None,
     ["not supported: switch"]),
    ("int main(void) {\n    return nope(3);\n}\n", 3, None, ["undeclared function 'nope'"]),
    ("int f(int a, int b) { return a + b; }\nint main(void) {\n    return f(1);\n}\n", 4, None,
     ["'f' takes 2 arguments, got 1"]),
    ("unsigned int u;\nint main(void) { return 0; }\n", 2, None, ["not supported: unsigned"]),
    ("long big;\nint main(void) { return 0; }\n", 2, None, ["not supported: long"]),
    ("int main(void) {\n    int a = sizeof(int);\n    return a;\n}\n", 3, None, ["not supported: sizeof"]),
    ("int g(void);\nint main(void) {\n    return g();\n}\n", 4, None, ["undefined function 'g'"]),
    ("int main(void) {\n    printf(\"%f\", 1);\n    return 0;\n}\n", 3, None, ["not supported", "%f"]),
    ("int main(void) {\n    int a[2][2];\n    return 0;\n}\n", 3, None, ["not supported: multi-dimensional"]),
    ("int main(void) {\n    int a = 1;\n    return *a;\n}\n", 4, None, ["dereference"]),
]


@pytest.mark.parametrize("body,line,col,words", CASES)
def test_error_names_the_place(body, line, col, words):
    with pytest.raises(AsmError) as err:
        compile_c(HEAD + body, "bad.c")
    text = str(err.value)
    assert text.startswith(f"bad.c:{line}:"), text
    if col is not None:
        assert text.startswith(f"bad.c:{line}:{col}: error: "), text
    for w in words:
        assert w in text, text


def test_other_headers_are_refused_at_the_include():
    with pytest.raises(AsmError) as err:
        compile_c("#include <stdlib.h>\nint main(void) { return 0; }\n", "inc.c")
    assert str(err.value).startswith("inc.c:1:") and "not supported" in str(err.value)


def test_no_main():
    with pytest.raises(AsmError, match="no function 'main'"):
        compile_c("int f(void) { return 1; }\n", "nomain.c")


@pytest.mark.parametrize("command", ["run", "cc", "trace"])
def test_command_line_exit_2_without_traceback(tmp_path, capsys, command):
    from looped.cli.shell import main

    path = tmp_path / "broken.c"
    path.write_text("#include <stdio.h>\nint main(void) {\n    float x = 1;\n    return 0;\n}\n")
    argv = [command, str(path)] + (["-o", str(tmp_path / "out.tape")] if command == "cc" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{path}:3:" in err and "error: not supported: float" in err
    assert "Traceback" not in err


def test_constants_beyond_int_are_refused():
    for text in ("0x80000000", "2147483648", "4294967295"):
        with pytest.raises(AsmError, match="not supported: integer constant"):
            compile_c(f"int main(void) {{\n    return {text} > 0;\n}}\n", "big.c")


def test_without_cpp_only_stdio_is_accepted_and_places_stay(monkeypatch):
    import shutil

    from looped.machines.tape.c import preprocess
    from looped.machines.tape.c.oracle import run_tape

    monkeypatch.setattr(preprocess.shutil, "which", lambda name: None)
    assert shutil.which is not None
    source = HEAD + "int main(void) {\n    int c = getchar();\n    putchar(c == EOF ? 'e' : c);\n    return y;\n}\n"
    with pytest.raises(AsmError) as err:
        compile_c(source, "nocpp.c")
    assert str(err.value).startswith("nocpp.c:5:12: error: undeclared identifier 'y'")
    good = run_tape(compile_c(source.replace("return y;", "return 3;"), "nocpp.c"))
    assert good.output == b"e" and good.exit_code == 3
    with pytest.raises(AsmError) as err:
        compile_c("#define N 3\nint main(void) { return N; }\n", "nocpp.c")
    assert str(err.value).startswith("nocpp.c:1:1: error: not supported: preprocessor directives")
