"""Compiled loops kept on disk (looped/executables.py): a later Loop loads them instead of building
its step, gets the same results, and survives a damaged or stale cache."""

import numpy as np
import pytest

import kernels
from looped import executables
from looped.machines.subleq import oracle
from looped.machines.subleq.card import encode
from looped.machines.subleq.isa import subleq_stack
from looped.layout import subleq_layout
from looped.machine import inverse_temperature
from looped.machines.subleq.random_programs import long_random_programs
from looped.runner import Loop

N, BITS = 20, 8


@pytest.fixture
def cache(tmp_path):
    was = executables.folder()
    executables.enable(tmp_path)
    yield tmp_path
    executables.enable(was) if was else executables.disable()


def loop_and_builds():
    layout = subleq_layout(0, 0, BITS, N)
    builds = []

    def make_step():
        builds.append(1)
        return kernels.make_step("dense", subleq_stack(layout), inverse_temperature(N, BITS), np.float32)

    loop = Loop(make_step, pc_token=0, pc_rows=layout["pc"].slice, width=N, cache_key=("test", N, BITS, "dense"))
    return loop, builds


def run(loop, programs):
    cards = [encode(p, subleq_layout(len(p.memory), len(p.code), BITS, N)) for p in programs]
    state = loop.run(np.stack([c.X for c in cards]).astype(np.float32), [c.halt_token for c in cards], max_steps=30)
    return [list(state.steps)] + [state.X.tolist()]


def test_a_second_loop_loads_the_compiled_loop_and_builds_nothing(cache):
    programs = long_random_programs(seed=8, count=2, bits=BITS, min_steps=30, n_cells=4, n_code=8)
    first, built_first = loop_and_builds()
    expected = run(first, programs)
    assert built_first == [1] and list(cache.glob("*.pkl"))
    second, built_second = loop_and_builds()
    assert run(second, programs) == expected
    assert built_second == [] and second._from_disk  # loaded: no weights, no tracing
    from looped.machines.subleq.card import decode_memory

    layout = subleq_layout(len(programs[0].memory), len(programs[0].code), BITS, N)
    X = np.asarray(expected[1])[0]
    assert list(decode_memory(layout, X, len(programs[0].memory))) == oracle.run(programs[0], 30).memory


def test_a_damaged_cache_entry_is_rebuilt(cache):
    programs = long_random_programs(seed=9, count=2, bits=BITS, min_steps=30, n_cells=4, n_code=8)
    first, _ = loop_and_builds()
    expected = run(first, programs)
    for path in cache.glob("*.pkl"):
        path.write_bytes(b"not a pickle")
    again, built = loop_and_builds()
    assert run(again, programs) == expected and built == [1]
    third, built = loop_and_builds()
    assert run(third, programs) == expected and built == []  # the rebuilt entry was stored


def test_the_key_covers_the_source_and_the_environment():
    key = ("loop", "x")
    assert executables.fingerprint() in executables.full_key(key)
    import jax

    assert jax.__version__ in executables.full_key(key)
