"""Helpers of the `looped view` tests: the command line run in-process."""

import contextlib
import io
import json


def run_cli(*argv: str) -> tuple[int, str, str]:
    """`looped ARGV...` in this process: (exit status, stdout, stderr)."""
    from looped.cli.shell import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def run_json(*argv: str) -> dict:
    """The JSON line of `looped run|tape ... --json` (one instance)."""
    status, out, err = run_cli(*argv, "--json")
    assert status in (0, 3), err
    return json.loads(out.strip().splitlines()[-1])
