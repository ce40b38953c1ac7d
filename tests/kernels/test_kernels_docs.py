"""docs/kernels.md: its Python example runs, and its backend table names every backend."""

import re
from pathlib import Path

import kernels

DOC = Path(__file__).resolve().parents[2] / "docs" / "kernels.md"


def test_the_example_runs():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    scope: dict = {}
    exec(compile(code, str(DOC), "exec"), scope)
    assert scope["X1"].shape == scope["card"].X.shape
    assert 0 <= scope["health"] < 0.2


def test_every_backend_is_described():
    text = DOC.read_text()
    for backend in kernels.BACKENDS:
        assert f"| `{backend}`" in text
