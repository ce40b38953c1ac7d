// The XLA FFI handlers of a generated machine (kernels/native_src/card.cc): they check and unpack
// the buffers and call the machine's entry points. The same for every machine, so compiled once
// per compiler and flags and linked into each machine's library (kernels/native.py): XLA's FFI
// header and the handlers' templates took some 3.5 s of CPU, most of a table-form machine's build.
#include <cstdint>
#include <cstring>
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

typedef void (*LoopedTask)(void*);
typedef void (*LoopedSchedule)(void* pool, LoopedTask task, void* arg);
#define LOOPED_ENTRY extern "C" __attribute__((visibility("hidden")))

LOOPED_ENTRY void looped_shape(int64_t* d, int64_t* np, int64_t* value_bytes);
LOOPED_ENTRY void looped_step(void* pool, LoopedSchedule schedule, int64_t pool_threads, void* x, void* health,
                              const bool* active, int64_t B, int64_t threads);
LOOPED_ENTRY void looped_chunk(void* pool, LoopedSchedule schedule, int64_t pool_threads, void* x, const int32_t* halt,
                               int32_t* steps, bool* done, void* worst, int32_t* bad, const void* fixed,
                               const int32_t* limits, int64_t B, int64_t pc_token, int64_t pc_start, int64_t pc_width,
                               double bound, int64_t threads);

namespace {

void schedule_on(void* pool, LoopedTask task, void* arg) {
  static_cast<ffi::ThreadPool*>(pool)->Schedule([task, arg] { task(arg); });
}

// the batch's size if the state is [B, d, padded n] of this machine, else -1
int64_t batch_of(const ffi::AnyBuffer& state, int64_t* value_bytes) {
  int64_t d, np;
  looped_shape(&d, &np, value_bytes);
  auto dims = state.dimensions();
  if (dims.size() != 3 || dims[1] != d || dims[2] != np) return -1;
  return dims[0];
}

template <typename A, typename R>
void copy_into(const A& in, R& out, size_t bytes) {
  if (out->untyped_data() != in.untyped_data()) std::memcpy(out->untyped_data(), in.untyped_data(), bytes);
}

ffi::Error step(ffi::ThreadPool pool, ffi::AnyBuffer state, ffi::Buffer<ffi::PRED> active,
                ffi::Result<ffi::AnyBuffer> out, ffi::Result<ffi::AnyBuffer> health, int64_t threads) {
  int64_t value_bytes;
  const int64_t B = batch_of(state, &value_bytes);
  if (B < 0) return ffi::Error::InvalidArgument("state must be [B, d, padded n] of this machine");
  const auto dims = state.dimensions();
  copy_into(state, out, size_t(value_bytes) * B * dims[1] * dims[2]);
  looped_step(&pool, schedule_on, pool.num_threads(), out->untyped_data(), health->untyped_data(), active.typed_data(),
              B, threads);
  return ffi::Error::Success();
}

ffi::Error chunk(ffi::ThreadPool pool, ffi::AnyBuffer state, ffi::Buffer<ffi::S32> halt, ffi::Buffer<ffi::S32> steps,
                 ffi::Buffer<ffi::PRED> done, ffi::AnyBuffer worst, ffi::Buffer<ffi::S32> bad, ffi::AnyBuffer fixed,
                 ffi::Buffer<ffi::S32> limits, ffi::Result<ffi::AnyBuffer> x_out,
                 ffi::Result<ffi::Buffer<ffi::S32>> steps_out, ffi::Result<ffi::Buffer<ffi::PRED>> done_out,
                 ffi::Result<ffi::AnyBuffer> worst_out, ffi::Result<ffi::Buffer<ffi::S32>> bad_out,
                 int64_t pc_token, int64_t pc_start, int64_t pc_width, double bound, int64_t threads) {
  int64_t value_bytes;
  const int64_t B = batch_of(state, &value_bytes);
  if (B < 0) return ffi::Error::InvalidArgument("state must be [B, d, padded n] of this machine");
  const auto dims = state.dimensions();
  copy_into(state, x_out, size_t(value_bytes) * B * dims[1] * dims[2]);
  copy_into(steps, steps_out, sizeof(int32_t) * B);
  copy_into(done, done_out, sizeof(bool) * B);
  copy_into(worst, worst_out, size_t(value_bytes) * B);
  copy_into(bad, bad_out, sizeof(int32_t) * B);
  looped_chunk(&pool, schedule_on, pool.num_threads(), x_out->untyped_data(), halt.typed_data(),
               steps_out->typed_data(), done_out->typed_data(), worst_out->untyped_data(), bad_out->typed_data(),
               fixed.untyped_data(), limits.typed_data(), B, pc_token, pc_start, pc_width, bound, threads);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(LoopedCardStep, step,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("threads"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(LoopedCardChunk, chunk,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::PRED>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("pc_token")
                                  .Attr<int64_t>("pc_start")
                                  .Attr<int64_t>("pc_width")
                                  .Attr<double>("bound")
                                  .Attr<int64_t>("threads"));
