"""Keeps the default suite's memory in bounds (under 2 GB on our 2-core machine).

Every compiled program stays in memory until JAX's caches are cleared: the suite compiles
hundreds of machines, shapes and eagerly dispatched operations, and held them all (3.7 GB at its
peak). The caches are cleared between test files, and within a file once the process has grown
by GROWTH_MB since the last clearing (tests/kernels/test_batched.py dispatches many kernel operations
eagerly). Compilations are rarely shared across files, so this costs little time."""

import gc

GROWTH_MB = 300
_since = {"rss": 0}


def _rss_mb() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _clear() -> None:
    import jax

    from looped import engine, machine

    jax.clear_caches()
    for cached in (engine._loop_for, machine.machine_for, getattr(machine, "_nnx_machine", None)):
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
    gc.collect()


def pytest_runtest_teardown(item, nextitem):
    # A command-line test turns on the disk cache of compiled loops (looped/cli/__init__.py) for the whole
    # process: turned off again, the other tests neither store every loop they compile nor
    # compile more batch shapes because one is kept (looped/runner.py's budget).
    from looped import executables

    executables.disable()
    if nextitem is None or nextitem.fspath != item.fspath or _rss_mb() - _since["rss"] > GROWTH_MB:
        _clear()
        _since["rss"] = _rss_mb()
