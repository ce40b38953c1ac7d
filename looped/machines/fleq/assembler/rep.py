"""`.rep` blocks of FLEQ files: unrolled by text substitution before parsing. No JAX here.

    .rep i, 3
            add s, s, v+{i}
    .endr

repeats its body 3 times with `{i}` replaced by 0, 1, 2. Inside the braces goes an integer
expression of the variables of the enclosing `.rep` blocks (`{i}`, `{i+1}`, `{2*i - 1}`, `{i*n+j}`
with nested blocks; `+ - * // %` and parentheses). Substitution is textual and happens in the
whole line before the comment, so labels inside a body must contain a substitution to be unique
(`skip{i}:`); a plain label there is defined once per repetition, which is a duplicate-label error.

Every expanded line remembers the line and the columns of the source it came from, so errors
point into the original text, and which repetition it belongs to (appended to the message).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from looped import limits
from looped.errors import AsmError, SourceLoc

from looped.assembler.lexer import NAME_RE, tokenize

REP_RE = re.compile(r"\s*\.rep(?![A-Za-z0-9_])", re.IGNORECASE)
ENDR_RE = re.compile(r"\s*\.endr(?![A-Za-z0-9_])", re.IGNORECASE)

# Largest number of lines that `.rep` blocks may expand to (a runaway count is an error, not a
# hang): a program cannot have more statements than the card has columns.
MAX_EXPANDED_LINES = 4 * limits.MAX_COLUMNS


@dataclass(frozen=True)
class SrcLine:
    """One line to parse: `text` (after substitution) from source line `lineno`.

    `cols[k]` is the 1-based source column of text[k] (None: the text is the source line), and
    `env` says which repetition produced it (empty outside `.rep`)."""

    lineno: int
    text: str
    cols: tuple[int, ...] | None = None
    end_col: int = 0  # source column just after the line (when `cols` is given)
    env: tuple[tuple[str, int], ...] = ()  # the `.rep` variables and their values

    @property
    def context(self) -> str:
        """` (in the repetition with i = 2)`, appended to the messages of errors on this line."""
        return _context(dict(self.env))

    def col(self, col: int) -> int:
        """The source column of 1-based column `col` of `text`."""
        if self.cols is None:
            return col
        if 1 <= col <= len(self.cols):
            return self.cols[col - 1]
        return self.end_col + max(0, col - 1 - len(self.cols))

    def loc(self, file: str, col: int) -> SourceLoc:
        return SourceLoc(file, self.lineno, self.col(col))

    def error(self, file: str, col: int, message: str) -> AsmError:
        return AsmError(self.loc(file, col), message + self.context)


class _Expander:
    def __init__(self, lines: list[str], file: str):
        self.lines, self.file = lines, file
        self.errors: list[AsmError] = []
        self.out: list[SrcLine] = []

    def error(self, lineno: int, col: int, message: str, context: str = "") -> None:
        self.errors.append(AsmError(SourceLoc(self.file, lineno, col), message + context))

    def expand(self, start: int, stop: int, env: dict[str, int]) -> None:
        """Expand source lines [start, stop) (0-based) with the variables `env`."""
        i = start
        context = _context(env)
        while i < stop:
            text = self.lines[i]
            lineno = i + 1
            if REP_RE.match(text):
                end = self._matching_endr(i + 1, stop)
                if end is None:
                    col = text.lower().index(".rep") + 1
                    self.error(lineno, col, "'.rep' without a matching '.endr' (expected "
                                            "'.endr' on its own line after the body)", context)
                    i += 1
                    continue
                header = self._substitute(lineno, text, env, context)
                rep = self._header(header) if header is not None else None
                if rep is not None:
                    name, count, name_col, count_col = rep
                    too_many = f"'.rep' blocks expand to more than {MAX_EXPANDED_LINES} lines " \
                               f"(expected a smaller count: the program cannot be that large)"
                    if name in env:
                        self.error(lineno, header.col(name_col), f"'.rep' variable '{name}' is "
                                   f"already the variable of an enclosing '.rep' (use another "
                                   f"name)", context)
                    elif count * max(1, end - i - 1) > MAX_EXPANDED_LINES:
                        self.error(lineno, header.col(count_col), too_many, context)
                    else:
                        for value in range(count):
                            if len(self.out) > MAX_EXPANDED_LINES:
                                self.error(lineno, header.col(count_col), too_many, context)
                                return
                            self.expand(i + 1, end, {**env, name: value})
                i = end + 1
                continue
            if ENDR_RE.match(text):
                col = text.lower().index(".endr") + 1
                self.error(lineno, col, "'.endr' without a '.rep' (expected '.rep NAME, COUNT' "
                                        "before the body)", context)
                i += 1
                continue
            line = self._substitute(lineno, text, env, context)
            if line is not None:
                self.out.append(line)
            i += 1

    def _matching_endr(self, start: int, stop: int) -> int | None:
        depth = 0
        for j in range(start, stop):
            if REP_RE.match(self.lines[j]):
                depth += 1
            elif ENDR_RE.match(self.lines[j]):
                if depth == 0:
                    return j
                depth -= 1
        return None

    def _header(self, line: SrcLine) -> tuple[str, int, int, int] | None:
        """(variable, count, their columns) of a `.rep NAME, COUNT` line, or None after
        recording an error."""
        try:
            tokens = tokenize(line.text, self.file, line.lineno, fleq=True)
        except AsmError as err:
            self.errors.append(line.error(self.file, err.loc.col, err.message))
            return None
        usage = "'.rep' expects a variable and a count, e.g. '.rep i, 4'"
        if not tokens or tokens[0].kind != "directive" or tokens[0].text.lower() != ".rep":
            # a label before `.rep`
            self.errors.append(line.error(self.file, tokens[0].col if tokens else 1,
                                          "a label cannot stand before the directive '.rep' "
                                          "(put the label on a statement inside or after the block)"))
            return None
        rest = tokens[1:]
        end_col = tokens[-1].col + len(tokens[-1].text)
        if not rest or rest[0].kind != "name":
            self.errors.append(line.error(self.file, rest[0].col if rest else end_col, usage))
            return None
        name = rest[0]
        if len(rest) < 2 or rest[1].text != ",":
            self.errors.append(line.error(self.file, rest[1].col if len(rest) > 1 else end_col,
                                          usage))
            return None
        if len(rest) < 3 or rest[2].kind != "int":
            got = f", got {rest[2].describe()}" if len(rest) > 2 else ""
            self.errors.append(line.error(self.file, rest[2].col if len(rest) > 2 else end_col,
                                          f"'.rep' expects a count: a non-negative integer "
                                          f"(e.g. '.rep {name.text}, 4'){got}"))
            return None
        if len(rest) > 3:
            self.errors.append(line.error(self.file, rest[3].col,
                                          f"unexpected {rest[3].describe()} ({usage})"))
            return None
        return name.text, rest[2].value, name.col, rest[2].col

    def _substitute(self, lineno: int, text: str, env: dict[str, int], context: str) -> SrcLine | None:
        """`text` with every `{expr}` (before the comment) replaced by its value."""
        if "{" not in text and "}" not in text:
            return SrcLine(lineno, text, env=tuple(env.items()))
        out: list[str] = []
        cols: list[int] = []
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch in ";#":
                out.append(text[i:])
                cols.extend(range(i + 1, n + 1))
                break
            if ch == "'":  # a character literal: copied as is ('{' is a character there)
                j = min(n, i + (4 if text[i + 1 : i + 2] == "\\" else 3))
                out.append(text[i:j])
                cols.extend(range(i + 1, j + 1))
                i = j
                continue
            if ch == "}":
                self.error(lineno, i + 1, "'}' without a '{' (a substitution is '{i}', "
                                          "'{i+1}', ... inside a '.rep' body)", context)
                return None
            if ch != "{":
                out.append(ch)
                cols.append(i + 1)
                i += 1
                continue
            close = text.find("}", i)
            if close == -1:
                self.error(lineno, i + 1, "'{' without a closing '}' (a substitution is '{i}', "
                                          "'{i+1}', ... inside a '.rep' body)", context)
                return None
            value = self._evaluate(lineno, i + 1, text[i + 1 : close], env, context)
            if value is None:
                return None
            shown = str(value)
            out.append(shown)
            cols.extend([i + 1] * len(shown))
            i = close + 1
        return SrcLine(lineno, "".join(out), tuple(cols), n + 1, tuple(env.items()))

    def _evaluate(self, lineno: int, col: int, expr: str, env: dict[str, int],
                  context: str) -> int | None:
        if not env:
            self.error(lineno, col, f"'{{{expr}}}' outside a '.rep' body (substitutions such as "
                                    f"'{{i}}' only exist inside '.rep i, COUNT' ... '.endr')",
                       context)
            return None
        known = ", ".join(sorted(env))
        try:
            tree = ast.parse(expr.strip(), mode="eval")
            return _eval(tree.body, env)
        except _UnknownName as err:
            self.error(lineno, col, f"unknown '.rep' variable '{err.name}' in '{{{expr}}}' "
                                    f"(expected one of: {known})", context)
        except (SyntaxError, _BadExpression, ZeroDivisionError):
            self.error(lineno, col, f"bad substitution '{{{expr}}}' (expected an integer "
                                    f"expression of {known} with + - * // % and parentheses, "
                                    f"e.g. '{{{next(iter(env))}+1}}')", context)
        return None


class _UnknownName(Exception):
    def __init__(self, name: str):
        self.name = name


class _BadExpression(Exception):
    pass


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}


def _eval(node, env: dict[str, int]) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name):
        if not NAME_RE.fullmatch(node.id) or node.id not in env:
            raise _UnknownName(node.id)
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand, env)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left, env), _eval(node.right, env)
        if abs(left) > 1 << 40 or abs(right) > 1 << 40:
            raise _BadExpression()
        return _OPS[type(node.op)](left, right)
    raise _BadExpression()


def _context(env: dict[str, int]) -> str:
    if not env:
        return ""
    return " (in the repetition with " + ", ".join(f"{k} = {v}" for k, v in env.items()) + ")"


def expand_reps(source: str, file: str) -> tuple[list[SrcLine], list[AsmError], int]:
    """The lines of `source` with `.rep` blocks unrolled, the errors found, and the number of
    source lines."""
    lines = source.splitlines()
    expander = _Expander(lines, file)
    expander.expand(0, len(lines), {})
    return expander.out, expander.errors, len(lines)
