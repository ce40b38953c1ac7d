// One instruction of a looped transformer on a batch of cards, evaluated from a kernel plan
// (kernels/plan.py, encoded by kernels/native.py). Registered with XLA as an FFI target.
//
// The state is feature-major across the batch, x[d][B][n]: for every feature, the tokens of all
// cards lie one after another, so per-token work (MLP units, row-wise correction, the write
// head's per-token softmax) runs along contiguous memory, and per-card work (the scratch
// queries' softmax over a card's tokens) along contiguous runs of n. Every card is computed by
// the same sequence of floating-point operations whatever its batch, so a card's result never
// depends on its companions (the build disables FMA contraction and fast-math).
//
// The formula is the layer's (looped/layers.py): per head a softmax over keys of lam * q.k, the
// values weighted by it; per MLP unit relu(w.x + b). Two exact shortcuts: a softmax weight
// exp(s - max) whose argument lies below the exponential's underflow point is 0 without calling
// exp, and terms whose weight is exactly 0 are left out of the sums (0 * x adds nothing for
// finite x).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>
#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

template <typename T> struct Cut;
template <> struct Cut<float> { static constexpr float value = -104.0f; };   // expf(x) == 0 below
template <> struct Cut<double> { static constexpr double value = -746.0; };  // exp(x) == 0 below

// A softmax weight exp(a), a <= 0: exp(0) is 1 and exp below the underflow point is 0 exactly, so
// those need no call.
template <typename T>
inline T weight(T a) {
  if (a == 0) return T(1);
  if (a < Cut<T>::value) return T(0);
  return std::exp(a);
}

struct Reader {
  const int32_t* p;
  int32_t next() { return *p++; }
  const int32_t* take(int32_t k) { const int32_t* q = p; p += k; return q; }
};

template <typename T>
struct FReader {
  const T* p;
  T next() { return *p++; }
  const T* take(int32_t k) { const T* q = p; p += k; return q; }
};

// Per-thread workspace, reused across calls.
template <typename T>
struct Work {
  std::vector<T> buf;
  T* get(size_t k) { if (buf.size() < k) buf.resize(k); return buf.data(); }
};

template <typename T>
struct Card {  // where one range of cards lives
  T* x;        // x[d][B][n]
  int64_t B, n;
  int64_t b0, nb;  // cards [b0, b0 + nb)
  T* row(int32_t f) const { return x + (int64_t)f * B * n + b0 * n; }  // feature f, this range's tokens
};

template <typename T>
void evaluate(const int32_t* plan_i, const T* plan_f, const Card<T>& c, const uint8_t* active, T* health_out,
              int64_t s) {
  Reader ri{plan_i};
  FReader<T> rf{plan_f};
  const int64_t n = c.n, nb = c.nb, tokens = nb * n;
  ri.next();  // version
  const int32_t d = ri.next();
  ri.next();  // scratch tokens (given)
  const int32_t n_layers = ri.next();
  const int32_t health_layer = ri.next();
  // health rows: every corrected row on the scratch tokens; on the others only those some layer
  // writes there (the rest keep their distance from the lattice, measured when a run opens)
  const int32_t n_corr = ri.next();
  const int32_t* corr = ri.take(n_corr);
  const int32_t n_moving = ri.next();
  const int32_t* moving = ri.take(n_moving);
  const T lam = rf.next();
  (void)d;

  static thread_local Work<T> w_out, w_tmp, w_scr, w_e;
  static thread_local std::vector<int32_t> nz;

  for (int32_t layer = 0; layer < n_layers; ++layer) {
    if (layer == health_layer) {
      // The largest distance from {-1, 0, 1} over the corrected rows (NaN counts as the largest):
      // 16 running maxima along the tokens, then one (a max does not depend on the order).
      for (int64_t b = 0; b < nb; ++b) {
        T lane[16];
        for (int l = 0; l < 16; ++l) lane[l] = 0;
        for (int32_t k = 0; k < n_corr + n_moving; ++k) {
          const bool scratch_part = k < n_corr;
          const T* v = c.row(scratch_part ? corr[k] : moving[k - n_corr]) + b * n + (scratch_part ? 0 : s);
          const int64_t len = scratch_part ? s : n - s;
          int64_t t = 0;
          for (; t + 16 <= len; t += 16)
            for (int l = 0; l < 16; ++l) {
              T r = std::rint(v[t + l]);
              r = r < T(-1) ? T(-1) : (r > T(1) ? T(1) : r);
              const T dist = std::fabs(v[t + l] - r);
              lane[l] = (dist > lane[l] || dist != dist) ? dist : lane[l];
            }
          for (; t < len; ++t) {
            T r = std::rint(v[t]);
            r = r < T(-1) ? T(-1) : (r > T(1) ? T(1) : r);
            const T dist = std::fabs(v[t] - r);
            lane[0] = (dist > lane[0] || dist != dist) ? dist : lane[0];
          }
        }
        T worst = 0;
        for (int l = 0; l < 16; ++l) worst = (lane[l] > worst || lane[l] != lane[l]) ? lane[l] : worst;
        health_out[b] = worst;
      }
    }
    const int32_t n_heads = ri.next();
    const int32_t n_groups = ri.next();
    const int32_t out_rows = ri.next();  // rows of the head-output buffer this layer needs
    // Head outputs: per head, scratch part [vc][nb*s] then rest part [vc][nb*(n-s)].
    T* out = w_out.get((size_t)std::max<int64_t>(out_rows, 1) * tokens);
    int64_t out_at = 0;
    struct Pending { int32_t vc; const int32_t* cols; int64_t at; bool rest; };
    static thread_local std::vector<Pending> pending;
    pending.clear();
    for (int32_t h = 0; h < n_heads; ++h) {
      const int32_t on_scratch = ri.next(), on_rest = ri.next();
      const int32_t qr = ri.next(), kr = ri.next(), vr = ri.next(), vc = ri.next(), k = ri.next();
      const int32_t* q_rows = ri.take(qr);
      const int32_t* k_rows = ri.take(kr);
      const int32_t* v_rows = ri.take(vr);
      const int32_t* v_cols = ri.take(vc);
      const int32_t n_wv = ri.next();
      const int32_t* wv_rc = ri.take(2 * n_wv);  // (value row position, value column position)
      const T* wq = rf.take(qr * k);
      const T* wk = rf.take(kr * k);
      const T* wv = rf.take(n_wv);
      if (on_scratch) {
        T* o = out + out_at;
        pending.push_back({vc, v_cols, out_at, false});
        out_at += (int64_t)vc * nb * s;
        T* sc = w_tmp.get(n + 2 * (kr + vr + k));
        T* qv = sc + n;
        T* u = qv + k;
        T* pooled = u + kr;
        for (int64_t b = 0; b < nb; ++b) {
          for (int64_t q = 0; q < s; ++q) {
            for (int32_t j = 0; j < k; ++j) qv[j] = 0;
            for (int32_t r = 0; r < qr; ++r) {
              const T xq = c.row(q_rows[r])[b * n + q];
              if (xq != 0) for (int32_t j = 0; j < k; ++j) qv[j] += xq * wq[r * k + j];
            }
            for (int32_t r = 0; r < kr; ++r) {
              T acc = 0;
              for (int32_t j = 0; j < k; ++j) acc += wk[r * k + j] * qv[j];
              u[r] = lam * acc;
            }
            for (int64_t t = 0; t < n; ++t) sc[t] = 0;
            for (int32_t r = 0; r < kr; ++r) {
              const T ur = u[r];
              if (ur == 0) continue;
              const T* xr = c.row(k_rows[r]) + b * n;
              for (int64_t t = 0; t < n; ++t) sc[t] += ur * xr[t];
            }
            T m = -std::numeric_limits<T>::infinity();
            {
              T lane[16];
              for (int l = 0; l < 16; ++l) lane[l] = m;
              int64_t t = 0;
              for (; t + 16 <= n; t += 16)
                for (int l = 0; l < 16; ++l) lane[l] = sc[t + l] > lane[l] ? sc[t + l] : lane[l];
              for (; t < n; ++t) lane[0] = sc[t] > lane[0] ? sc[t] : lane[0];
              for (int l = 0; l < 16; ++l) m = lane[l] > m ? lane[l] : m;
            }
            nz.clear();
            T z = 0;
            for (int64_t t = 0; t < n; ++t) {
              const T a = sc[t] - m;
              if (!(a < Cut<T>::value)) { sc[t] = weight<T>(a); z += sc[t]; nz.push_back((int32_t)t); }
            }
            for (int32_t r = 0; r < vr; ++r) {
              const T* xr = c.row(v_rows[r]) + b * n;
              T acc = 0;
              for (int32_t t : nz) acc += sc[t] * xr[t];
              pooled[r] = acc / z;
            }
            for (int32_t j = 0; j < vc; ++j) o[(int64_t)j * nb * s + b * s + q] = 0;
            for (int32_t e = 0; e < n_wv; ++e)
              o[(int64_t)wv_rc[2 * e + 1] * nb * s + b * s + q] += pooled[wv_rc[2 * e]] * wv[e];
          }
        }
      }
      if (on_rest) {
        // keys: the scratch tokens and the query itself
        const int32_t n_m = ri.next();
        const int32_t* m_rc = ri.take(2 * n_m);  // (q position, k position)
        const T* mcoef = rf.take(n_m);
        const int64_t r_n = n - s;
        T* o = out + out_at;
        pending.push_back({vc, v_cols, out_at, true});
        out_at += (int64_t)vc * nb * r_n;
        T* scr = w_scr.get((size_t)(2 * s + 3) * r_n + (size_t)s * (qr + vc) + (size_t)vc * r_n);
        T* self = scr + s * r_n;
        T* U = self + r_n;
        T* vs = U + s * qr;
        T* vt = vs + s * vc;
        T* mx = vt + (int64_t)vc * r_n;
        T* es = mx + r_n;
        T* ej = es + r_n;
        for (int64_t b = 0; b < nb; ++b) {
          const int64_t base = b * n;
          for (int64_t j = 0; j < s; ++j) {
            T* Uj = U + j * qr;
            for (int32_t r = 0; r < qr; ++r) Uj[r] = 0;
            for (int32_t e = 0; e < n_m; ++e) Uj[m_rc[2 * e]] += mcoef[e] * c.row(k_rows[m_rc[2 * e + 1]])[base + j];
            T* sj = scr + j * r_n;
            for (int64_t t = 0; t < r_n; ++t) sj[t] = 0;
            for (int32_t r = 0; r < qr; ++r) {
              const T ur = lam * Uj[r];
              if (ur == 0) continue;
              const T* xr = c.row(q_rows[r]) + base + s;
              for (int64_t t = 0; t < r_n; ++t) sj[t] += ur * xr[t];
            }
            T* vj = vs + j * vc;
            for (int32_t q = 0; q < vc; ++q) vj[q] = 0;
            for (int32_t e = 0; e < n_wv; ++e) vj[wv_rc[2 * e + 1]] += wv[e] * c.row(v_rows[wv_rc[2 * e]])[base + j];
          }
          for (int64_t t = 0; t < r_n; ++t) self[t] = 0;
          for (int32_t e = 0; e < n_m; ++e) {
            const T* xq = c.row(q_rows[m_rc[2 * e]]) + base + s;
            const T* xk = c.row(k_rows[m_rc[2 * e + 1]]) + base + s;
            const T coef = lam * mcoef[e];
            for (int64_t t = 0; t < r_n; ++t) self[t] += coef * (xq[t] * xk[t]);
          }
          for (int64_t t = 0; t < (int64_t)vc * r_n; ++t) vt[t] = 0;
          for (int32_t e = 0; e < n_wv; ++e) {
            const T* xv = c.row(v_rows[wv_rc[2 * e]]) + base + s;
            T* dst = vt + (int64_t)wv_rc[2 * e + 1] * r_n;
            const T coef = wv[e];
            for (int64_t t = 0; t < r_n; ++t) dst[t] += coef * xv[t];
          }
          // softmax over the scratch keys and the query itself, per token: the largest weight is
          // exp(0) = 1, weights below the underflow point are 0; exp is called only in between
          // (`hard` tokens), with the same result as calling it everywhere.
          for (int64_t t = 0; t < r_n; ++t) mx[t] = self[t];
          for (int64_t j = 0; j < s; ++j) {
            const T* sj = scr + j * r_n;
            for (int64_t t = 0; t < r_n; ++t) mx[t] = sj[t] > mx[t] ? sj[t] : mx[t];
          }
          int any_hard = 0;
          for (int64_t t = 0; t < r_n; ++t) {
            const T a = self[t] - mx[t];
            any_hard |= !(a == 0 || a < Cut<T>::value);
            es[t] = a == 0 ? T(1) : T(0);
          }
          for (int64_t j = 0; j < s; ++j) {
            const T* sj = scr + j * r_n;
            T* e = ej + j * r_n;
            for (int64_t t = 0; t < r_n; ++t) {
              const T a = sj[t] - mx[t];
              any_hard |= !(a == 0 || a < Cut<T>::value);
              e[t] = a == 0 ? T(1) : T(0);
            }
          }
          if (any_hard) {
            for (int64_t t = 0; t < r_n; ++t) {
              es[t] = weight<T>(self[t] - mx[t]);
              for (int64_t j = 0; j < s; ++j) ej[j * r_n + t] = weight<T>(scr[j * r_n + t] - mx[t]);
            }
          }
          // normaliser: e_self + e_0 + e_1 + ... (mx now holds it)
          for (int64_t t = 0; t < r_n; ++t) mx[t] = es[t];
          for (int64_t j = 0; j < s; ++j) {
            const T* e = ej + j * r_n;
            for (int64_t t = 0; t < r_n; ++t) mx[t] += e[t];
          }
          // read-out: (0 + e_0 v_0 + e_1 v_1 + ... + e_self v_self) / z, per output column
          for (int32_t q = 0; q < vc; ++q) {
            T* oq = o + (int64_t)q * nb * r_n + b * r_n;
            const T* vq = vt + (int64_t)q * r_n;
            for (int64_t t = 0; t < r_n; ++t) oq[t] = 0;
            for (int64_t j = 0; j < s; ++j) {
              const T* e = ej + j * r_n;
              const T v = vs[j * vc + q];
              for (int64_t t = 0; t < r_n; ++t) oq[t] += e[t] * v;
            }
            for (int64_t t = 0; t < r_n; ++t) oq[t] = (oq[t] + es[t] * vq[t]) / mx[t];
          }
        }
      }
    }
    // The residual: add every head's output.
    for (const Pending& p : pending) {
      for (int32_t q = 0; q < p.vc; ++q) {
        T* xr = c.row(p.cols[q]);
        if (!p.rest) {
          const T* src = out + p.at + (int64_t)q * nb * s;
          for (int64_t b = 0; b < nb; ++b)
            for (int64_t t = 0; t < s; ++t) xr[b * n + t] += src[b * s + t];
        } else {
          const int64_t r_n = n - s;
          const T* src = out + p.at + (int64_t)q * nb * r_n;
          for (int64_t b = 0; b < nb; ++b)
            for (int64_t t = 0; t < r_n; ++t) xr[b * n + s + t] += src[b * r_n + t];
        }
      }
    }
    // The MLP: every group reads the attention's result A and adds its update afterwards.
    const int32_t upd_rows = ri.next();
    T* upd = w_out.get((size_t)std::max<int64_t>(std::max<int64_t>(out_rows, upd_rows), 1) * tokens);
    struct Update { int32_t cols_n; const int32_t* cols; int64_t at; bool all; };
    static thread_local std::vector<Update> updates;
    updates.clear();
    int64_t upd_at = 0;
    for (int32_t g = 0; g < n_groups; ++g) {
      const bool all = ri.next() == 1;
      const int32_t kind = ri.next();
      // The group's tokens as contiguous rows: all tokens of the range in place, or the scratch
      // tokens gathered.
      const int64_t gt = all ? tokens : nb * s;
      auto feature = [&](int32_t f, T* gathered) -> const T* {
        if (all) return c.row(f);
        const T* src = c.row(f);
        for (int64_t b = 0; b < nb; ++b)
          for (int64_t t = 0; t < s; ++t) gathered[b * s + t] = src[b * n + t];
        return gathered;
      };
      T* gather = w_e.get((size_t)gt * 2);
      if (kind == 0) {  // row-wise
        const int32_t R = ri.next(), Uu = ri.next();
        const int32_t* rows = ri.take(R);
        const T* cin = rf.take(R * Uu);
        const T* bias = rf.take(R * Uu);
        const T* cout = rf.take(R * Uu);
        const T* linear = rf.take(R);
        const T* b2 = rf.take(R);
        T* o = upd + upd_at;
        updates.push_back({R, rows, upd_at, all});
        upd_at += (int64_t)R * gt;
        for (int32_t i = 0; i < R; ++i) {
          const T* xr = feature(rows[i], gather);
          T* dst = o + (int64_t)i * gt;
          const T lin = linear[i], bb = b2[i];
          // b2 + sum_u relu(cin x + bias) cout + linear x, in that order (kernels/plan.py)
          for (int64_t t = 0; t < gt; ++t) dst[t] = bb;
          for (int32_t u = 0; u < Uu; ++u) {
            const T a = cin[i * Uu + u], bu = bias[i * Uu + u], cu = cout[i * Uu + u];
            if (cu == 0) continue;
            for (int64_t t = 0; t < gt; ++t) {
              const T hdn = a * xr[t] + bu;
              dst[t] += (hdn > 0 ? hdn : T(0)) * cu;
            }
          }
          if (lin != 0) for (int64_t t = 0; t < gt; ++t) dst[t] += xr[t] * lin;
        }
      } else {  // general: unit by unit
        const int32_t n_in = ri.next();
        const int32_t* in_rows = ri.take(n_in);
        const int32_t n_out = ri.next();
        const int32_t* out_cols = ri.take(n_out);
        const int32_t n_units = ri.next();
        T* o = upd + upd_at;
        updates.push_back({n_out, out_cols, upd_at, all});
        upd_at += (int64_t)n_out * gt;
        const T* b2 = rf.take(n_out);
        for (int32_t q = 0; q < n_out; ++q)
          for (int64_t t = 0; t < gt; ++t) o[(int64_t)q * gt + t] = b2[q];
        // inputs gathered once (scratch groups) or pointed at (all tokens)
        static thread_local std::vector<const T*> in;
        in.resize(n_in);
        T* inbuf = all ? nullptr : w_scr.get((size_t)n_in * gt + 1);
        for (int32_t i = 0; i < n_in; ++i) {
          if (all) in[i] = c.row(in_rows[i]);
          else { feature(in_rows[i], inbuf + (int64_t)i * gt); in[i] = inbuf + (int64_t)i * gt; }
        }
        if (gt < 16) {
          // Few tokens (the scratch tokens of a few cards): token by token, every unit in turn
          // (the same operations per token as the unit-by-unit loops below, without their
          // per-loop cost).
          const int32_t* units_i = ri.p;
          const T* units_f = rf.p;
          for (int64_t t = 0; t < gt; ++t) {
            ri.p = units_i;
            rf.p = units_f;
            for (int32_t u = 0; u < n_units; ++u) {
              const int32_t ni = ri.next();
              const int32_t* ins = ri.take(ni);
              const int32_t no = ri.next();
              const int32_t* outs = ri.take(no);
              const T bu = rf.next();
              const T* cin = rf.take(ni);
              const T* cout = rf.take(no);
              T h;
              if (ni == 0) h = bu;
              else {
                h = cin[0] * in[ins[0]][t];
                for (int32_t i = 1; i < ni; ++i) h += cin[i] * in[ins[i]][t];
                h = h + bu;
              }
              h = h > 0 ? h : T(0);
              for (int32_t j = 0; j < no; ++j) o[(int64_t)outs[j] * gt + t] += cout[j] * h;
            }
          }
          if (gt == 0) {  // still walk past the units
            for (int32_t u = 0; u < n_units; ++u) {
              const int32_t ni = ri.next(); ri.take(ni);
              const int32_t no = ri.next(); ri.take(no);
              rf.take(1 + ni + no);
            }
          }
        } else {
          T* hid = gather;
          for (int32_t u = 0; u < n_units; ++u) {
            const int32_t ni = ri.next();
            const int32_t* ins = ri.take(ni);
            const int32_t no = ri.next();
            const int32_t* outs = ri.take(no);
            const T bu = rf.next();
            const T* cin = rf.take(ni);
            const T* cout = rf.take(no);
            if (ni == 0) {
              for (int64_t t = 0; t < gt; ++t) hid[t] = bu > 0 ? bu : T(0);
            } else {
              const T* x0 = in[ins[0]];
              const T c0 = cin[0];
              for (int64_t t = 0; t < gt; ++t) hid[t] = c0 * x0[t];
              for (int32_t i = 1; i < ni; ++i) {
                const T* xi = in[ins[i]];
                const T ci = cin[i];
                for (int64_t t = 0; t < gt; ++t) hid[t] += ci * xi[t];
              }
              for (int64_t t = 0; t < gt; ++t) { const T hdn = hid[t] + bu; hid[t] = hdn > 0 ? hdn : T(0); }
            }
            for (int32_t j = 0; j < no; ++j) {
              T* dst = o + (int64_t)outs[j] * gt;
              const T cj = cout[j];
              for (int64_t t = 0; t < gt; ++t) dst[t] += cj * hid[t];
            }
          }
        }
      }
    }
    for (const Update& p : updates) {
      const int64_t gt = p.all ? tokens : nb * s;
      for (int32_t q = 0; q < p.cols_n; ++q) {
        T* xr = c.row(p.cols[q]);
        const T* src = upd + p.at + (int64_t)q * gt;
        if (p.all) { for (int64_t t = 0; t < gt; ++t) xr[t] += src[t]; }
        else {
          for (int64_t b = 0; b < nb; ++b)
            for (int64_t t = 0; t < s; ++t) xr[b * n + t] += src[b * s + t];
        }
      }
    }
  }
}

// The same instruction for cards [b0, b0 + nb) of a batch held batch-innermost, x[d][n][B]:
// every loop runs along the cards (vectorised across them), and each card gets exactly the
// operations it gets in `evaluate` above (the same sums in the same order; terms left out there
// are exact zeros here), so both layouts give every card the same bits.
template <typename T>
struct Lanes {
  T* x;
  int64_t B, n, b0, nb;
  T* at(int32_t f, int64_t t) const { return x + ((int64_t)f * n + t) * B + b0; }
};

template <typename T>
void evaluate_lanes(const int32_t* plan_i, const T* plan_f, const Lanes<T>& c, T* health_out, int64_t s) {
  Reader ri{plan_i};
  FReader<T> rf{plan_f};
  const int64_t n = c.n, nb = c.nb;
  ri.next();
  ri.next();
  ri.next();
  const int32_t n_layers = ri.next();
  const int32_t health_layer = ri.next();
  const int32_t n_corr = ri.next();
  const int32_t* corr = ri.take(n_corr);
  const int32_t n_moving = ri.next();
  const int32_t* moving = ri.take(n_moving);
  const T lam = rf.next();

  static thread_local Work<T> w_out, w_upd, w_a;
  struct Pending { int32_t vc; const int32_t* cols; int64_t at; bool rest; };
  struct Update { int32_t cols_n; const int32_t* cols; int64_t at; int64_t tokens; };
  static thread_local std::vector<Pending> pending;
  static thread_local std::vector<Update> updates;

  for (int32_t layer = 0; layer < n_layers; ++layer) {
    if (layer == health_layer) {
      T* worst = health_out;
      for (int64_t b = 0; b < nb; ++b) worst[b] = 0;
      for (int32_t k = 0; k < n_corr + n_moving; ++k) {
        const bool scratch_part = k < n_corr;
        const int32_t f = scratch_part ? corr[k] : moving[k - n_corr];
        for (int64_t t = scratch_part ? 0 : s; t < (scratch_part ? s : n); ++t) {
          const T* v = c.at(f, t);
          for (int64_t b = 0; b < nb; ++b) {
            T r = std::rint(v[b]);
            r = r < T(-1) ? T(-1) : (r > T(1) ? T(1) : r);
            const T dist = std::fabs(v[b] - r);
            worst[b] = (dist > worst[b] || dist != dist) ? dist : worst[b];
          }
        }
      }
    }
    const int32_t n_heads = ri.next();
    const int32_t n_groups = ri.next();
    const int32_t out_rows = ri.next();
    T* out = w_out.get((size_t)std::max<int32_t>(out_rows, 1) * n * nb);
    int64_t out_at = 0;
    pending.clear();
    for (int32_t h = 0; h < n_heads; ++h) {
      const int32_t on_scratch = ri.next(), on_rest = ri.next();
      const int32_t qr = ri.next(), kr = ri.next(), vr = ri.next(), vc = ri.next(), k = ri.next();
      const int32_t* q_rows = ri.take(qr);
      const int32_t* k_rows = ri.take(kr);
      const int32_t* v_rows = ri.take(vr);
      const int32_t* v_cols = ri.take(vc);
      const int32_t n_wv = ri.next();
      const int32_t* wv_rc = ri.take(2 * n_wv);
      const T* wq = rf.take(qr * k);
      const T* wk = rf.take(kr * k);
      const T* wv = rf.take(n_wv);
      if (on_scratch) {
        T* o = out + out_at;  // [vc][s][nb]
        pending.push_back({vc, v_cols, out_at, false});
        out_at += (int64_t)vc * s * nb;
        T* sc = w_a.get((size_t)nb * (n + k + kr + vr + 3));
        T* qv = sc + n * nb;
        T* u = qv + k * nb;
        T* pooled = u + kr * nb;
        T* m = pooled + vr * nb;
        T* z = m + nb;
        T* acc = z + nb;
        for (int64_t q = 0; q < s; ++q) {
          for (int64_t i = 0; i < k * nb; ++i) qv[i] = 0;
          for (int32_t r = 0; r < qr; ++r) {
            const T* xq = c.at(q_rows[r], q);
            for (int32_t j = 0; j < k; ++j) {
              const T w = wq[r * k + j];
              T* dst = qv + j * nb;
              for (int64_t b = 0; b < nb; ++b) dst[b] += xq[b] * w;
            }
          }
          for (int32_t r = 0; r < kr; ++r) {
            for (int64_t b = 0; b < nb; ++b) acc[b] = 0;
            for (int32_t j = 0; j < k; ++j) {
              const T w = wk[r * k + j];
              const T* src = qv + j * nb;
              for (int64_t b = 0; b < nb; ++b) acc[b] += w * src[b];
            }
            T* ur = u + r * nb;
            for (int64_t b = 0; b < nb; ++b) ur[b] = lam * acc[b];
          }
          for (int64_t i = 0; i < n * nb; ++i) sc[i] = 0;
          for (int32_t r = 0; r < kr; ++r) {
            const T* ur = u + r * nb;
            for (int64_t t = 0; t < n; ++t) {
              const T* xr = c.at(k_rows[r], t);
              T* dst = sc + t * nb;
              for (int64_t b = 0; b < nb; ++b) dst[b] += ur[b] * xr[b];
            }
          }
          for (int64_t b = 0; b < nb; ++b) m[b] = -std::numeric_limits<T>::infinity();
          for (int64_t t = 0; t < n; ++t) {
            const T* st = sc + t * nb;
            for (int64_t b = 0; b < nb; ++b) m[b] = st[b] > m[b] ? st[b] : m[b];
          }
          int any_hard = 0;
          for (int64_t t = 0; t < n; ++t) {
            T* st = sc + t * nb;
            for (int64_t b = 0; b < nb; ++b) {
              const T a = st[b] - m[b];
              any_hard |= !(a == 0 || a < Cut<T>::value);
              st[b] = a == 0 ? T(1) : T(0);
            }
          }
          if (any_hard) {  // recompute every weight exactly (rare: near-ties)
            for (int64_t i = 0; i < n * nb; ++i) sc[i] = 0;
            for (int32_t r = 0; r < kr; ++r) {
              const T* ur = u + r * nb;
              for (int64_t t = 0; t < n; ++t) {
                const T* xr = c.at(k_rows[r], t);
                T* dst = sc + t * nb;
                for (int64_t b = 0; b < nb; ++b) dst[b] += ur[b] * xr[b];
              }
            }
            for (int64_t t = 0; t < n; ++t)
              for (int64_t b = 0; b < nb; ++b) sc[t * nb + b] = weight<T>(sc[t * nb + b] - m[b]);
          }
          for (int64_t b = 0; b < nb; ++b) z[b] = 0;
          for (int64_t t = 0; t < n; ++t) {
            const T* e = sc + t * nb;
            for (int64_t b = 0; b < nb; ++b) z[b] += e[b];
          }
          for (int32_t r = 0; r < vr; ++r) {
            T* pr = pooled + r * nb;
            for (int64_t b = 0; b < nb; ++b) pr[b] = 0;
            for (int64_t t = 0; t < n; ++t) {
              const T* e = sc + t * nb;
              const T* xr = c.at(v_rows[r], t);
              for (int64_t b = 0; b < nb; ++b) pr[b] += e[b] * xr[b];
            }
            for (int64_t b = 0; b < nb; ++b) pr[b] = pr[b] / z[b];
          }
          for (int32_t j = 0; j < vc; ++j) {
            T* dst = o + ((int64_t)j * s + q) * nb;
            for (int64_t b = 0; b < nb; ++b) dst[b] = 0;
          }
          for (int32_t e = 0; e < n_wv; ++e) {
            T* dst = o + ((int64_t)wv_rc[2 * e + 1] * s + q) * nb;
            const T* pr = pooled + wv_rc[2 * e] * nb;
            const T w = wv[e];
            for (int64_t b = 0; b < nb; ++b) dst[b] += pr[b] * w;
          }
        }
      }
      if (on_rest) {
        const int32_t n_m = ri.next();
        const int32_t* m_rc = ri.take(2 * n_m);
        const T* mcoef = rf.take(n_m);
        const int64_t r_n = n - s;
        T* o = out + out_at;  // [vc][n - s][nb]
        pending.push_back({vc, v_cols, out_at, true});
        out_at += (int64_t)vc * r_n * nb;
        T* U = w_a.get((size_t)nb * (s * qr + s * vc + 2 * s + vc + 4));
        T* vs = U + s * qr * nb;
        T* sj = vs + s * vc * nb;    // [s][nb]
        T* ej = sj + s * nb;         // [s][nb]
        T* self = ej + s * nb;
        T* vt = self + nb;           // [vc][nb]
        T* mx = vt + vc * nb;
        T* es = mx + nb;
        T* zz = es + nb;
        for (int64_t j = 0; j < s; ++j) {
          T* Uj = U + j * qr * nb;
          for (int64_t i = 0; i < qr * nb; ++i) Uj[i] = 0;
          for (int32_t e = 0; e < n_m; ++e) {
            T* dst = Uj + m_rc[2 * e] * nb;
            const T* xk = c.at(k_rows[m_rc[2 * e + 1]], j);
            const T w = mcoef[e];
            for (int64_t b = 0; b < nb; ++b) dst[b] += w * xk[b];
          }
          for (int64_t i = 0; i < qr * nb; ++i) Uj[i] = lam * Uj[i];
          T* vj = vs + j * vc * nb;
          for (int64_t i = 0; i < vc * nb; ++i) vj[i] = 0;
          for (int32_t e = 0; e < n_wv; ++e) {
            T* dst = vj + wv_rc[2 * e + 1] * nb;
            const T* xv = c.at(v_rows[wv_rc[2 * e]], j);
            const T w = wv[e];
            for (int64_t b = 0; b < nb; ++b) dst[b] += w * xv[b];
          }
        }
        for (int64_t t = s; t < n; ++t) {
          for (int64_t j = 0; j < s; ++j) {
            T* sjj = sj + j * nb;
            for (int64_t b = 0; b < nb; ++b) sjj[b] = 0;
            const T* Uj = U + j * qr * nb;
            for (int32_t r = 0; r < qr; ++r) {
              const T* xr = c.at(q_rows[r], t);
              const T* ur = Uj + r * nb;
              for (int64_t b = 0; b < nb; ++b) sjj[b] += ur[b] * xr[b];
            }
          }
          for (int64_t b = 0; b < nb; ++b) self[b] = 0;
          for (int32_t e = 0; e < n_m; ++e) {
            const T* xq = c.at(q_rows[m_rc[2 * e]], t);
            const T* xk = c.at(k_rows[m_rc[2 * e + 1]], t);
            const T w = lam * mcoef[e];
            for (int64_t b = 0; b < nb; ++b) self[b] += w * (xq[b] * xk[b]);
          }
          for (int64_t i = 0; i < vc * nb; ++i) vt[i] = 0;
          for (int32_t e = 0; e < n_wv; ++e) {
            const T* xv = c.at(v_rows[wv_rc[2 * e]], t);
            T* dst = vt + wv_rc[2 * e + 1] * nb;
            const T w = wv[e];
            for (int64_t b = 0; b < nb; ++b) dst[b] += w * xv[b];
          }
          for (int64_t b = 0; b < nb; ++b) mx[b] = self[b];
          for (int64_t j = 0; j < s; ++j)
            for (int64_t b = 0; b < nb; ++b) mx[b] = sj[j * nb + b] > mx[b] ? sj[j * nb + b] : mx[b];
          int any_hard = 0;
          for (int64_t b = 0; b < nb; ++b) {
            const T a = self[b] - mx[b];
            any_hard |= !(a == 0 || a < Cut<T>::value);
            es[b] = a == 0 ? T(1) : T(0);
          }
          for (int64_t j = 0; j < s; ++j)
            for (int64_t b = 0; b < nb; ++b) {
              const T a = sj[j * nb + b] - mx[b];
              any_hard |= !(a == 0 || a < Cut<T>::value);
              ej[j * nb + b] = a == 0 ? T(1) : T(0);
            }
          if (any_hard) {
            for (int64_t b = 0; b < nb; ++b) {
              es[b] = weight<T>(self[b] - mx[b]);
              for (int64_t j = 0; j < s; ++j) ej[j * nb + b] = weight<T>(sj[j * nb + b] - mx[b]);
            }
          }
          for (int64_t b = 0; b < nb; ++b) zz[b] = es[b];
          for (int64_t j = 0; j < s; ++j)
            for (int64_t b = 0; b < nb; ++b) zz[b] += ej[j * nb + b];
          for (int32_t q = 0; q < vc; ++q) {
            T* oq = o + ((int64_t)q * r_n + (t - s)) * nb;
            for (int64_t b = 0; b < nb; ++b) oq[b] = 0;
            for (int64_t j = 0; j < s; ++j) {
              const T* e = ej + j * nb;
              const T* v = vs + (j * vc + q) * nb;
              for (int64_t b = 0; b < nb; ++b) oq[b] += e[b] * v[b];
            }
            const T* vq = vt + q * nb;
            for (int64_t b = 0; b < nb; ++b) oq[b] = (oq[b] + es[b] * vq[b]) / zz[b];
          }
        }
      }
    }
    for (const Pending& p : pending) {
      const int64_t t0 = p.rest ? s : 0, tn = p.rest ? n - s : s;
      for (int32_t q = 0; q < p.vc; ++q)
        for (int64_t t = 0; t < tn; ++t) {
          T* xr = c.at(p.cols[q], t0 + t);
          const T* src = out + p.at + ((int64_t)q * tn + t) * nb;
          for (int64_t b = 0; b < nb; ++b) xr[b] += src[b];
        }
    }
    const int32_t upd_rows = ri.next();
    T* upd = w_upd.get((size_t)std::max<int32_t>(upd_rows, 1) * n * nb);
    int64_t upd_at = 0;
    updates.clear();
    for (int32_t g = 0; g < n_groups; ++g) {
      const bool all = ri.next() == 1;
      const int32_t kind = ri.next();
      const int64_t tn = all ? n : s;  // tokens 0 .. tn
      if (kind == 0) {
        const int32_t R = ri.next(), Uu = ri.next();
        const int32_t* rows = ri.take(R);
        const T* cin = rf.take(R * Uu);
        const T* bias = rf.take(R * Uu);
        const T* cout = rf.take(R * Uu);
        const T* linear = rf.take(R);
        const T* b2 = rf.take(R);
        T* o = upd + upd_at;
        updates.push_back({R, rows, upd_at, tn});
        upd_at += (int64_t)R * tn * nb;
        for (int32_t i = 0; i < R; ++i) {
          const T lin = linear[i], bb = b2[i];
          for (int64_t t = 0; t < tn; ++t) {
            const T* xr = c.at(rows[i], t);
            T* dst = o + ((int64_t)i * tn + t) * nb;
            for (int64_t b = 0; b < nb; ++b) dst[b] = bb;
            for (int32_t u = 0; u < Uu; ++u) {
              const T a = cin[i * Uu + u], bu = bias[i * Uu + u], cu = cout[i * Uu + u];
              if (cu == 0) continue;
              for (int64_t b = 0; b < nb; ++b) {
                const T hdn = a * xr[b] + bu;
                dst[b] += (hdn > 0 ? hdn : T(0)) * cu;
              }
            }
            if (lin != 0) for (int64_t b = 0; b < nb; ++b) dst[b] += xr[b] * lin;
          }
        }
      } else {
        const int32_t n_in = ri.next();
        const int32_t* in_rows = ri.take(n_in);
        const int32_t n_out = ri.next();
        const int32_t* out_cols = ri.take(n_out);
        const int32_t n_units = ri.next();
        T* o = upd + upd_at;
        updates.push_back({n_out, out_cols, upd_at, tn});
        upd_at += (int64_t)n_out * tn * nb;
        const T* b2 = rf.take(n_out);
        for (int32_t q = 0; q < n_out; ++q)
          for (int64_t i = 0; i < tn * nb; ++i) o[(int64_t)q * tn * nb + i] = b2[q];
        T* hid = w_a.get((size_t)nb);
        for (int32_t u = 0; u < n_units; ++u) {
          const int32_t ni = ri.next();
          const int32_t* ins = ri.take(ni);
          const int32_t no = ri.next();
          const int32_t* outs = ri.take(no);
          const T bu = rf.next();
          const T* cin = rf.take(ni);
          const T* cout = rf.take(no);
          for (int64_t t = 0; t < tn; ++t) {
            if (ni == 0) {
              for (int64_t b = 0; b < nb; ++b) hid[b] = bu > 0 ? bu : T(0);
            } else {
              const T* x0 = c.at(in_rows[ins[0]], t);
              const T c0 = cin[0];
              for (int64_t b = 0; b < nb; ++b) hid[b] = c0 * x0[b];
              for (int32_t i = 1; i < ni; ++i) {
                const T* xi = c.at(in_rows[ins[i]], t);
                const T ci = cin[i];
                for (int64_t b = 0; b < nb; ++b) hid[b] += ci * xi[b];
              }
              for (int64_t b = 0; b < nb; ++b) { const T hdn = hid[b] + bu; hid[b] = hdn > 0 ? hdn : T(0); }
            }
            for (int32_t j = 0; j < no; ++j) {
              T* dst = o + ((int64_t)outs[j] * tn + t) * nb;
              const T cj = cout[j];
              for (int64_t b = 0; b < nb; ++b) dst[b] += cj * hid[b];
            }
          }
        }
      }
    }
    for (const Update& p : updates)
      for (int32_t q = 0; q < p.cols_n; ++q)
        for (int64_t t = 0; t < p.tokens; ++t) {
          T* xr = c.at(p.cols[q], t);
          const T* src = upd + p.at + ((int64_t)q * p.tokens + t) * nb;
          for (int64_t b = 0; b < nb; ++b) xr[b] += src[b];
        }
  }
}

template <typename T>
ffi::Error run(ffi::AnyBuffer x, ffi::Buffer<ffi::S32> plan_i, ffi::AnyBuffer plan_f, ffi::Buffer<ffi::PRED> active,
               ffi::Result<ffi::AnyBuffer> x_out, ffi::Result<ffi::AnyBuffer> health, int64_t s, int64_t threads,
               int64_t lanes) {
  auto dims = x.dimensions();
  if (dims.size() != 3) return ffi::Error::InvalidArgument("state must be [d, B, n] or [d, n, B]");
  const int64_t d = dims[0], B = lanes ? dims[2] : dims[1], n = lanes ? dims[1] : dims[2];
  T* xo = static_cast<T*>(x_out->untyped_data());
  const T* xi = static_cast<const T*>(x.untyped_data());
  if (xo != xi) std::memcpy(xo, xi, sizeof(T) * d * B * n);
  T* hp = static_cast<T*>(health->untyped_data());
  const bool* act = active.typed_data();
  const int32_t* pi = plan_i.typed_data();
  const T* pf = static_cast<const T*>(plan_f.untyped_data());
  int64_t used = threads;
#ifdef _OPENMP
  if (used <= 0) used = omp_get_max_threads();
#else
  used = 1;
#endif
  if (lanes) {
    // Every card is evaluated (the loops run along the cards); the stopped ones are put back.
    std::vector<int64_t> stopped;
    for (int64_t b = 0; b < B; ++b)
      if (!act[b]) stopped.push_back(b);
    if ((int64_t)stopped.size() == B) {
      for (int64_t b = 0; b < B; ++b) hp[b] = 0;
      return ffi::Error::Success();
    }
    std::vector<T> saved(stopped.size() * d * n);
    for (size_t k = 0; k < stopped.size(); ++k)
      for (int64_t i = 0; i < d * n; ++i) saved[k * d * n + i] = xo[i * B + stopped[k]];
    const int64_t parts = (used > 1 && B >= 32) ? used : 1;
    const int64_t per = ((B + parts - 1) / parts + 15) / 16 * 16;
#ifdef _OPENMP
#pragma omp parallel for num_threads(parts) schedule(static, 1) if (parts > 1)
#endif
    for (int64_t k = 0; k < parts; ++k) {
      const int64_t b0 = k * per, nb = std::min(per, B - b0);
      if (nb > 0) {
        Lanes<T> c{xo, B, n, b0, nb};
        evaluate_lanes<T>(pi, pf, c, hp + b0, s);
      }
    }
    for (size_t k = 0; k < stopped.size(); ++k) {
      for (int64_t i = 0; i < d * n; ++i) xo[i * B + stopped[k]] = saved[k * d * n + i];
      hp[stopped[k]] = 0;
    }
    return ffi::Error::Success();
  }
  // Card-major: cards in runs of active ones (the stopped ones are left as they are).
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (int64_t b = 0; b < B;) {
    if (!act[b]) { hp[b] = 0; ++b; continue; }
    int64_t e = b;
    while (e < B && act[e]) ++e;
    ranges.push_back({b, e - b});
    b = e;
  }
  int64_t total = 0;
  for (auto& r : ranges) total += r.second;
  if (used > 1 && total >= 2) {
    std::vector<std::pair<int64_t, int64_t>> pieces;
    const int64_t per = (total + used - 1) / used;
    for (auto& r : ranges)
      for (int64_t b = r.first; b < r.first + r.second; b += per)
        pieces.push_back({b, std::min(per, r.first + r.second - b)});
#ifdef _OPENMP
#pragma omp parallel for num_threads(used) schedule(static, 1)
#endif
    for (int64_t k = 0; k < (int64_t)pieces.size(); ++k) {
      Card<T> c{xo, B, n, pieces[k].first, pieces[k].second};
      evaluate<T>(pi, pf, c, nullptr, hp + pieces[k].first, s);
    }
  } else {
    for (auto& r : ranges) {
      Card<T> c{xo, B, n, r.first, r.second};
      evaluate<T>(pi, pf, c, nullptr, hp + r.first, s);
    }
  }
  return ffi::Error::Success();
}

ffi::Error step(ffi::AnyBuffer x, ffi::Buffer<ffi::S32> plan_i, ffi::AnyBuffer plan_f, ffi::Buffer<ffi::PRED> active,
                ffi::Result<ffi::AnyBuffer> x_out, ffi::Result<ffi::AnyBuffer> health, int64_t scratch, int64_t threads,
                int64_t lanes) {
  if (x.element_type() == ffi::DataType::F32)
    return run<float>(x, plan_i, plan_f, active, x_out, health, scratch, threads, lanes);
  if (x.element_type() == ffi::DataType::F64)
    return run<double>(x, plan_i, plan_f, active, x_out, health, scratch, threads, lanes);
  return ffi::Error::InvalidArgument("state must be float32 or float64");
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(LoopedStep, step,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("scratch")
                                  .Attr<int64_t>("threads")
                                  .Attr<int64_t>("lanes"));
