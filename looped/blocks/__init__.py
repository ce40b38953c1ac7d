"""Building blocks of the construction: small pure functions from named row blocks to weights.

One kind per file:

* `control`: reading and writing by address, moves, clears, the SUBLEQ subtractor, the <= 0 flag,
  the branch and error correction (the blocks every instruction set uses);
* FLEQ's function blocks: `arith` (add, sub, mov), `product` (elementwise mul), `matmul`,
  `transpose`, `pwl` (recip, rsqrt as fitted piecewise-linear MLPs), `sigmoid`, `scaling`
  (exponent, scale); their checks: `faults` (domains, the fault row), `subnormals` (values float64
  has but the machine cannot hold), `exact` (exact decisions), `bounds` (the stated errors).
* `tape`: the classic SUBLEQ machine's gated logic (gated thresholds, snaps, adders, increments,
  the gated subtractor and the wrapped <= 0 test read off the operands) and a read by any key.

`from looped import blocks; blocks.read(...)` keeps working: the control blocks are re-exported.
"""

from looped.blocks.control import (CORRECTION_TOLERANCE, branch, clear, error_correction, flag_le_zero, move,
                                   overwrite, read, subtract, write)

__all__ = ["CORRECTION_TOLERANCE", "branch", "clear", "error_correction", "flag_le_zero", "move", "overwrite",
           "read", "subtract", "write"]
