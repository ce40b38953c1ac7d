"""The fast evaluation with its hot parts as Pallas kernels.

Everything is kernels/fast.py (the same plan, kernels/plan.py, the same slabs and blocks), except
two pieces that run over all n tokens and dominate fast's cost at large n:

* `read_rest`: a scratch-query head's scores over the non-scratch tokens, their softmax and the
  weighted sum of the values (flash-style: one pass over token blocks with a running maximum, sum
  and accumulator). The scratch tokens' own keys are merged in outside the kernel.
* `rowwise_rest`: the row-wise MLP groups on the non-scratch tokens (error correction, clears),
  elementwise over [features, token block] tiles, from the plan's per-feature tables.

On CPU Pallas runs only in interpret mode (`interpret=True`, chosen automatically); on a GPU the
same kernels lower through Triton (`interpret=False`), with block shapes padded to powers of two.
The kernels use no dot products (everything is elementwise products and sums in float32), so
their results do not depend on the matmul precision; the parts left to XLA use
kernels.common.PRECISION (HIGHEST) like the other backends. The online softmax sums in another
order than fast, so the raw state may differ from fast by float rounding; the decoded state is
identical (checked by tests/kernels/test_kernels.py).
"""

from __future__ import annotations

import contextlib
import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pltriton

from kernels import fast
from kernels.common import matmul

# Token block of the kernels on a GPU (a power of two); on CPU (interpret mode) one block.
GPU_BLOCK = 512
NEG = -1e30  # a finite "minus infinity": exp(NEG - m) == 0 without inf - inf


# The platform the kernels are being lowered for, where that is not the default backend's (see
# `lowering_for`); None: the default backend's.
_lowering_platform: str | None = None


def interpret_mode() -> bool:
    platform = _lowering_platform or jax.default_backend()
    return platform == "cpu"


def _gpu_params():
    """Triton's parameters on a GPU: this JAX lowers a pallas_call without them through Mosaic
    GPU, which takes no vmapped kernel (the runner vmaps one card's step over a batch); found by
    lowering for CUDA on a CPU (tests/kernels/test_cuda_lowering.py). None in interpret mode."""
    return None if interpret_mode() else pltriton.CompilerParams()


@contextlib.contextmanager
def lowering_for(platform: str):
    """Trace the kernels for `platform` ("cuda", "rocm", "cpu") whatever the default backend, so
    that a GPU's lowering (Triton, interpret=False) can be produced and checked on a CPU
    (jax.export with platforms=(platform,): tests/kernels/test_cuda_lowering.py)."""
    global _lowering_platform
    saved, _lowering_platform = _lowering_platform, platform
    try:
        yield
    finally:
        _lowering_platform = saved


def _pow2(x: int) -> int:
    return 1 << max(0, int(x - 1).bit_length())


def _pad_to(x, shape):
    pads = [(0, t - s) for s, t in zip(x.shape, shape)]
    return jnp.pad(x, pads) if any(p for _, p in pads) else x


def _block(t: int) -> int:
    return _pow2(t) if interpret_mode() else min(GPU_BLOCK, _pow2(t))


# ---- scratch-query read-out over the non-scratch tokens --------------------------------------------


def _read_kernel(u_ref, k_ref, v_ref, m_ref, z_ref, acc_ref, *, lam, valid, bn, blocks):
    u = u_ref[...]  # [KR, 1]
    vr = v_ref.shape[0]

    def body(i, carry):
        m, z, acc = carry  # [1], [1], [VR]
        start = pl.multiple_of(i * bn, bn)
        k = k_ref[:, pl.ds(start, bn)]  # [KR, bn]
        v = v_ref[:, pl.ds(start, bn)]  # [VR, bn]
        sc = lam * jnp.sum(u * k, axis=0)  # [bn]
        token = start + jax.lax.broadcasted_iota(jnp.int32, (bn,), 0)
        sc = jnp.where(token < valid, sc, NEG)
        m_new = jnp.maximum(m, jnp.max(sc, axis=0, keepdims=True))
        scale = jnp.exp(m - m_new)
        e = jnp.exp(sc - m_new)  # [bn]
        z = z * scale + jnp.sum(e, axis=0, keepdims=True)
        acc = acc * scale + jnp.sum(e[None, :] * v, axis=1)
        return m_new, z, acc

    init = (jnp.full((1,), NEG, jnp.float32), jnp.zeros((1,), jnp.float32), jnp.zeros((vr,), jnp.float32))
    m, z, acc = jax.lax.fori_loop(0, blocks, body, init)
    m_ref[...] = m
    z_ref[...] = z
    acc_ref[...] = acc


def read_rest(u, KT, VT, lam):
    """For one query (u [kr, 1] = wk q^T): over the tokens of KT [kr, t] and VT [vr, t], the
    running maximum m [1] of the scores lam * u.K, z = sum exp(score - m) [1] and
    acc = sum exp(score - m) V [vr]."""
    (kr, _), (vr, t) = u.shape, VT.shape
    bn = _block(t)
    tp = -(-t // bn) * bn
    KR, VR = _pow2(kr), _pow2(vr)
    dtype = KT.dtype
    u = _pad_to(u.astype(jnp.float32), (KR, 1))
    KT = _pad_to(KT.astype(jnp.float32), (KR, tp))
    VT = _pad_to(VT.astype(jnp.float32), (VR, tp))
    kernel = functools.partial(_read_kernel, lam=float(lam), valid=t, bn=bn, blocks=tp // bn)
    m, z, acc = pl.pallas_call(
        kernel,
        out_shape=(
            jax.ShapeDtypeStruct((1,), jnp.float32),
            jax.ShapeDtypeStruct((1,), jnp.float32),
            jax.ShapeDtypeStruct((VR,), jnp.float32),
        ),
        interpret=interpret_mode(),
        compiler_params=_gpu_params(),
    )(u, KT, VT)
    return m.astype(dtype), z.astype(dtype), acc[:vr].astype(dtype)


def attend_scratch(head: fast.SparseHead, S, T: fast.TokenState, lam):
    """`SparseHead.attend_scratch` with the non-scratch tokens' part in the Pallas kernel."""
    if S.shape[0] != 1:  # the kernel is written for one scratch token
        return head.attend_scratch(S, T, lam)
    q = matmul(S[:, fast.as_index(head.plan.q_rows)], head.wq)  # [1, k]
    u = matmul(head.wk, q.T)  # [kr, 1]
    sc_s = lam * matmul(S[:, fast.as_index(head.plan.k_rows)], u)[:, 0]  # [1] (the scratch key)
    m_r, z_r, acc_r = read_rest(u, T.take(head.plan.k_rows), T.take(head.plan.v_rows), lam)
    m = jnp.maximum(jnp.max(sc_s), m_r[0])
    e_s, c_r = jnp.exp(sc_s - m), jnp.exp(m_r[0] - m)
    z = jnp.sum(e_s) + z_r[0] * c_r
    pooled = e_s @ S[:, fast.as_index(head.plan.v_rows)] + acc_r * c_r  # [vr] (s = 1: no contraction)
    return matmul((pooled / z)[None, :], head.wv)


# ---- row-wise MLP parts on the non-scratch tokens -------------------------------------------------


def _rowwise_kernel(x_ref, cin_ref, bias_ref, cout_ref, linear_ref, b2_ref, o_ref, *, units, linear):
    x = x_ref[...]  # [R, bn]
    out = jnp.broadcast_to(b2_ref[...], x.shape)
    for u in range(units):  # [R, 1] coefficient columns, one per unit
        out = out + jnp.maximum(x * cin_ref[u] + bias_ref[u], 0.0) * cout_ref[u]
    if linear:  # last, as in SparseMLP.rowwise_update
        out = out + x * linear_ref[...]
    o_ref[...] = out


def rowwise_rest(mlp: fast.SparseMLP, x):
    """`SparseMLP.rowwise_update` on feature-major x [R, t] as a Pallas kernel over token blocks
    (the plan's row-wise tables: b2 + sum_u cout_u relu(cin_u x + bias_u) + linear x)."""
    r, t = x.shape
    units = max(1, mlp.units)  # (a group whose units all folded into linear terms: one zero unit)
    R, bn = _pow2(r), _block(t)
    tp = -(-t // bn) * bn
    dtype = x.dtype
    xp = _pad_to(x.astype(jnp.float32), (R, tp))
    table = lambda a: _pad_to(a.T.astype(jnp.float32), (units, R))[:, :, None]  # [U, R, 1]
    column = lambda a: _pad_to(a.astype(jnp.float32), (R,))[:, None]  # [R, 1]
    tables = mlp.rowwise
    out = pl.pallas_call(
        functools.partial(_rowwise_kernel, units=units, linear=mlp.linear),
        out_shape=jax.ShapeDtypeStruct((R, tp), jnp.float32),
        grid=(tp // bn,),
        in_specs=[
            pl.BlockSpec((R, bn), lambda j: (0, j)),
            pl.BlockSpec((units, R, 1), lambda j: (0, 0, 0)),
            pl.BlockSpec((units, R, 1), lambda j: (0, 0, 0)),
            pl.BlockSpec((units, R, 1), lambda j: (0, 0, 0)),
            pl.BlockSpec((R, 1), lambda j: (0, 0)),
            pl.BlockSpec((R, 1), lambda j: (0, 0)),
        ],
        out_specs=pl.BlockSpec((R, bn), lambda j: (0, j)),
        interpret=interpret_mode(),
        compiler_params=_gpu_params(),
    )(xp, table(tables["cin"]), table(tables["bias"]), table(tables["cout"]), column(tables["linear"]),
      column(tables["b2"]))
    return out[:r, :t].astype(dtype)


# ---- the step --------------------------------------------------------------------------------------


def make_step(stack, lam: float, dtype):
    if jnp.dtype(dtype) != jnp.float32:  # the kernels compute in float32; wider words stay in XLA
        return fast.make_step(stack, lam, dtype)
    return fast.make_step(stack, lam, dtype, attend_scratch=attend_scratch, rowwise_rest=rowwise_rest, batch=False)
