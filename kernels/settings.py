"""Settings the kernels take from the environment that must be read before JAX starts (no JAX
import here: `kernels` is imported by the command line before it decides to load JAX).

LLVM's full unrolling, capped for XLA:CPU. XLA puts the batch axis innermost in its elementwise
loops; LLVM unrolls a loop of up to a few dozen iterations completely before its loop vectorizer
runs, and the unrolled code then mostly stays scalar (docs/kernels.md, "XLA's code per CPU"). With
full unrolling capped at 4 iterations those loops are vectorised: batches of 8-32 cards run 1.2-2x
faster per iteration (Zen 4, one core: 16 cards 31.4 -> 16.2 us, 32 cards 35.4 -> 25.1 us), 64 cards
and one card as before. The cap is an LLVM option, which XLA takes only from XLA_FLAGS and reads
once per process, before its first compile: `prepare_xla_flags` adds it when `kernels` is imported.
"""

from __future__ import annotations

import importlib.util
import os
import pkgutil


class SettingError(ValueError):
    """An environment setting of the kernels' (LOOPED_THREADS, LOOPED_XLA_VECTOR_BITS,
    LOOPED_XLA_UNROLL_MAX) that is not one of its values: the command line reports it as a user's
    mistake."""


UNROLL_ENV = "LOOPED_XLA_UNROLL_MAX"
DEFAULT_UNROLL_MAX = 4
# (LLVM parses the cap as a 32-bit unsigned number and stops the process on a larger one; no loop
# here has anywhere near this many iterations to unroll)
UNROLL_MAX_LIMIT = 65535
_LLVM_FLAG = "--xla_backend_extra_options"


def unroll_max() -> int:
    """The cap on LLVM's full unrolling (LOOPED_XLA_UNROLL_MAX; 0: LLVM's own default)."""
    value = os.environ.get(UNROLL_ENV, "").strip()
    if not value:
        return DEFAULT_UNROLL_MAX
    if not value.isdigit() or int(value) > UNROLL_MAX_LIMIT:
        raise SettingError(f"{UNROLL_ENV} must be a whole number of loop iterations from 0 (LLVM's default) "
                           f"to {UNROLL_MAX_LIMIT}, not {value!r}")
    return int(value)


def with_unroll_cap(xla_flags: str, cap: int) -> str:
    """XLA_FLAGS with LLVM's full unrolling capped at `cap` iterations; unchanged for cap 0 and
    where the flags already pass LLVM options of their own (those are the user's to choose)."""
    if cap <= 0 or _LLVM_FLAG in xla_flags:
        return xla_flags
    return " ".join(part for part in (xla_flags.strip(), f"{_LLVM_FLAG}=-unroll-full-max-count={cap}") if part)


def accelerator_expected() -> bool:
    """Whether JAX may run on an accelerator here, asked without starting it: JAX_PLATFORMS names
    one first or, with no choice made, an accelerator plugin is installed. (XLA passes its LLVM
    options to GPU compilers too, where the cap was never measured.)"""
    chosen = os.environ.get("JAX_PLATFORMS", "").strip()
    if chosen:
        return chosen.split(",")[0].strip() != "cpu"
    plugins = importlib.util.find_spec("jax_plugins")
    if plugins is not None and any(True for _ in pkgutil.iter_modules(plugins.submodule_search_locations or [])):
        return True
    return importlib.util.find_spec("libtpu") is not None


def prepare_xla_flags() -> None:
    """Add the unrolling cap to XLA_FLAGS for a CPU run, before XLA reads them. (A bad
    LOOPED_XLA_UNROLL_MAX is left for `kernels.common.xla_cpu_options` to report, where the command
    line catches it.)"""
    try:
        cap = unroll_max()
    except SettingError:
        return
    if accelerator_expected():
        return
    flags = os.environ.get("XLA_FLAGS", "")
    changed = with_unroll_cap(flags, cap)
    if changed != flags:
        os.environ["XLA_FLAGS"] = changed
