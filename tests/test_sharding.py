"""A batch split over 8 (forced CPU) devices gives exactly the unsharded results.

XLA_FLAGS must be set before jax initialises, so the check runs in a subprocess (about 20 s: marked
slow)."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import numpy as np, jax
    from looped import sharding
    from looped.engine import run, trace
    from looped.machines.subleq.random_programs import long_random_programs

    assert jax.device_count() == 8, jax.devices()
    progs = long_random_programs(5, 11, 8, min_steps=40, n_cells=6, n_code=10)  # 11: padded to 16
    X0 = np.zeros((11, 4, 3), np.float32)
    Xs, hs = sharding.place(X0, np.zeros(11, np.int32), lambda X: 1)
    assert Xs.shape[0] == 16 and len(Xs.sharding.device_set) == 8, Xs.sharding
    assert Xs.sharding.spec == jax.sharding.PartitionSpec("batch")
    for backend in ("fast", "pallas"):
        a = run(progs, backend=backend, max_steps=90, shard=False)
        b = run(progs, backend=backend, max_steps=90, shard=True)
        c = run(progs, backend=backend, max_steps=90)  # default: shard when there are several devices
        key = lambda r: (r.status, r.steps, r.pc, r.memory)
        assert [key(r) for r in a] == [key(r) for r in b] == [key(r) for r in c], backend
    d = run(progs, max_steps=90, shard=True, slots=8)  # 8 slots over 8 devices: refilled as cards stop
    assert [key(r) for r in d] == [key(r) for r in a]
    ta, tb = trace(progs, 30, shard=False), trace(progs, 30, shard=True)
    assert np.array_equal(ta[0], tb[0]) and np.array_equal(ta[2], tb[2])
    assert all(np.array_equal(x, y) for x, y in zip(ta[1], tb[1]))
    print("SHARDING-OK")
    """
)


@pytest.mark.slow
def test_sharded_matches_unsharded():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SHARDING-OK" in proc.stdout
