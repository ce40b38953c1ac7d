"""Running a batch of cards across devices: the batch axis is split over a 1-D mesh of every device.

The runner's loop is unchanged: its jitted `while_loop` receives inputs placed with a
`NamedSharding(mesh, PartitionSpec("batch"))` and GSPMD partitions it, each device stepping its
own cards (the loop's stop test is the only cross-device reduction). The batch is padded to a
multiple of the device count with *idle* cards: copies of the first card whose halt address is
their own starting program counter, so they count as halted from the start and are never stepped.
Padding never changes a result (a card's result does not depend on its batch companions).

On CPU, `XLA_FLAGS=--xla_force_host_platform_device_count=8` (set before jax is imported) gives 8
devices to test with.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "batch"


def batch_mesh(devices=None) -> Mesh:
    """A 1-D mesh over `devices` (default: all of them) with the axis "batch"."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), (AXIS,))


def should_shard(shard: bool | None) -> bool:
    """None: shard when there is more than one device."""
    return jax.device_count() > 1 if shard is None else bool(shard)


def pad_batch(X0: np.ndarray, halt: np.ndarray, pc_of, multiple: int):
    """Pad the batch [B, ...] to a multiple of `multiple` with idle copies of card 0
    (`pc_of(X)` gives a card's program counter, used as the idle cards' halt address)."""
    B = X0.shape[0]
    extra = -B % multiple
    if not extra:
        return X0, halt
    X0 = np.concatenate([X0, np.repeat(X0[:1], extra, axis=0)])
    halt = np.concatenate([halt, np.full(extra, pc_of(X0[0]), dtype=halt.dtype)])
    return X0, halt


def place(X0, halt, pc_of, mesh: Mesh | None = None, dtype=None):
    """Pad the batch to the mesh size and put it on the mesh, split along the batch axis.
    Returns (X0, halt) as sharded jax arrays; the first B entries are the given cards."""
    mesh = batch_mesh() if mesh is None else mesh
    X0, halt = pad_batch(np.asarray(X0), np.asarray(halt), pc_of, mesh.size)
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    X0 = jax.device_put(jnp.asarray(X0, dtype), sharding)
    halt = jax.device_put(jnp.asarray(halt, jnp.int32), sharding)
    return X0, halt
