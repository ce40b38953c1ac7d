"""looped/blocks/bounds.py, the FLEQ blocks' stated bounds, and docs/fleq.md's block table state the
same numbers (the tests and benchmarks/fleq_faults.py judge by the module, users read the docs)."""

from pathlib import Path

import numpy as np

from looped.blocks import bounds, pwl_constants

DOC = Path(__file__).resolve().parents[2] / "docs" / "fleq.md"


def table_row(block: str) -> str:
    rows = [line for line in DOC.read_text().splitlines() if line.startswith(f"| `{block}` |")]
    assert len(rows) == 1, block
    return rows[0]


def written(x: float) -> str:
    """As the docs write numbers: 3.75e-3, 2e-7."""
    mantissa, exponent = f"{x:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def test_the_docs_table_states_the_modules_bounds():
    assert "5e-10" in table_row("mul") and "3.4e-6" in table_row("mul")
    assert written(bounds.MATMUL_RELATIVE) in table_row("matmul") and written(bounds.MATMUL_FLOOR) in table_row("matmul")
    assert written(bounds.SIGMOID_ABSOLUTE) in table_row("sigmoid")
    for block in ("recip", "rsqrt"):
        assert f"{written(bounds.RELATIVE[block])} relative" in table_row(block)


def test_the_bounds_cover_their_sources():
    assert round(float(bounds.mul_allowed(1e4, 1.0)) / 1e4, 7) == 3.4e-6  # the docs' figure at the edge
    assert pwl_constants.RECIP_MAX_REL_ERROR < bounds.RELATIVE["recip"]
    assert pwl_constants.RSQRT_MAX_REL_ERROR < bounds.RELATIVE["rsqrt"]
    assert not np.any(bounds.allowed("add", 1.0, 2.0, np.array([3.0])))  # exact blocks: 0
    # matmul: absolute in B (fixed point), so a tiny b beside a large a may be far off relatively
    assert bounds.matmul_allowed(np.array([[57.9]]), np.array([[1.1e-9]]))[0, 0] > 0.05 * 57.9 * 1.1e-9
