"""Limits of the machine that the assembler and the command line check before anything runs."""

# Word sizes the machine runs exactly. Up to FLOAT32_MAX_BITS the state is float32; above it the
# engine switches to float64 (see README, "Exactness limits").
MIN_BITS = 2
MAX_BITS = 32
FLOAT32_MAX_BITS = 16
DEFAULT_BITS = 16

# Widest punch card (tokens = scratch + memory + instructions, halt column included).
MAX_COLUMNS = 1 << 15
