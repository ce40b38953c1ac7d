"""C++ source for one instruction on one card, generated from a kernel plan (kernels/plan.py).

The plan is turned into straight-line code for a card of n tokens: every weight is a literal,
every zero weight is left out, every loop over tokens has a constant length, and each MLP group is
one loop over its tokens whose body computes all its units (so the compiler keeps the hidden
values in registers and vectorises along the tokens). kernels/native.py compiles it, once per
machine and card width, into an XLA FFI target.

The code computes the layer formula with the plan's weights: per head a softmax of lam * q.k over
the keys and the values weighted by it, per unit relu(w.x + b). Exact shortcuts only: a softmax
weight exp(a - max) is 1 where a is the maximum and 0 where the exponential underflows, and terms
whose weight is exactly zero are left out. Each card is computed by the same code whatever its
batch, so its result never depends on its companions.

Layout: the card is feature-major, x[f * n + t] (feature f of token t); a batch is [B, d, n].
"""

from __future__ import annotations

import numpy as np

from kernels.plan import HeadPlan, MLPPlan, Plan


def lit(v: float) -> str:
    """A C++ literal of the state's type for a float64 value (rounded like a cast)."""
    v = float(v)
    if v == 0:
        return "T(0)"
    return f"T({v.hex()})"


def _sum(terms: list[str]) -> str:
    return " + ".join(terms) if terms else "T(0)"


class Emitter:
    def __init__(self):
        self.lines: list[str] = []
        self.depth = 1
        self.count = 0

    def __call__(self, line: str = ""):
        self.lines.append("  " * self.depth + line)

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def block(self, head: str):
        self(head + " {")
        self.depth += 1

    def end(self):
        self.depth -= 1
        self("}")


def generate(plan: Plan, lam: float, n: int, ctype: str) -> str:
    s, d = plan.scratch_tokens, plan.d
    e = Emitter()
    X = lambda f, t: f"x[{int(f) * n} + {t}]"  # noqa: E731
    corr = [int(r) for r in plan.corrected_rows]
    moving = plan.moving_health_rows.tolist()
    for li, lay in enumerate(plan.layers):
        e(f"// layer {li}")
        if li == plan.health_layer:
            e("{")
            e(f"  static const int moving[] = {{{', '.join(str(f * n + s) for f in moving) or '0'}}};")
            e(f"  T w = lattice(x, moving, {len(moving)}, {n - s});")
            e("  int bad = 0;")
            for f in corr:  # the scratch tokens: a few values each, inline
                for t in range(s):
                    e(f"  w = distance(x[{f * n + t}], w, bad);")
            e("  *health = bad ? std::numeric_limits<T>::quiet_NaN() : w;")
            e("}")
        adds: list[str] = []  # statements adding the heads' outputs to x (after every head)
        for hi, h in enumerate(lay.heads):
            if h.queries != "others":
                adds += _scratch_head(e, h, lam, n, s, X, f"h{li}_{hi}")
            if h.queries != "scratch":
                adds += _rest_head(e, h, lam, n, s, X, f"r{li}_{hi}")
        for line in adds:
            e(line)
        adds = []
        for gi, g in enumerate(lay.mlps):
            adds += _mlp_group(e, g, n, s, X, f"g{li}_{gi}")
        for line in adds:
            e(line)
    body = "\n".join(e.lines)
    return TEMPLATE.replace("@CTYPE@", ctype).replace("@N@", str(n)).replace("@D@", str(d)).replace("@BODY@", body)


def _scratch_head(e: Emitter, h: HeadPlan, lam: float, n: int, s: int, X, tag: str) -> list[str]:
    """The scratch tokens' read-out: a softmax over every token of the card."""
    adds = []
    for q in range(s):
        out = f"{tag}_q{q}"
        e(f"T {out}[{len(h.v_cols)}];")
        e.block("")
        k = h.wq.shape[1]
        for j in range(k):
            terms = [f"{X(r, q)} * {lit(h.wq[i, j])}" for i, r in enumerate(h.q_rows) if h.wq[i, j] != 0]
            e(f"const T qv{j} = {_sum(terms)};")
        for i in range(len(h.k_rows)):
            terms = [f"{lit(h.wk[i, j])} * qv{j}" for j in range(k) if h.wk[i, j] != 0]
            e(f"const T u{i} = {lit(lam)} * ({_sum(terms)});")
        e(f"alignas(64) T sc[{n}];")
        e.block(f"for (int t = 0; t < {n}; ++t)")
        terms = [f"u{i} * {X(r, 't')}" for i, r in enumerate(h.k_rows)]
        e(f"sc[t] = {_sum(terms)};")
        e.end()
        e(f"const T m = largest(sc, {n});")
        e("T z = T(0);")
        for i in range(len(h.v_rows)):
            e(f"T p{i} = T(0);")
        e.block(f"for (int t = 0; t < {n}; ++t)")
        e("const T a = sc[t] - m;")
        e("if (a < CUT) continue;  // a zero weight adds nothing")
        e("const T w = weight(a);")
        e("z += w;")
        for i, r in enumerate(h.v_rows):
            e(f"p{i} += w * {X(r, 't')};")
        e.end()
        for c in range(len(h.v_cols)):
            terms = [f"(p{i} / z) * {lit(h.wv[i, c])}" for i in range(len(h.v_rows)) if h.wv[i, c] != 0]
            e(f"{out}[{c}] = {_sum(terms)};")
        e.end()
        adds += [f"x[{int(col) * n} + {q}] += {out}[{c}];" for c, col in enumerate(h.v_cols)]
    return adds


def _rest_head(e: Emitter, h: HeadPlan, lam: float, n: int, s: int, X, tag: str) -> list[str]:
    """The other tokens' read-out: a softmax over the scratch tokens and the token itself."""
    M = h.bilinear
    vc, r_n = len(h.v_cols), n - s
    out = f"{tag}_out"
    e(f"alignas(64) T {out}[{vc}][{r_n}];")
    e.block("")
    for j in range(s):  # per scratch key: lam * M x_j (the query's coefficients) and its value
        for a in range(len(h.q_rows)):
            terms = [f"{lit(M[a, b])} * {X(r, j)}" for b, r in enumerate(h.k_rows) if M[a, b] != 0]
            e(f"const T U{j}_{a} = {lit(lam)} * ({_sum(terms)});")
        for c in range(vc):
            terms = [f"{lit(h.wv[i, c])} * {X(r, j)}" for i, r in enumerate(h.v_rows) if h.wv[i, c] != 0]
            e(f"const T V{j}_{c} = {_sum(terms)};")
    e(f"alignas(64) T sj[{s}][{r_n}], sf[{r_n}], mx[{r_n}];")
    e.block(f"for (int i = 0; i < {r_n}; ++i)")
    e(f"const int t = i + {s};")
    for j in range(s):
        terms = [f"U{j}_{a} * {X(r, 't')}" for a, r in enumerate(h.q_rows)]
        e(f"sj[{j}][i] = {_sum(terms)};")
    terms = [f"{lit(lam * M[a, b])} * ({X(h.q_rows[a], 't')} * {X(h.k_rows[b], 't')})"
             for a in range(M.shape[0]) for b in range(M.shape[1]) if M[a, b] != 0]
    e(f"sf[i] = {_sum(terms)};")
    e("T m = sf[i];")
    for j in range(s):
        e(f"m = sj[{j}][i] > m ? sj[{j}][i] : m;")
    e("mx[i] = m;")
    e.end()
    e(f"alignas(64) T ej[{s}][{r_n}], es[{r_n}], zz[{r_n}];")
    e(f"weights(sf, mx, es, {r_n});")
    for j in range(s):
        e(f"weights(sj[{j}], mx, ej[{j}], {r_n});")
    e.block(f"for (int i = 0; i < {r_n}; ++i)")
    e(f"const int t = i + {s};")
    e(f"const T z = {_sum(['es[i]'] + [f'ej[{j}][i]' for j in range(s)])};")
    for c in range(vc):
        vt = [f"{lit(h.wv[i, c])} * {X(r, 't')}" for i, r in enumerate(h.v_rows) if h.wv[i, c] != 0]
        scratch = [f"ej[{j}][i] * V{j}_{c}" for j in range(s)]
        e(f"{out}[{c}][i] = ({_sum(scratch)} + es[i] * ({_sum(vt)})) / z;")
    e.end()
    e.end()
    return [f"add_row(x + {int(col) * n + s}, {out}[{c}], {r_n});" for c, col in enumerate(h.v_cols)]


def _mlp_group(e: Emitter, g: MLPPlan, n: int, s: int, X, tag: str) -> list[str]:
    """One MLP group: a loop over its tokens computing every unit; the update is added to x after
    every group of the layer has read the attention's result."""
    tokens = n if g.tokens == "all" else s
    cols = [int(c) for c in g.out_cols]
    out = f"{tag}_u"
    e(f"alignas(64) T {out}[{len(cols)}][{tokens}];")
    e.block(f"for (int t = 0; t < {tokens}; ++t)")
    if g.rowwise is not None:
        tb = g.rowwise
        for i, f in enumerate(g.in_rows):
            e(f"const T x{i} = {X(f, 't')};")
            expr = lit(tb["b2"][i])
            for u in range(tb["cin"].shape[1]):
                if tb["cout"][i, u] == 0:
                    continue
                expr = f"({expr} + relu(x{i} * {lit(tb['cin'][i, u])} + {lit(tb['bias'][i, u])}) * {lit(tb['cout'][i, u])})"
            if tb["linear"][i] != 0:
                expr = f"({expr} + x{i} * {lit(tb['linear'][i])})"
            e(f"{out}[{i}][t] = {expr};")
    else:
        units = range(g.w1.shape[1])
        for u in units:
            ins = np.flatnonzero(g.w1[:, u])
            terms = [f"{lit(g.w1[i, u])} * {X(g.in_rows[i], 't')}" for i in ins]
            expr = f"({_sum(terms)}) + {lit(g.b1[u])}" if len(ins) else lit(g.b1[u])
            e(f"const T h{u} = relu({expr});")
        for o in range(len(cols)):
            terms = [f"{lit(g.w2[u, o])} * h{u}" for u in units if g.w2[u, o] != 0]
            e(f"{out}[{o}][t] = {_sum(terms)} + {lit(g.b2[o])};")
    e.end()
    return [f"add_row(x + {c * n}, {out}[{o}], {tokens});" for o, c in enumerate(cols)]


TEMPLATE = r"""// Generated by kernels/native_gen.py: one instruction on one card. Do not edit.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

typedef @CTYPE@ T;
constexpr int N = @N@;
constexpr int D = @D@;
// exp(a) is exactly 0 below this (float: -104, double: -746)
constexpr T CUT = sizeof(T) == 4 ? T(-104) : T(-746);

inline T relu(T v) { return v > T(0) ? v : T(0); }

// A softmax weight exp(a), a <= 0: 1 at the maximum, 0 below the underflow point (no call).
inline T weight(T a) {
  if (a == T(0)) return T(1);
  if (a < CUT) return T(0);
  return std::exp(a);
}

inline void weights(const T* s, const T* m, T* out, int len) {
  for (int i = 0; i < len; ++i) out[i] = weight(s[i] - m[i]);
}

inline T largest(const T* v, int len) {  // 16 running maxima (vectorises)
  T lane[16];
  for (int l = 0; l < 16; ++l) lane[l] = v[0];
  int i = 0;
  for (; i + 16 <= len; i += 16)
    for (int l = 0; l < 16; ++l) lane[l] = v[i + l] > lane[l] ? v[i + l] : lane[l];
  for (; i < len; ++i) lane[0] = v[i] > lane[0] ? v[i] : lane[0];
  T m = lane[0];
  for (int l = 1; l < 16; ++l) m = lane[l] > m ? lane[l] : m;
  return m;
}

inline void add_row(T* __restrict dst, const T* __restrict src, int len) {
  for (int i = 0; i < len; ++i) dst[i] += src[i];
}

// max(w, the distance of v from {-1, 0, 1}); `bad` set where that distance is NaN
inline T distance(T v, T w, int& bad) {
  T r = std::rint(v);
  r = r < T(-1) ? T(-1) : (r > T(1) ? T(1) : r);
  const T dist = std::fabs(v - r);
  bad |= dist != dist;
  return dist > w ? dist : w;
}

// the largest distance from {-1, 0, 1} of x[b + t], t < len, for every offset b in `bs` (NaN
// wins): 16 running maxima and a NaN flag, so that the loop vectorises
inline T lattice(const T* x, const int* bs, int nb, int len) {
  T lane[16];
  int bad[16];
  for (int l = 0; l < 16; ++l) { lane[l] = T(0); bad[l] = 0; }
  for (int k = 0; k < nb; ++k) {
    const T* v = x + bs[k];
    int i = 0;
    for (; i + 16 <= len; i += 16)
      for (int l = 0; l < 16; ++l) lane[l] = distance(v[i + l], lane[l], bad[l]);
    for (; i < len; ++i) lane[i & 15] = distance(v[i], lane[i & 15], bad[i & 15]);
  }
  T w = T(0);
  for (int l = 0; l < 16; ++l) {
    if (bad[l]) return std::numeric_limits<T>::quiet_NaN();
    w = lane[l] > w ? lane[l] : w;
  }
  return w;
}

void card_step(T* __restrict x, T* __restrict health) {
@BODY@
}

ffi::Error step(ffi::AnyBuffer state, ffi::Buffer<ffi::PRED> active, ffi::Result<ffi::AnyBuffer> out,
                ffi::Result<ffi::AnyBuffer> health, int64_t threads) {
  auto dims = state.dimensions();
  if (dims.size() != 3 || dims[1] != D || dims[2] != N)
    return ffi::Error::InvalidArgument("state must be [B, d, n] of this machine");
  const int64_t B = dims[0];
  T* xo = static_cast<T*>(out->untyped_data());
  const T* xi = static_cast<const T*>(state.untyped_data());
  if (xo != xi) std::memcpy(xo, xi, sizeof(T) * B * D * N);
  T* hp = static_cast<T*>(health->untyped_data());
  const bool* act = active.typed_data();
  int used = 1;
#ifdef _OPENMP
  used = threads > 0 ? int(threads) : omp_get_max_threads();
  if (B < 2) used = 1;
  // dynamic: where another process holds a core, the threads that run take the remaining cards
  // instead of waiting for a preempted one at the end
#pragma omp parallel for num_threads(used) schedule(dynamic, 4) if (used > 1)
#endif
  for (int64_t b = 0; b < B; ++b) {
    hp[b] = T(0);
    if (act[b]) card_step(xo + b * D * N, hp + b);
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(LoopedCardStep, step,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("threads"));
"""
