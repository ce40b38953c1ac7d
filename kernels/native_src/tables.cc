// ---- the table form: the plan's weights as data, walked by loops (kernels/native_tables.py) ----
//
// The same expressions, in the same order, as the literal form (kernels/native_gen.py), so a card's
// result is the same bit for bit in either form: every sum is the literal form's balanced tree of
// its nonzero terms (`tree`), and the heads and MLP groups add their updates in the same order.
// Each function is written once for W cards along the lanes: W = L is the lanes form
// (x[(f * NP + t) * L + l]), W = 1 one card (x[f * NP + t]), whose loops over the tokens then run
// 16 tokens at a time.
//
// The tables (generated): a sum is a range of terms [TS[s], TS[s + 1]), each term an index TI
// (a feature, or the position of an earlier value), a weight TC, and for some sums a second index
// TJ and two more weights TB, TD. ML holds lists: ML[o] their length, then their entries.

// Each function works on V values at once ("lanes"), a token's values at x + (f * NP + t) * S:
// the lanes form is V = S = L (the lanes: a group's cards); one card is S = 1, with V = 16 for
// loops over the tokens (the lanes: 16 neighbouring tokens, as the literal one-card code
// vectorises them) and V = 1 for one token (a scratch token's read-outs, per-card values).
#define LANES for (int l = 0; l < V; ++l)
// Tokens at a time in the one-card form (NP is a multiple of it)
constexpr int TOKEN_BLOCK = 16;

inline int list_size(int o) { return ML[o]; }
inline int list_at(int o, int i) { return ML[o + 1 + i]; }

// Room for n values, 64-byte aligned, for one place in the code (PLACE) and lane count (W): kept by
// each thread and grown, never shrunk. (Allocated and freed per instruction, the large ones came
// from fresh pages each time: the kernel's page clearing was 12 % of a FLEQ instruction.) No
// function that takes room calls itself, so each place's room is in use once at a time.
template <int PLACE, int W>
inline T* room(size_t n) {
  thread_local std::vector<T> kept;
  if (kept.size() < n + 64 / sizeof(T)) kept.resize(n + 64 / sizeof(T));
  const uintptr_t at = reinterpret_cast<uintptr_t>(kept.data());
  return reinterpret_cast<T*>((at + 63) / 64 * 64);
}

template <int S>
inline T* cell(T* x, int f, int t) { return x + (size_t(f) * NP + t) * S; }

// b[0..k) summed as a balanced tree (pairs of neighbours, an odd last carried up), as `_sum` does
template <int V>
inline void tree(T (*b)[V], int k, T* __restrict out) {
  if (k == 0) {
    LANES out[l] = T(0);
    return;
  }
  while (k > 1) {
    int h = 0;
    for (int i = 0; i + 1 < k; i += 2, ++h) {
      alignas(64) T sum[V];  // (through a local: b[h] may be b[i], and GCC would not vectorise)
      LANES sum[l] = b[i][l] + b[i + 1][l];
      LANES b[h][l] = sum[l];
    }
    if (k & 1) {
      LANES b[h][l] = b[k - 1][l];
      ++h;
    }
    k = h;
  }
  LANES out[l] = b[0][l];
}

// 16 lanes (one card's block of tokens) as GCC vectors: the generic loops stayed scalar at -O2
template <>
inline void tree<16>(T (*b)[16], int k, T* __restrict out) {
  if (k == 0) {
    for (int l = 0; l < 16; ++l) out[l] = T(0);
    return;
  }
  while (k > 1) {
    int h = 0;
    for (int i = 0; i + 1 < k; i += 2, ++h) {
      const V16 sum = load16(b[i]) + load16(b[i + 1]);
      std::memcpy(b[h], &sum, sizeof(V16));
    }
    if (k & 1) {
      std::memmove(b[h], b[k - 1], sizeof(V16));
      ++h;
    }
    k = h;
  }
  std::memcpy(out, b[0], sizeof(V16));
}

// sum s over features of token t (its V lanes): the tree of x[TI, t] * TC
template <int V, int S>
inline void feature_sum(T* x, int t, int s, T (*b)[V], T* __restrict out) {
  int k = 0;
  for (int i = TS[s]; i < TS[s + 1]; ++i, ++k) {
    const T* __restrict v = cell<S>(x, TI[i], t);
    const T c = TC[i];
    LANES b[k][l] = v[l] * c;
  }
  tree<V>(b, k, out);
}

// sum s over values v[TI] (each V lanes): the tree of TC * v[TI]
template <int V>
inline void value_sum(const T (*v)[V], int s, T (*b)[V], T* __restrict out) {
  int k = 0;
  for (int i = TS[s]; i < TS[s + 1]; ++i, ++k) {
    const T c = TC[i];
    LANES b[k][l] = c * v[TI[i]][l];
  }
  tree<V>(b, k, out);
}

// `lanes_largest`, `lanes_total`, `lanes_dot` for V lanes (the one-card code's order: 16 running
// values over the tokens, combined by halves)
template <int V>
inline void w_largest(const T (*v)[V], T* __restrict out) {
  alignas(64) T m[16][V];
  for (int j = 0; j < 16; ++j) LANES m[j][l] = v[j][l];
  for (int i = 16; i < NP; i += 16)
    for (int j = 0; j < 16; ++j) LANES m[j][l] = v[i + j][l] > m[j][l] ? v[i + j][l] : m[j][l];
  for (int half = 8; half >= 2; half /= 2)
    for (int j = 0; j < half; ++j) LANES m[j][l] = m[j + half][l] > m[j][l] ? m[j + half][l] : m[j][l];
  LANES out[l] = m[1][l] > m[0][l] ? m[1][l] : m[0][l];
}

template <int V>
inline void w_reduce(T (*a)[V], T* __restrict out) {
  for (int half = 8; half >= 2; half /= 2)
    for (int j = 0; j < half; ++j) LANES a[j][l] += a[j + half][l];
  LANES out[l] = a[0][l] + a[1][l];
}

template <int V>
inline void w_total(const T (*v)[V], T* __restrict out) {
  alignas(64) T a[16][V];
  for (int j = 0; j < 16; ++j) LANES a[j][l] = v[j][l];
  for (int i = 16; i < NP; i += 16)
    for (int j = 0; j < 16; ++j) LANES a[j][l] += v[i + j][l];
  w_reduce<V>(a, out);
}

template <int V>
inline void w_dot(const T (*w)[V], const T* __restrict row, T* __restrict out) {
  alignas(64) T a[16][V];
  for (int j = 0; j < 16; ++j) LANES a[j][l] = w[j][l] * row[j * V + l];
  for (int i = 16; i < NP; i += 16)
    for (int j = 0; j < 16; ++j) LANES a[j][l] += w[i + j][l] * row[(i + j) * V + l];
  w_reduce<V>(a, out);
}

// One card: the one-card code's own reductions (`largest`, `total`, and `dots`' order with its 16
// running sums as one vector): the generic ones stayed scalar at -O2 (half a FLEQ instruction)
template <>
inline void w_largest<1>(const T (*v)[1], T* __restrict out) { *out = largest(&v[0][0]); }

template <>
inline void w_total<1>(const T (*v)[1], T* __restrict out) { *out = total(&v[0][0]); }

template <>
inline void w_dot<1>(const T (*w)[1], const T* __restrict row, T* __restrict out) {
  V16 acc = load16(&w[0][0]) * load16(row);
  for (int t = 16; t < NP; t += 16) acc += load16(&w[t][0]) * load16(row + t);
  alignas(64) T lane[16];
  std::memcpy(lane, &acc, sizeof(V16));
  *out = reduce(lane);
}

// A scratch head (queries on the scratch tokens, keys on every token). Lists and sums in ML / TS:
// qv (per query column, over the query rows), u (per key row, over qv), k_rows, v_rows, out (per
// value column, over the reads), v_cols.
struct ScratchHead { int qv, u, k_rows, v_rows, out, v_cols; };

// A rest head (queries on the other tokens, keys on the scratch tokens and the token itself):
// U (per query row, over key features), V (per value column, over value features), q_rows, sf
// (the token's own score: TC * x[TI] * x[TJ]), v_cols.
struct RestHead { int U, V, q_rows, sf, v_cols; };

// Head h's read-out on scratch token q, its outputs into o[c] (W: the cards along the lanes, L or 1)
template <int W>
void scratch_head(T* x, int q, const ScratchHead& h, T (*o)[W], T (*b)[W], T (*bt)[TOKEN_BLOCK]) {
  const int nq = list_size(h.qv), nk = list_size(h.k_rows), nv = list_size(h.v_rows);
  T* const space = room<0, W>(size_t(nq + nk + nv + NP + 1) * W);
  T (*qv)[W] = reinterpret_cast<T (*)[W]>(space);
  T (*u)[W] = qv + nq;
  T (*read)[W] = u + nk;
  T (*w)[W] = read + nv;
  T* z = reinterpret_cast<T*>(w + NP);
  for (int j = 0; j < nq; ++j) feature_sum<W, W>(x, q, list_at(h.qv, j), b, qv[j]);
  for (int i = 0; i < nk; ++i) {
    value_sum<W>(qv, list_at(h.u, i), b, u[i]);
    for (int l = 0; l < W; ++l) u[i][l] = LAM * u[i][l];
  }
  if (W > 1) {
    for (int t = 0; t < N; ++t) {
      for (int i = 0; i < nk; ++i) {
        const T* v = cell<W>(x, list_at(h.k_rows, i), t);
        for (int l = 0; l < W; ++l) b[i][l] = u[i][l] * v[l];
      }
      tree<W>(b, nk, w[t]);
    }
  } else {  // one card: a block of tokens at a time (the padding's scores are overwritten below)
    for (int t0 = 0; t0 < NP; t0 += TOKEN_BLOCK) {
      for (int i = 0; i < nk; ++i) {
        const T* v = cell<1>(x, list_at(h.k_rows, i), t0);
        const T c = u[i][0];
        for (int l = 0; l < TOKEN_BLOCK; ++l) bt[i][l] = c * v[l];
      }
      tree<TOKEN_BLOCK>(bt, nk, reinterpret_cast<T*>(w + t0));
    }
  }
  for (int t = N; t < NP; ++t)
    for (int l = 0; l < W; ++l) w[t][l] = -std::numeric_limits<T>::infinity();  // padding: weight 0
  alignas(64) T most[W];
  w_largest<W>(w, most);
  for (int t = 0; t < NP; ++t)
    for (int l = 0; l < W; ++l) w[t][l] = weight(w[t][l] - most[l]);
  w_total<W>(w, z);
  for (int i = 0; i < nv; ++i) {
    w_dot<W>(w, cell<W>(x, list_at(h.v_rows, i), 0), read[i]);
    for (int l = 0; l < W; ++l) read[i][l] = read[i][l] / z[l];
  }
  const int nc = list_size(h.v_cols);
  for (int c = 0; c < nc; ++c) value_sum<W>(read, list_at(h.out, c), b, o[c]);
}

// A rest head's read-out on V lanes of tokens (t: the token, or the first of a block; the head's
// per-card keys U[j * na + a], V[j * nc + c] with W lanes each, read at lane l, or at lane 0 when
// W = 1 for every lane) into o[c]
template <int V, int S, int W>
inline void rest_token(T* x, int t, const RestHead& h, const T (*U)[W], const T (*Vk)[W], T (*o)[V], T (*b)[V]) {
  const int na = list_size(h.q_rows), nc = list_size(h.v_cols);
  auto key = [](const T (*K)[W], int i, int l) { return W == 1 ? K[i][0] : K[i][l]; };
  alignas(64) T s[S_TOKENS][V], e[S_TOKENS][V], p[S_TOKENS][V];
  alignas(64) T sf[V], es[V], z[V], ps[V];
  for (int j = 0; j < S_TOKENS; ++j) {
    for (int a = 0; a < na; ++a) {
      const T* __restrict v = cell<S>(x, list_at(h.q_rows, a), t);
      LANES b[a][l] = key(U, j * na + a, l) * v[l];
    }
    tree<V>(b, na, s[j]);
  }
  {
    const int s0 = list_at(h.sf, 0);
    int k = 0;
    for (int i = TS[s0]; i < TS[s0 + 1]; ++i, ++k) {
      const T* va = cell<S>(x, TI[i], t);
      const T* vb = cell<S>(x, TJ[i], t);
      const T c = TC[i];
      LANES b[k][l] = c * (va[l] * vb[l]);
    }
    tree<V>(b, k, sf);
  }
  if (S_TOKENS == 1) {  // one of the two weights is exp(0) = 1: one exponential
    LANES {
      const T sj0 = s[0][l];
      const T ew = weight(sj0 > sf[l] ? sf[l] - sj0 : sj0 - sf[l]);
      es[l] = sj0 > sf[l] ? ew : T(1);
      e[0][l] = sj0 > sf[l] ? T(1) : ew;
    }
  } else {
    LANES {
      T m = sf[l];
      for (int j = 0; j < S_TOKENS; ++j) m = s[j][l] > m ? s[j][l] : m;
      es[l] = weight(sf[l] - m);
      for (int j = 0; j < S_TOKENS; ++j) e[j][l] = weight(s[j][l] - m);
    }
  }
  LANES b[0][l] = es[l];
  for (int j = 0; j < S_TOKENS; ++j) LANES b[j + 1][l] = e[j][l];
  tree<V>(b, S_TOKENS + 1, z);
  LANES ps[l] = es[l] / z[l];
  for (int j = 0; j < S_TOKENS; ++j) LANES p[j][l] = e[j][l] / z[l];
  for (int c = 0; c < nc; ++c) {
    alignas(64) T scratch[V], own[V];
    for (int j = 0; j < S_TOKENS; ++j) LANES b[j][l] = p[j][l] * key(Vk, j * nc + c, l);
    tree<V>(b, S_TOKENS, scratch);
    feature_sum<V, S>(x, t, list_at(h.V, c), b, own);
    LANES o[c][l] = scratch[l] + ps[l] * own[l];
  }
}

// Rest head h on the tokens [S_TOKENS, N): with `direct` each token's outputs are added to it at
// once, else kept in staged[(c * N + t) * W + l] and added later
template <int W>
void rest_head(T* x, const RestHead& h, bool direct, T* staged, T (*b)[W], T (*bt)[TOKEN_BLOCK]) {
  const int na = list_size(h.q_rows), nc = list_size(h.v_cols);
  T* const space = room<1, W>(size_t(S_TOKENS * (na + nc)) * W + size_t(nc) * TOKEN_BLOCK * (W > 1 ? W : 1) + 64);
  T (*U)[W] = reinterpret_cast<T (*)[W]>(space);  // U[j * na + a]
  T (*Vk)[W] = U + S_TOKENS * na;  // V[j * nc + c]
  for (int j = 0; j < S_TOKENS; ++j) {
    for (int a = 0; a < na; ++a) {
      feature_sum<W, W>(x, j, list_at(h.U, a), b, U[j * na + a]);
      for (int l = 0; l < W; ++l) U[j * na + a][l] = LAM * U[j * na + a][l];
    }
    for (int c = 0; c < nc; ++c) feature_sum<W, W>(x, j, list_at(h.V, c), b, Vk[j * nc + c]);
  }
  T* out = reinterpret_cast<T*>(Vk + S_TOKENS * nc);
  if (W > 1) {
    T (*o)[W] = reinterpret_cast<T (*)[W]>(out);
    for (int t = S_TOKENS; t < N; ++t) {
      rest_token<W, W, W>(x, t, h, U, Vk, o, b);
      for (int c = 0; c < nc; ++c) {
        if (direct) {
          T* v = cell<W>(x, list_at(h.v_cols, c), t);
          for (int l = 0; l < W; ++l) v[l] += o[c][l];
        } else {
          for (int l = 0; l < W; ++l) staged[(size_t(c) * N + t) * W + l] = o[c][l];
        }
      }
    }
    return;
  }
  // one card: a block of tokens at a time (the scratch and padding tokens' values computed and dropped)
  T (*o)[TOKEN_BLOCK] = reinterpret_cast<T (*)[TOKEN_BLOCK]>(out);
  for (int t0 = 0; t0 < NP; t0 += TOKEN_BLOCK) {
    rest_token<TOKEN_BLOCK, 1, W>(x, t0, h, U, Vk, o, bt);
    for (int c = 0; c < nc; ++c)
      for (int l = 0; l < TOKEN_BLOCK; ++l) {
        const int t = t0 + l;
        if (t < S_TOKENS || t >= N) continue;
        if (direct) cell<1>(x, list_at(h.v_cols, c), t)[0] += o[c][l];
        else staged[size_t(c) * N + t] = o[c][l];
      }
  }
}

// A layer's heads, in the literal form's order: the scratch heads' outputs (staged), the rest
// heads (the last one adding in its loop, the others staged), the scratch heads' updates, then
// the staged rest heads' updates
template <int W>
void layer_heads(T* x, const ScratchHead* sh, int nsh, const RestHead* rh, int nrh) {
  T* const space = room<2, W>(size_t(MAX_TERMS) * (W + TOKEN_BLOCK));
  T (*b)[W] = reinterpret_cast<T (*)[W]>(space);
  T (*bt)[TOKEN_BLOCK] = reinterpret_cast<T (*)[TOKEN_BLOCK]>(space + size_t(MAX_TERMS) * W);
  size_t scratch_outputs = 0, rest_outputs = 0;
  for (int k = 0; k < nsh; ++k) scratch_outputs += size_t(S_TOKENS) * list_size(sh[k].v_cols);
  for (int k = 0; k + 1 < nrh; ++k) rest_outputs += size_t(list_size(rh[k].v_cols)) * N;
  T* const staged = room<3, W>((scratch_outputs + rest_outputs + 1) * W);
  T (*so)[W] = reinterpret_cast<T (*)[W]>(staged);
  T* ro = staged + scratch_outputs * W;
  {
    T (*o)[W] = so;
    for (int k = 0; k < nsh; ++k)
      for (int q = 0; q < S_TOKENS; ++q) {
        scratch_head<W>(x, q, sh[k], o, b, bt);
        o += list_size(sh[k].v_cols);
      }
  }
  {
    T* r = ro;
    for (int k = 0; k < nrh; ++k) {
      rest_head<W>(x, rh[k], k == nrh - 1, r, b, bt);
      if (k + 1 < nrh) r += size_t(list_size(rh[k].v_cols)) * N * W;
    }
  }
  {
    T (*o)[W] = so;
    for (int k = 0; k < nsh; ++k)
      for (int q = 0; q < S_TOKENS; ++q) {
        const int nc = list_size(sh[k].v_cols);
        for (int c = 0; c < nc; ++c) {
          T* v = cell<W>(x, list_at(sh[k].v_cols, c), q);
          for (int l = 0; l < W; ++l) v[l] += o[c][l];
        }
        o += nc;
      }
  }
  {
    const T* r = ro;
    for (int k = 0; k + 1 < nrh; ++k) {
      const int nc = list_size(rh[k].v_cols);
      for (int c = 0; c < nc; ++c)
        for (int t = S_TOKENS; t < N; ++t) {
          T* v = cell<W>(x, list_at(rh[k].v_cols, c), t);
          for (int l = 0; l < W; ++l) v[l] += r[(size_t(c) * N + t) * W + l];
        }
      r += size_t(nc) * N * W;
    }
  }
}

// An MLP group. Row-wise (rowwise = 1): per row (ML list `rows`) a sum (ML list `units`) of terms
// of kinds TI: 0 a constant TC, 1 relu(x TC) TD, 2 relu(x TC + TB) TD, 3 a linear term x TC.
// General: per unit a sum (`units`) over its input features (TI), its bias TV[ubias + u] and how it
// enters (ML list `ukind`: 0 not, 1 added, 2 the unit has no inputs: relu(bias)); per output a sum
// (`outs`) over the units (TI) and its bias TV[obias + o] (`okind`: 0 not, 1 added); `count`: the
// units; out_cols (row-wise: the rows).
struct Group { int rowwise, all_tokens, rows, units, ukind, ubias, outs, okind, obias, out_cols, count; };

// group g's updates on the V lanes of token t into out[o] (hidden: room for its units)
template <int V, int S>
void group_values(T* x, int t, const Group& g, T (*out)[V], T (*b)[V], T (*hidden)[V]) {
  if (g.rowwise) {
    const int nr = list_size(g.rows);
    for (int i = 0; i < nr; ++i) {
      const T* __restrict v = cell<S>(x, list_at(g.rows, i), t);
      const int s = list_at(g.units, i);
      int k = 0;
      for (int j = TS[s]; j < TS[s + 1]; ++j, ++k) {
        const T c = TC[j];
        switch (TI[j]) {
          case 0: LANES b[k][l] = c; break;
          case 1: { const T d = TD[j]; LANES b[k][l] = relu(v[l] * c) * d; } break;
          case 2: { const T a = TB[j], d = TD[j]; LANES b[k][l] = relu(v[l] * c + a) * d; } break;
          default: LANES b[k][l] = v[l] * c;
        }
      }
      tree<V>(b, k, out[i]);
    }
    return;
  }
  for (int u = 0; u < g.count; ++u) {
    const T bias = TV[g.ubias + u];
    switch (list_at(g.ukind, u)) {
      case 2: LANES hidden[u][l] = relu(bias); break;
      case 1: {
        alignas(64) T sum[V];
        feature_sum<V, S>(x, t, list_at(g.units, u), b, sum);
        LANES hidden[u][l] = relu(sum[l] + bias);
      } break;
      default: {
        alignas(64) T sum[V];
        feature_sum<V, S>(x, t, list_at(g.units, u), b, sum);
        LANES hidden[u][l] = relu(sum[l]);
      }
    }
  }
  const int no = list_size(g.out_cols);
  for (int o = 0; o < no; ++o) {
    value_sum<V>(hidden, list_at(g.outs, o), b, out[o]);
    if (list_at(g.okind, o)) {
      const T bias = TV[g.obias + o];
      LANES out[o][l] = out[o][l] + bias;
    }
  }
}

// A layer's MLP groups, in the literal form's order: the scratch tokens' groups (staged: they read
// the layer's input), the groups of every token (per token: every group's values, then their
// updates, group by group), then the staged updates. One card (W = 1) runs the groups of every
// token a block of tokens at a time, the padding tokens' values dropped.
template <int W>
void layer_mlps(T* x, const Group* gs, int ng) {
  constexpr int VT = W > 1 ? W : TOKEN_BLOCK;  // lanes of the loop over the tokens
  size_t staged = 0, widest = 1, most_units = 1;
  int all = 0;
  for (int k = 0; k < ng; ++k) {
    const size_t no = list_size(gs[k].out_cols);
    if (!gs[k].all_tokens) staged += no * S_TOKENS;
    widest = std::max(widest, no);
    most_units = std::max(most_units, size_t(gs[k].count));
    all += gs[k].all_tokens;
  }
  T* const space = room<4, W>((MAX_TERMS + most_units + widest) * W + staged * W + (MAX_TERMS + most_units + widest * all) * VT);
  T (*b)[W] = reinterpret_cast<T (*)[W]>(space);
  T (*hidden)[W] = b + MAX_TERMS;
  T (*values)[W] = hidden + most_units;
  T (*st)[W] = values + widest;  // staged[(o * S_TOKENS + q)] per scratch group, in group order
  T (*bt)[VT] = reinterpret_cast<T (*)[VT]>(st + staged);
  T (*hidden_t)[VT] = bt + MAX_TERMS;
  T (*values_t)[VT] = hidden_t + most_units;  // per group of every token, widest apiece
  {
    T (*o)[W] = st;
    for (int k = 0; k < ng; ++k) {
      if (gs[k].all_tokens) continue;
      const int no = list_size(gs[k].out_cols);
      for (int q = 0; q < S_TOKENS; ++q) {
        group_values<W, W>(x, q, gs[k], values, b, hidden);
        for (int c = 0; c < no; ++c)
          for (int l = 0; l < W; ++l) o[c * S_TOKENS + q][l] = values[c][l];
      }
      o += size_t(no) * S_TOKENS;
    }
  }
  if (all) {
    constexpr int STEP = W > 1 ? 1 : TOKEN_BLOCK;
    for (int t = 0; t < (W > 1 ? N : NP); t += STEP) {
      int at = 0;
      for (int k = 0; k < ng; ++k)
        if (gs[k].all_tokens) group_values<VT, W>(x, t, gs[k], values_t + widest * at++, bt, hidden_t);
      at = 0;
      for (int k = 0; k < ng; ++k) {
        if (!gs[k].all_tokens) continue;
        const int no = list_size(gs[k].out_cols);
        T (*v)[VT] = values_t + widest * at++;
        for (int c = 0; c < no; ++c) {
          T* cellp = cell<W>(x, list_at(gs[k].out_cols, c), t);
          if (W > 1) {
            for (int l = 0; l < VT; ++l) cellp[l] += v[c][l];
          } else {
            for (int l = 0; l < VT; ++l)
              if (t + l < N) cellp[l] += v[c][l];
          }
        }
      }
    }
  }
  {
    T (*o)[W] = st;
    for (int k = 0; k < ng; ++k) {
      if (gs[k].all_tokens) continue;
      const int no = list_size(gs[k].out_cols);
      for (int c = 0; c < no; ++c)
        for (int q = 0; q < S_TOKENS; ++q) {
          T* cellp = cell<W>(x, list_at(gs[k].out_cols, c), q);
          for (int l = 0; l < W; ++l) cellp[l] += o[c * S_TOKENS + q][l];
        }
      o += size_t(no) * S_TOKENS;
    }
  }
}

#undef LANES
