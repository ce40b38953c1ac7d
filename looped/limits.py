"""Limits of the machine that the assembler and the command line check before anything runs."""

# Word sizes the machine runs exactly (measured with tests/test_exactness.py). Up to
# FLOAT32_MAX_BITS the state is float32; above it the engine switches to float64, which is exact
# up to MAX_BITS (see README, "Exactness limits").
MIN_BITS = 2
MAX_BITS = 48
FLOAT32_MAX_BITS = 20
DEFAULT_BITS = 16

# Widest punch card (tokens = scratch + memory + instructions, halt column included).
MAX_COLUMNS = 1 << 15
