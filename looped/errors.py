"""The errors every machine shares: a user's mistake (`LoopedError`, exit 2 at the command line)
and a mistake at a place in a source file (`AsmError`, printed as `file:line:col: error: ...`)."""

from __future__ import annotations

from dataclasses import dataclass


class LoopedError(Exception):
    """A user's mistake (bad program, bad arguments). The CLI prints it and exits 2."""


@dataclass(frozen=True)
class SourceLoc:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class AsmError(LoopedError):
    """An error at a place in a source file: printed as `file:line:col: error: message`."""

    def __init__(self, loc: SourceLoc | None, message: str):
        self.loc = loc
        self.message = message
        super().__init__(f"{loc}: error: {message}" if loc else f"error: {message}")


def suggest(name: str, candidates) -> str:
    """` (did you mean 'x'?)` for the nearest of `candidates`, or an empty string."""
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
