// The template of the generated code (kernels/native_gen.py fills in its @...@ fields): one instruction
// on one card or a group of cards, and the FFI targets that run them.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <algorithm>
#include <atomic>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

// The machine's entry points, called by the XLA FFI handlers (kernels/native_src/ffi_glue.cc,
// compiled once and linked into every machine's library: XLA's FFI header and handlers were most
// of a machine's compile time). Hidden: each library's glue calls its own machine.
typedef void (*LoopedTask)(void*);
typedef void (*LoopedSchedule)(void* pool, LoopedTask task, void* arg);
#define LOOPED_ENTRY extern "C" __attribute__((visibility("hidden")))

namespace {

typedef @CTYPE@ T;
constexpr int N = @N@;  // tokens
constexpr int NP = @NP@;  // tokens and padding: the length of a row
constexpr int D = @D@;
constexpr int S_TOKENS = @S@;
// The cards of a group, chosen per target by kernels/native.py (`code_shape`): a whole number of
// the target's vectors (see there for the measurements)
constexpr int L = @L@;
// exp(a) is taken as 0 below this: there it is below the smallest normal number (2^-126 at
// a = -87.34 in float, 2^-1022 at -708.40 in double), which a call flushes to zero anyway; at and
// above it, 2^k in `weight` (k >= -126, -1022) is a normal number
constexpr T CUT = sizeof(T) == 4 ? T(-87.5) : T(-708.5);

inline T relu(T v) { return v > T(0) ? v : T(0); }

@EXP@

// A softmax weight exp(a), a <= 0: exactly 1 at a == 0, exactly 0 below CUT, NaN for NaN.
// Branch-free so that loops over it vectorise: a = k ln2 + r with |r| <= ln2 / 2 (ln2 in two
// parts, k ln2_hi exact), a polynomial for exp(r), times 2^k (exact where the result is normal; a
// subnormal result is flushed to zero in a call, as it was when 2^k was applied in two halves).
inline T weight(T a) {
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> I;
  constexpr int MANTISSA = sizeof(T) == 4 ? 23 : 52;
  constexpr I BIAS = sizeof(T) == 4 ? 127 : 1023;
  constexpr T LN2_HI = sizeof(T) == 4 ? T(0x1.63p-1) : T(0x1.62e42feep-1);
  constexpr T LN2_LO = sizeof(T) == 4 ? T(-0x1.bd0106p-13) : T(0x1.a39ef35793c76p-33);
  const T b = a < CUT ? CUT : a;
  const T k = std::nearbyint(b * T(0x1.71547652b82fep0));  // >= -126 (float), -1022 (double)
  const T r = (b - k * LN2_HI) - k * LN2_LO;
  const T p = exp_polynomial(r);
  const T scale = __builtin_bit_cast(T, I((I(k) + BIAS) << MANTISSA));  // 2^k, a normal number
  return a < CUT ? T(0) : p * scale;
}

// Loops over a row run 16 lanes at a time (NP is a multiple of 16), so that they vectorise; a
// reduction keeps 16 running values and combines them by halves, always in the same order.
inline T largest(const T* v) {
  T lane[16];
  for (int l = 0; l < 16; ++l) lane[l] = v[l];
  for (int i = 16; i < NP; i += 16)
    for (int l = 0; l < 16; ++l) lane[l] = v[i + l] > lane[l] ? v[i + l] : lane[l];
  for (int l = 0; l < 8; ++l) lane[l] = lane[l + 8] > lane[l] ? lane[l + 8] : lane[l];
  for (int l = 0; l < 4; ++l) lane[l] = lane[l + 4] > lane[l] ? lane[l + 4] : lane[l];
  for (int l = 0; l < 2; ++l) lane[l] = lane[l + 2] > lane[l] ? lane[l + 2] : lane[l];
  return lane[1] > lane[0] ? lane[1] : lane[0];
}

inline T reduce(T* lane) {
  for (int l = 0; l < 8; ++l) lane[l] += lane[l + 8];
  for (int l = 0; l < 4; ++l) lane[l] += lane[l + 4];
  for (int l = 0; l < 2; ++l) lane[l] += lane[l + 2];
  return lane[0] + lane[1];
}

// 16 values of T as one vector (GCC's vector extension), and a mask for two-vector shuffles
typedef T V16 __attribute__((vector_size(16 * sizeof(T))));
typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> MaskLane;
typedef MaskLane M16 __attribute__((vector_size(16 * sizeof(T))));

inline V16 load16(const T* p) {
  V16 v;
  std::memcpy(&v, p, sizeof(V16));
  return v;
}

// Halve two vectors of per-row partial sums into one: lanes of `a` then of `b`, each pair of
// neighbouring blocks of `width` lanes added (the same order as `reduce`: lane j with j + width).
template <int WIDTH>
inline V16 fold(V16 a, V16 b) {
  M16 low, high;
  for (int i = 0; i < 16; ++i) {
    const int block = i / WIDTH, within = i % WIDTH;  // block of the result: row pair
    const int source = (block % (8 / WIDTH) ) * 2 * WIDTH + within + (block >= 8 / WIDTH ? 16 : 0);
    low[i] = source;
    high[i] = source + WIDTH;
  }
  return __builtin_shuffle(a, b, low) + __builtin_shuffle(a, b, high);
}

// out[i] = the sum over tokens of ws[i][t] * x[rows[i] + t], for R rows: per row 16 running sums,
// then the rows' sums halved together (16 rows into one vector in 15 steps of two shuffles and an
// add, where reducing each row alone takes four steps of its own), in `reduce`'s order
template <int R>
inline void dots(const T* const* ws, const T* __restrict x, const int* rows, T* __restrict out) {
  for (int r0 = 0; r0 < R; r0 += 16) {
    V16 acc[16];
    for (int i = 0; i < 16; ++i) {
      acc[i] = V16{};
      if (r0 + i >= R) continue;
      const T* row = x + rows[r0 + i];
      const T* w = ws[r0 + i];
      acc[i] = load16(w) * load16(row);
      for (int t = 16; t < NP; t += 16) acc[i] += load16(w + t) * load16(row + t);
    }
    V16 b[8], c[4], d[2];
    for (int i = 0; i < 8; ++i) b[i] = fold<8>(acc[2 * i], acc[2 * i + 1]);
    for (int i = 0; i < 4; ++i) c[i] = fold<4>(b[2 * i], b[2 * i + 1]);
    for (int i = 0; i < 2; ++i) d[i] = fold<2>(c[2 * i], c[2 * i + 1]);
    const V16 e = fold<1>(d[0], d[1]);
    for (int i = 0; i < 16 && r0 + i < R; ++i) out[r0 + i] = e[i];
  }
}

inline T total(const T* __restrict a) {
  T lane[16];
  for (int l = 0; l < 16; ++l) lane[l] = a[l];
  for (int i = 16; i < NP; i += 16)
    for (int l = 0; l < 16; ++l) lane[l] += a[i + l];
  return reduce(lane);
}

// each row of scores [NP] into softmax weights, exp(score - the row's largest), and their totals;
// the H rows side by side in one loop (independent work for the same instructions)
template <int H>
inline void softmax_weights(T* const* rows, T* totals) {
  T most[H];
  for (int h = 0; h < H; ++h) most[h] = largest(rows[h]);
  for (int i = 0; i < NP; i += 16)
    for (int h = 0; h < H; ++h)
      for (int l = 0; l < 16; ++l) rows[h][i + l] = weight(rows[h][i + l] - most[h]);
  for (int h = 0; h < H; ++h) totals[h] = total(rows[h]);
}

// the distance of v from {-1, 0, 1} (NaN for NaN): |v| below 1/2, ||v| - 1| above (exact: |v| - 1
// is exact for |v| in [1/2, 2] and rounds as v - sign(v) does beyond)
inline T off_lattice(T v) {
  const T a = std::fabs(v), b = std::fabs(a - T(1));
  return a < b ? a : b;
}

// A distance's bits as an integer: distances have no sign bit, so their bits order as their values
// do, with NaN above infinity. The largest of them as integers is the largest distance, NaN if any
// is NaN: one integer maximum per value in `lanes_lattice`, where a maximum and a NaN mark made an
// instruction of the lanes form a third slower.
typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> Bits;
inline Bits distance_bits(T d) { return __builtin_bit_cast(Bits, d); }

// the largest distance from {-1, 0, 1} of the rows at offsets `rows` over every token but the
// scratch ones (the padding tokens are 0, at distance 0), and of the values at offsets `cells`;
// NaN if any is NaN. 16 running maxima and 16 NaN marks (a NaN distance kept apart: the maximum
// alone would drop it), combined at the end. (The integer maximum of `distance_bits`, which the
// lanes form uses, measured 12 % slower on a whole instruction here: the compiler vectorises it
// less well in this loop.)
inline T lattice(const T* x, const int* rows, int nr, const int* cells, int nc) {
  T most[16], nan[16];
  for (int l = 0; l < 16; ++l) most[l] = nan[l] = T(0);
  auto take = [&](int l, T d) {
    most[l] = d > most[l] ? d : most[l];
    nan[l] = d != d ? d : nan[l];
  };
  for (int k = 0; k < nr; ++k) {
    const T* v = x + rows[k];
    for (int i = 0; i < NP; i += 16)
      for (int l = 0; l < 16; ++l) {
        const T value = v[i + l];
        take(l, off_lattice(i + l < S_TOKENS ? T(0) : value));
      }
  }
  for (int k = 0; k < nc; k += 16) {  // (gathered first, so that the distances vectorise)
    alignas(64) T value[16];
    for (int l = 0; l < 16; ++l) value[l] = k + l < nc ? x[cells[k + l]] : T(0);
    for (int l = 0; l < 16; ++l) take(l, off_lattice(value[l]));
  }
  T w = T(0), bad = T(0);
  for (int l = 0; l < 16; ++l) {
    w = most[l] > w ? most[l] : w;
    bad = nan[l] != nan[l] ? nan[l] : bad;
  }
  return bad != bad ? bad : w;
}

// ---- the lanes form: a group of L cards with its cards along the vector lanes ----------------
//
// xl[(f * NP + t) * L + l] is feature f of token t of the group's card l; a row over the tokens,
// per card, is T r[NP][L]. Every operation of the one-card code is done for the L cards at once,
// and sums over the tokens keep the one-card code's order (16 running values, combined by halves:
// `largest`, `total`, `dots`), so that a card's result is the same bit for bit in either form.

// (Each of the 16 running values is taken to the end before the next starts: the same operations
// in the same order, with one vector live at a time rather than 16, which an AVX2 CPU's 16 vector
// registers cannot hold beside the operands: they spilled to the stack.)
inline void lanes_largest(const T (*v)[L], T* __restrict out) {
  alignas(64) T m[16][L];
  for (int j = 0; j < 16; ++j) {
    alignas(64) T r[L];
    for (int l = 0; l < L; ++l) r[l] = v[j][l];
    for (int i = 16; i < NP; i += 16)
      for (int l = 0; l < L; ++l) r[l] = v[i + j][l] > r[l] ? v[i + j][l] : r[l];
    for (int l = 0; l < L; ++l) m[j][l] = r[l];
  }
  for (int half = 8; half >= 2; half /= 2)
    for (int j = 0; j < half; ++j)
      for (int l = 0; l < L; ++l) m[j][l] = m[j + half][l] > m[j][l] ? m[j + half][l] : m[j][l];
  for (int l = 0; l < L; ++l) out[l] = m[1][l] > m[0][l] ? m[1][l] : m[0][l];
}

inline void lanes_reduce(T (*a)[L], T* __restrict out) {  // `reduce`, for each card
  for (int half = 8; half >= 2; half /= 2)
    for (int j = 0; j < half; ++j)
      for (int l = 0; l < L; ++l) a[j][l] += a[j + half][l];
  for (int l = 0; l < L; ++l) out[l] = a[0][l] + a[1][l];
}

inline void lanes_total(const T (*v)[L], T* __restrict out) {  // `total`, for each card
  alignas(64) T a[16][L];
  for (int j = 0; j < 16; ++j) {
    alignas(64) T r[L];
    for (int l = 0; l < L; ++l) r[l] = v[j][l];
    for (int i = 16; i < NP; i += 16)
      for (int l = 0; l < L; ++l) r[l] += v[i + j][l];
    for (int l = 0; l < L; ++l) a[j][l] = r[l];
  }
  lanes_reduce(a, out);
}

// the sum over tokens of w * a row of the state (row = xl + f * NP * L), in `dots`' order
inline void lanes_dot(const T (*w)[L], const T* __restrict row, T* __restrict out) {
  alignas(64) T a[16][L];
  for (int j = 0; j < 16; ++j) {
    alignas(64) T r[L];
    for (int l = 0; l < L; ++l) r[l] = w[j][l] * row[j * L + l];
    for (int i = 16; i < NP; i += 16)
      for (int l = 0; l < L; ++l) r[l] += w[i + j][l] * row[(i + j) * L + l];
    for (int l = 0; l < L; ++l) a[j][l] = r[l];
  }
  lanes_reduce(a, out);
}

// `softmax_weights` of one row of scores for each card: the weights in place, their totals in z
inline void lanes_softmax(T (*w)[L], T* __restrict z) {
  alignas(64) T most[L];
  lanes_largest(w, most);
  for (int t = 0; t < NP; ++t)
    for (int l = 0; l < L; ++l) w[t][l] = weight(w[t][l] - most[l]);
  lanes_total(w, z);
}

// `lattice` for each card: rows and cells are offsets in tokens (f * NP, f * NP + t). The L lanes
// of a token as one vector (GCC's vector extension: written lane by lane, GCC vectorised this loop
// along the tokens instead, with shuffles, and it cost an AVX2-only CPU ~10 % of an instruction);
// the same operations as `off_lattice` and `distance_bits`, lane by lane.
typedef T VL __attribute__((vector_size(L * sizeof(T))));
typedef Bits BL __attribute__((vector_size(L * sizeof(T))));

inline BL lanes_distance_bits(const T* v) {
  VL x;
  std::memcpy(&x, v, sizeof(VL));
  constexpr Bits MAGNITUDE = ~(Bits(1) << (8 * sizeof(T) - 1));  // every bit but the sign
  const VL a = reinterpret_cast<VL>(reinterpret_cast<BL>(x) & MAGNITUDE);  // fabs
  const VL b = reinterpret_cast<VL>(reinterpret_cast<BL>(a - T(1)) & MAGNITUDE);
  return reinterpret_cast<BL>(a < b ? a : b);
}

inline void lanes_lattice(const T* __restrict xl, const int* rows, int nr, const int* cells, int nc, T* __restrict out) {
  BL most = {};
  for (int k = 0; k < nr; ++k)
    for (int t = S_TOKENS; t < N; ++t) {
      const BL b = lanes_distance_bits(xl + (rows[k] + t) * L);
      most = b > most ? b : most;
    }
  for (int k = 0; k < nc; ++k) {
    const BL b = lanes_distance_bits(xl + cells[k] * L);
    most = b > most ? b : most;
  }
  for (int l = 0; l < L; ++l) out[l] = __builtin_bit_cast(T, most[l]);
}

@FUNCTIONS@

// one instruction on one card
void card_step(T* __restrict x, T* __restrict health) {
@CARD@
}

// one instruction on a group of L cards in the lanes form (every lane: lanes without a running
// card are computed and dropped)
void lanes_step(T* __restrict xl, T* __restrict healths) {
@LANES@
}

// At most this many running cards in a group: the one-card code, card by card (chosen per target
// with L; measured on 32-column float cards with AVX-512: an instruction of a group of 8 costs as
// much as 5-6 cards alone; on 100 columns, 8)
constexpr int CARD_BY_CARD = @CARD_BY_CARD@;

// A group's cards in the lanes form, in a buffer of its own (gathered from and scattered to the
// cards' places in the batch, feature-major [D][NP] each).
struct Lanes {
  T* xl = static_cast<T*>(std::aligned_alloc(64, sizeof(T) * D * NP * L));
  ~Lanes() { std::free(xl); }
  void gather(T* const* cards) {
    for (int k = 0; k < D * NP; ++k)
      for (int l = 0; l < L; ++l) xl[k * L + l] = cards[l][k];
  }
  void scatter(int l, T* __restrict card) const {
    for (int k = 0; k < D * NP; ++k) card[k] = xl[k * L + l];
  }
};

// Subnormal numbers are flushed to zero, results and operands (MXCSR's FTZ and DAZ), as XLA does
// on the CPU: the same arithmetic as the other evaluators (a softmax weight below 2^-126 is 0, as
// XLA's exp gives it), and no slow microcoded steps on subnormal values. Set for the duration of
// a call on each thread that works on it.
struct FlushSubnormals {
#if defined(__SSE__)
  unsigned saved = _mm_getcsr();
  FlushSubnormals() { _mm_setcsr(saved | 0x8040u); }
  ~FlushSubnormals() { _mm_setcsr(saved); }
#endif
};

// `claim(*work)` on the calling thread and on helper tasks on XLA's thread pool: one fewer than
// `threads`, or (0) one per thread of the pool, which keeps the pool's threads busy rather than
// spinning idle beside the caller (measured faster), and at most one per further group. Once every
// group is claimed, the caller waits for the helpers still computing one (a helper that has not
// started by then claims nothing when it does: `work` is shared, and outlives the call).
// XLA's thread pool, through the glue: tasks scheduled on it, and its size.
struct Pool {
  void* pool;
  LoopedSchedule schedule;
  int64_t threads;
  template <typename F>
  void Schedule(F f) {
    schedule(pool, [](void* task) {
      F* g = static_cast<F*>(task);
      (*g)();
      delete g;
    }, new F(std::move(f)));
  }
  int64_t num_threads() const { return threads; }
};

template <typename W, typename F>
void share(Pool& pool, int64_t threads, const std::shared_ptr<W>& work, F claim) {
  int64_t helpers = threads > 0 ? threads - 1 : pool.num_threads();
  helpers = std::min(helpers, work->groups - 1);
  for (int64_t i = 0; i < helpers; ++i)
    pool.Schedule([work, claim] {
      work->busy.fetch_add(1);
      claim(*work);
      work->busy.fetch_sub(1);
    });
  claim(*work);
  while (work->busy.load() > 0) std::this_thread::yield();
}

// The groups of a call, claimed one at a time by the calling thread and by helpers on XLA's
// thread pool. Shared through a shared_ptr: a helper that starts late finds nothing to claim.
struct Work {
  T* x;
  T* health;
  const bool* active;
  int64_t cards, groups;
  std::atomic<int64_t> next{0};
  std::atomic<int> busy{0};
};

// One instruction on the live cards of group g: card by card when few are live, else in the
// lanes form (the group gathered, stepped, and its live cards scattered back).
void run_group(Work& w, int64_t g) {
  const int64_t b0 = g * L;
  const int cards = int(std::min<int64_t>(L, w.cards - b0));
  bool live[L];
  T health[L];
  T* place[L];
  int count = 0;
  for (int l = 0; l < L; ++l) {
    live[l] = l < cards && w.active[b0 + l];
    count += live[l];
    place[l] = w.x + (b0 + (l < cards ? l : 0)) * D * NP;
    if (l < cards) w.health[b0 + l] = T(0);
  }
  if (count > CARD_BY_CARD) {
    Lanes lanes;
    lanes.gather(place);
    lanes_step(lanes.xl, health);
    for (int l = 0; l < L; ++l) if (live[l]) lanes.scatter(l, place[l]);
  } else {
    for (int l = 0; l < L; ++l) if (live[l]) card_step(place[l], health + l);
  }
  for (int l = 0; l < L; ++l) if (live[l]) w.health[b0 + l] = health[l];
}

void claim(Work& w) {
  FlushSubnormals flush;
  for (int64_t g = w.next.fetch_add(1); g < w.groups; g = w.next.fetch_add(1)) run_group(w, g);
}

// one instruction for a batch x [B, D, NP] (in place), health [B]
void step(Pool& pool, T* x, T* health, const bool* active, int64_t B, int64_t threads) {
  auto work = std::make_shared<Work>();
  work->x = x;
  work->health = health;
  work->active = active;
  work->cards = B;
  work->groups = (B + L - 1) / L;
  share(pool, threads, work, claim);
}

// ---- many instructions per call: each group of cards runs on its own ----------------------
//
// The runner's loop (looped/runner.py) for a chunk of iterations, card by card: a card runs while
// it is not done, below max_steps and healthy; each instruction adds a step, takes the health
// figure (the larger of the step's and the card's fixed rows', NaN winning) into the worst one,
// marks the step at which health first crosses the bound (the card then stops), and sets done
// when the program counter reads the card's halt address. The cards of a group step together
// (in the lanes form while more than CARD_BY_CARD run, then card by card); groups are independent.

struct Chunk {
  T* x;
  const int32_t* halt;
  int32_t* steps;
  bool* done;
  T* worst;
  int32_t* bad;
  const T* fixed;
  int64_t cards, groups;
  int32_t max_steps, length, min_running;
  int64_t pc_token, pc_start, pc_width;
  T bound;
  std::atomic<int64_t> next{0};
  std::atomic<int> busy{0};
  // cards still running, and whether one has lost its health: the runner wants the chunk to end
  // once no more than min_running cards run (it regroups them), or at a health loss
  std::atomic<int64_t> running{0};
  std::atomic<bool> lost{false};
};

// One card's counts while its group runs: kept by the group (the arrays of the call are written
// back once, at the end: neighbouring cards' entries share cache lines between threads)
inline bool still_running(bool done, int32_t steps, int32_t max_steps, int32_t bad) {  // as the runner's loop
  return !done && steps < max_steps && bad < 0;
}

struct Counts {
  int32_t steps, bad, halt;
  bool done;
  T worst, fixed;
  bool runs(int32_t max_steps) const { return still_running(done, steps, max_steps, bad); }
};

inline T larger(T a, T b) { return a != a ? a : (b != b ? b : (b > a ? b : a)); }  // NaN wins

inline int32_t pc_of(const T* x, const Chunk& c) {  // the pc rows' signs, most significant first
  int32_t v = 0;
  for (int64_t i = 0; i < c.pc_width; ++i) v = (v << 1) | int32_t(x[(c.pc_start + i) * NP + c.pc_token] > T(0));
  return v;
}

inline int32_t pc_of_lanes(const T* xl, int l, const Chunk& c) {  // pc_of, card l of a group
  int32_t v = 0;
  for (int64_t i = 0; i < c.pc_width; ++i)
    v = (v << 1) | int32_t(xl[((c.pc_start + i) * NP + c.pc_token) * L + l] > T(0));
  return v;
}

// A group's cards for a chunk: in the lanes form while more than CARD_BY_CARD of them run, then
// card by card. A card that stops in the lanes form is scattered back at once (its state at its
// last step); the lanes form is never entered again once left (cards only stop).
void chunk_group(Chunk& c, int64_t g) {
  const int64_t b0 = g * L;
  const int cards = int(std::min<int64_t>(L, c.cards - b0));
  Counts k[L];
  T* place[L];
  for (int l = 0; l < L; ++l) {
    const int64_t b = b0 + (l < cards ? l : 0);
    place[l] = c.x + b * D * NP;
    if (l < cards) k[l] = Counts{c.steps[b], c.bad[b], c.halt[b], c.done[b], c.worst[b], c.fixed[b]};
  }
  std::unique_ptr<Lanes> lanes;  // while in the lanes form
  bool held[L] = {};  // the card's state is in the lanes form (to scatter)
  bool live[L];
  T health[L];
  for (int it = 0; it < c.length; ++it) {
    if (c.lost.load(std::memory_order_relaxed) || c.running.load(std::memory_order_relaxed) <= c.min_running) break;
    int count = 0;
    for (int l = 0; l < L; ++l) count += live[l] = l < cards && k[l].runs(c.max_steps);
    if (count == 0) break;
    if (count > CARD_BY_CARD) {
      if (!lanes) {
        lanes = std::make_unique<Lanes>();
        lanes->gather(place);
      }
      lanes_step(lanes->xl, health);
      for (int l = 0; l < L; ++l) held[l] = held[l] || live[l];
    } else {
      if (lanes) {  // leave the lanes form
        for (int l = 0; l < L; ++l) if (held[l]) lanes->scatter(l, place[l]), held[l] = false;
        lanes.reset();
      }
      for (int l = 0; l < L; ++l) if (live[l]) card_step(place[l], health + l);
    }
    for (int l = 0; l < L; ++l) {
      if (!live[l]) continue;
      Counts& n = k[l];
      n.steps += 1;
      const T h = larger(health[l], n.fixed);
      n.worst = larger(n.worst, h);
      if (!(h <= c.bound)) { n.bad = n.steps; c.lost.store(true); }
      n.done = (lanes ? pc_of_lanes(lanes->xl, l, c) : pc_of(place[l], c)) == n.halt;
      if (!n.runs(c.max_steps)) {
        c.running.fetch_sub(1);
        if (held[l]) lanes->scatter(l, place[l]), held[l] = false;
      }
    }
  }
  if (lanes)
    for (int l = 0; l < L; ++l) if (held[l]) lanes->scatter(l, place[l]);
  for (int l = 0; l < cards; ++l) {
    const int64_t b = b0 + l;
    c.steps[b] = k[l].steps;
    c.bad[b] = k[l].bad;
    c.done[b] = k[l].done;
    c.worst[b] = k[l].worst;
  }
}

void claim_chunks(Chunk& c) {
  FlushSubnormals flush;
  for (int64_t g = c.next.fetch_add(1); g < c.groups; g = c.next.fetch_add(1)) chunk_group(c, g);
}

// a chunk of the runner's loop for a batch, in place (the glue has copied the inputs to the outputs)
void chunk(Pool& pool, T* x, const int32_t* halt, int32_t* steps, bool* done, T* worst, int32_t* bad, const T* fixed,
           const int32_t* limits, int64_t B, int64_t pc_token, int64_t pc_start, int64_t pc_width, double bound,
           int64_t threads) {
  auto c = std::make_shared<Chunk>();
  c->x = x;
  c->halt = halt;
  c->steps = steps;
  c->done = done;
  c->worst = worst;
  c->bad = bad;
  c->fixed = fixed;
  c->cards = B;
  c->groups = (B + L - 1) / L;
  c->max_steps = limits[0];
  c->length = limits[1];
  c->min_running = limits[2];
  int64_t running = 0;
  for (int64_t b = 0; b < B; ++b) running += still_running(c->done[b], c->steps[b], c->max_steps, c->bad[b]);
  c->running = running;
  c->pc_token = pc_token;
  c->pc_start = pc_start;
  c->pc_width = pc_width;
  c->bound = T(bound);
  share(pool, threads, c, claim_chunks);
}

}  // namespace

// the state's shape [B, D, NP] and the size of its values (the glue checks the buffers against it)
LOOPED_ENTRY void looped_shape(int64_t* d, int64_t* np, int64_t* value_bytes) {
  *d = D;
  *np = NP;
  *value_bytes = sizeof(T);
}

LOOPED_ENTRY void looped_step(void* pool, LoopedSchedule schedule, int64_t pool_threads, void* x, void* health,
                              const bool* active, int64_t B, int64_t threads) {
  Pool p{pool, schedule, pool_threads};
  step(p, static_cast<T*>(x), static_cast<T*>(health), active, B, threads);
}

LOOPED_ENTRY void looped_chunk(void* pool, LoopedSchedule schedule, int64_t pool_threads, void* x, const int32_t* halt,
                               int32_t* steps, bool* done, void* worst, int32_t* bad, const void* fixed,
                               const int32_t* limits, int64_t B, int64_t pc_token, int64_t pc_start, int64_t pc_width,
                               double bound, int64_t threads) {
  Pool p{pool, schedule, pool_threads};
  chunk(p, static_cast<T*>(x), halt, steps, done, static_cast<T*>(worst), bad, static_cast<const T*>(fixed), limits, B,
        pc_token, pc_start, pc_width, bound, threads);
}
