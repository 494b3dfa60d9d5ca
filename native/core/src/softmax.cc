#include "softmax.h"

#include <cmath>
#include <type_traits>

#include "args.h"
#include "elem_io.h"
#include "simd.h"
#include "softmax_rows.h"
#include "threadpool.h"

namespace ds {
namespace {

// Rows per thread are chosen so each thread gets at least this many elements.
constexpr size_t kGrainElems = 8192;

size_t RowGrain(size_t cols) { return 1 + kGrainElems / (cols + 1); }

// Kernels take the row range [r0, r1) and, for bf16 storage, `tmp`: a float32 row of at
// least `cols` from the calling thread (simd::ThreadRow), where unrounded intermediates wait.

template <class V, class T>
struct SoftmaxKernel {
  static void Run(const T* x, T* y, float* tmp, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      if constexpr (std::is_same_v<T, float>) {
        SoftmaxRows<V>::Softmax(x + r * cols, y + r * cols, cols, 1.0f);
      } else {
        SoftmaxRows<V>::SoftmaxBf16(x + r * cols, tmp, y + r * cols, cols, 1.0f);
      }
    }
  }
};

template <class V, class T>
struct CausalKernel {
  static void Run(const T* x, T* y, float* tmp, size_t t, float scale, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const size_t valid = r % t + 1;
      if constexpr (std::is_same_v<T, float>) {
        SoftmaxRows<V>::Softmax(x + r * t, y + r * t, valid, scale);
      } else {
        SoftmaxRows<V>::SoftmaxBf16(x + r * t, tmp, y + r * t, valid, scale);
      }
      for (size_t j = valid; j < t; j++) y[r * t + j] = T{0};
    }
  }
};

// One log-softmax row: float32 or bf16 in, float32 or bf16 out.
template <class V, class TX, class TY>
void LogSoftmaxRow(const TX* xr, TY* yr, size_t cols) {
  const float m = SoftmaxRows<V>::Max(xr, cols, 1.0f);
  const double sum = SoftmaxRows<V>::ExpSum(xr, cols, m);
  // (x - max) - log(sum) in float: x - max is exact near the max, so large offsets cost
  // nothing, whereas subtracting a rounded max + log(sum) would lose ulp(max).
  const V ls = V::set1(static_cast<float>(std::log(sum)));
  const V mv = V::set1(m);
  size_t j = 0;
  for (; j + V::N <= cols; j += V::N) simd::Store((simd::Load<V>(xr + j) - mv) - ls, yr + j);
  if (j < cols) simd::StoreN((simd::LoadN<V>(xr + j, cols - j, 0.0f) - mv) - ls, yr + j, cols - j);
}

template <class V, class T>
struct LogSoftmaxKernel {
  static void Run(const T* x, T* y, float*, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) LogSoftmaxRow<V>(x + r * cols, y + r * cols, cols);
  }
};

// How a softmax backward row is scaled before it is stored: not at all, by a float factor, or
// by a factor float cannot hold (in double, as the scale kernel applies it).
enum class PostScale { None, Float, Double };

// dx = y * (dy - sum(dy * y)) for one row, with y in float32.
template <class V, class T>
void SoftmaxBackwardRow(const float* yr, const T* gr, T* dr, size_t cols, PostScale post, double scale) {
  simd::DAcc<V> acc;
  size_t j = 0;
  for (; j + V::N <= cols; j += V::N) acc.add_prod(simd::Load<V>(gr + j), V::load(yr + j));
  if (j < cols) acc.add_prod(simd::LoadN<V>(gr + j, cols - j, 0.0f), V::loadn(yr + j, cols - j, 0.0f));
  const V dot = V::set1(static_cast<float>(acc.total()));
  const V fs = V::set1(static_cast<float>(scale));
  auto finish = [&](V v) {
    if (post == PostScale::Float) return v * fs;
    if (post == PostScale::Double) return simd::MulDouble(v, scale);
    return v;
  };
  j = 0;
  for (; j + V::N <= cols; j += V::N) simd::Store(finish(V::load(yr + j) * (simd::Load<V>(gr + j) - dot)), dr + j);
  if (j < cols) {
    simd::StoreN(finish(V::loadn(yr + j, cols - j, 0.0f) * (simd::LoadN<V>(gr + j, cols - j, 0.0f) - dot)), dr + j,
                 cols - j);
  }
}

// dx = dy - exp(y) * sum(dy) for one row, with y in float32.
template <class V, class T>
void LogSoftmaxBackwardRow(const float* yr, const T* gr, T* dr, size_t cols) {
  simd::DAcc<V> acc;
  size_t j = 0;
  for (; j + V::N <= cols; j += V::N) acc.add(simd::Load<V>(gr + j));
  if (j < cols) acc.add(simd::LoadN<V>(gr + j, cols - j, 0.0f));
  const V s = V::set1(static_cast<float>(acc.total()));
  j = 0;
  for (; j + V::N <= cols; j += V::N) simd::Store(fnmadd(simd::vexp(V::load(yr + j)), s, simd::Load<V>(gr + j)), dr + j);
  if (j < cols) {
    V e = simd::vexp(V::loadn(yr + j, cols - j, 0.0f));
    simd::StoreN(fnmadd(e, s, simd::LoadN<V>(gr + j, cols - j, 0.0f)), dr + j, cols - j);
  }
}

template <class V>
struct SoftmaxBackwardKernel {
  static void Run(const float* y, const float* dy, float* dx, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      SoftmaxBackwardRow<V>(y + r * cols, dy + r * cols, dx + r * cols, cols, PostScale::None, 1.0);
    }
  }
};

template <class V>
struct LogSoftmaxBackwardKernel {
  static void Run(const float* y, const float* dy, float* dx, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) LogSoftmaxBackwardRow<V>(y + r * cols, dy + r * cols, dx + r * cols, cols);
  }
};

// bf16 backward passes take the forward's input x, not its output: the float32 output the
// float32 kernels keep is recomputed per row into `tmp` (bit for bit, the forward is
// deterministic), so no float32 copy of a bf16 activation outlives the forward.
// t > 0 makes it causal: row r keeps r % t + 1 probabilities of scale * x, then the backward
// row is multiplied by `post_scale` (the chain rule through the scores' scale).
template <class V>
struct SoftmaxBackwardBf16Kernel {
  static void Run(const uint16_t* x, const uint16_t* dy, uint16_t* dx, float* tmp, size_t cols, size_t t,
                  float scale, PostScale post, double post_scale, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const size_t valid = t > 0 ? r % t + 1 : cols;
      SoftmaxRows<V>::Softmax(x + r * cols, tmp, valid, scale);
      for (size_t j = valid; j < cols; j++) tmp[j] = 0.0f;
      SoftmaxBackwardRow<V>(tmp, dy + r * cols, dx + r * cols, cols, post, post_scale);
    }
  }
};

template <class V>
struct LogSoftmaxBackwardBf16Kernel {
  static void Run(const uint16_t* x, const uint16_t* dy, uint16_t* dx, float* tmp, size_t cols, size_t r0,
                  size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      LogSoftmaxRow<V>(x + r * cols, tmp, cols);
      LogSoftmaxBackwardRow<V>(tmp, dy + r * cols, dx + r * cols, cols);
    }
  }
};

template <class V>
using SoftmaxF32 = SoftmaxKernel<V, float>;
template <class V>
using SoftmaxBf16 = SoftmaxKernel<V, uint16_t>;
template <class V>
using CausalF32 = CausalKernel<V, float>;
template <class V>
using CausalBf16 = CausalKernel<V, uint16_t>;
template <class V>
using LogSoftmaxF32 = LogSoftmaxKernel<V, float>;
template <class V>
using LogSoftmaxBf16 = LogSoftmaxKernel<V, uint16_t>;

template <class T>
struct RowArgs {
  Span<T> a, b, out;
  size_t rows, cols;
};

// (in, out, rows, cols) or (in1, in2, out, rows, cols) with every array >= rows*cols.
template <class T>
RowArgs<T> ReadRows(const Args& args, int arrays, const char* const* names) {
  RowArgs<T> r;
  r.a = args.Elems<T>(0, names[0]);
  if (arrays == 3) r.b = args.Elems<T>(1, names[1]);
  r.out = args.Elems<T>(arrays - 1, names[arrays - 1]);
  const int64_t rows = args.Size(arrays, "rows");
  const int64_t cols = args.Size(arrays + 1, "cols");
  const size_t need = CheckedProduct(args, "rows*cols", {rows, cols});
  args.NeedLength(names[0], r.a.size, need, "rows*cols");
  if (arrays == 3) args.NeedLength(names[1], r.b.size, need, "rows*cols");
  args.NeedLength(names[arrays - 1], r.out.size, need, "rows*cols");
  r.rows = static_cast<size_t>(rows);
  r.cols = static_cast<size_t>(cols);
  return r;
}

// softmax / logSoftmax and their bf16 twins: (x, out, rows, cols).
template <class T, template <class> class K>
Napi::Value RowsForward(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 4);
  const char* const names[] = {"x", "out"};
  RowArgs<T> r = ReadRows<T>(args, 2, names);
  ThreadPool::Instance().For(r.rows, RowGrain(r.cols), 1, [&](size_t r0, size_t r1) {
    float* tmp = std::is_same_v<T, float> ? nullptr : simd::ThreadRow(r.cols);
    simd::Run<K>(static_cast<const T*>(r.a.data), r.out.data, tmp, r.cols, r0, r1);
  });
  return info.Env().Undefined();
}

Napi::Value Softmax(const Napi::CallbackInfo& info) { return RowsForward<float, SoftmaxF32>(info, "softmax"); }
Napi::Value SoftmaxBf16Fn(const Napi::CallbackInfo& info) {
  return RowsForward<uint16_t, SoftmaxBf16>(info, "softmaxBf16");
}
Napi::Value LogSoftmax(const Napi::CallbackInfo& info) {
  return RowsForward<float, LogSoftmaxF32>(info, "logSoftmax");
}
Napi::Value LogSoftmaxBf16Fn(const Napi::CallbackInfo& info) {
  return RowsForward<uint16_t, LogSoftmaxBf16>(info, "logSoftmaxBf16");
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxBackward", 5);
  const char* const names[] = {"y", "dy", "dx"};
  RowArgs<float> r = ReadRows<float>(args, 3, names);
  ThreadPool::Instance().For(r.rows, RowGrain(r.cols), 1, [&](size_t r0, size_t r1) {
    simd::Run<SoftmaxBackwardKernel>(static_cast<const float*>(r.a.data), static_cast<const float*>(r.b.data),
                                     r.out.data, r.cols, r0, r1);
  });
  return info.Env().Undefined();
}

Napi::Value LogSoftmaxBackward(const Napi::CallbackInfo& info) {
  Args args(info, "logSoftmaxBackward", 5);
  const char* const names[] = {"y", "dy", "dx"};
  RowArgs<float> r = ReadRows<float>(args, 3, names);
  ThreadPool::Instance().For(r.rows, RowGrain(r.cols), 1, [&](size_t r0, size_t r1) {
    simd::Run<LogSoftmaxBackwardKernel>(static_cast<const float*>(r.a.data), static_cast<const float*>(r.b.data),
                                        r.out.data, r.cols, r0, r1);
  });
  return info.Env().Undefined();
}

Napi::Value SoftmaxBackwardBf16(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxBackwardBf16", 5);
  const char* const names[] = {"x", "dy", "dx"};
  RowArgs<uint16_t> r = ReadRows<uint16_t>(args, 3, names);
  ThreadPool::Instance().For(r.rows, RowGrain(r.cols), 1, [&](size_t r0, size_t r1) {
    simd::Run<SoftmaxBackwardBf16Kernel>(static_cast<const uint16_t*>(r.a.data), static_cast<const uint16_t*>(r.b.data),
                                         r.out.data, simd::ThreadRow(r.cols), r.cols, size_t{0}, 1.0f, PostScale::None,
                                         1.0, r0, r1);
  });
  return info.Env().Undefined();
}

Napi::Value LogSoftmaxBackwardBf16(const Napi::CallbackInfo& info) {
  Args args(info, "logSoftmaxBackwardBf16", 5);
  const char* const names[] = {"x", "dy", "dx"};
  RowArgs<uint16_t> r = ReadRows<uint16_t>(args, 3, names);
  ThreadPool::Instance().For(r.rows, RowGrain(r.cols), 1, [&](size_t r0, size_t r1) {
    simd::Run<LogSoftmaxBackwardBf16Kernel>(static_cast<const uint16_t*>(r.a.data),
                                            static_cast<const uint16_t*>(r.b.data), r.out.data,
                                            simd::ThreadRow(r.cols), r.cols, r0, r1);
  });
  return info.Env().Undefined();
}

template <class T, template <class> class K>
Napi::Value CausalImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 5);
  Span<T> x = args.Elems<T>(0, "x");
  Span<T> out = args.Elems<T>(1, "out");
  const int64_t batch = args.Size(2, "batch");
  const int64_t t = args.Size(3, "t");
  const float scale = static_cast<float>(args.Number(4, "scale"));
  const size_t need = CheckedProduct(args, "batch*t*t", {batch, t, t});
  args.NeedLength("x", x.size, need, "batch*t*t");
  args.NeedLength("out", out.size, need, "batch*t*t");
  const size_t rows = static_cast<size_t>(batch) * static_cast<size_t>(t);
  // Row i does i+1 columns of work: about t/2 on average.
  ThreadPool::Instance().For(rows, RowGrain(static_cast<size_t>(t) / 2), 1, [&](size_t r0, size_t r1) {
    float* tmp = std::is_same_v<T, float> ? nullptr : simd::ThreadRow(static_cast<size_t>(t));
    simd::Run<K>(static_cast<const T*>(x.data), out.data, tmp, static_cast<size_t>(t), scale, r0, r1);
  });
  return info.Env().Undefined();
}

Napi::Value CausalSoftmax(const Napi::CallbackInfo& info) { return CausalImpl<float, CausalF32>(info, "causalSoftmax"); }
Napi::Value CausalSoftmaxBf16(const Napi::CallbackInfo& info) {
  return CausalImpl<uint16_t, CausalBf16>(info, "causalSoftmaxBf16");
}

Napi::Value CausalSoftmaxBackwardBf16(const Napi::CallbackInfo& info) {
  Args args(info, "causalSoftmaxBackwardBf16", 6);
  Span<uint16_t> x = args.U16(0, "x");
  Span<uint16_t> dy = args.U16(1, "dy");
  Span<uint16_t> dx = args.U16(2, "dx");
  const int64_t batch = args.Size(3, "batch");
  const int64_t t = args.Size(4, "t");
  const double scale = args.Number(5, "scale");
  const size_t need = CheckedProduct(args, "batch*t*t", {batch, t, t});
  args.NeedLength("x", x.size, need, "batch*t*t");
  args.NeedLength("dy", dy.size, need, "batch*t*t");
  args.NeedLength("dx", dx.size, need, "batch*t*t");
  const size_t rows = static_cast<size_t>(batch) * static_cast<size_t>(t);
  const size_t cols = static_cast<size_t>(t);
  const PostScale post = simd::IsFloatValue(scale) ? PostScale::Float : PostScale::Double;
  ThreadPool::Instance().For(rows, RowGrain(cols), 1, [&](size_t r0, size_t r1) {
    simd::Run<SoftmaxBackwardBf16Kernel>(static_cast<const uint16_t*>(x.data), static_cast<const uint16_t*>(dy.data),
                                         dx.data, simd::ThreadRow(cols), cols, cols, static_cast<float>(scale), post,
                                         scale, r0, r1);
  });
  return info.Env().Undefined();
}

}  // namespace

void InitSoftmax(Napi::Env env, Napi::Object exports) {
  exports.Set("softmax", Napi::Function::New(env, Softmax, "softmax"));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward, "softmaxBackward"));
  exports.Set("logSoftmax", Napi::Function::New(env, LogSoftmax, "logSoftmax"));
  exports.Set("logSoftmaxBackward", Napi::Function::New(env, LogSoftmaxBackward, "logSoftmaxBackward"));
  exports.Set("causalSoftmax", Napi::Function::New(env, CausalSoftmax, "causalSoftmax"));
  exports.Set("softmaxBf16", Napi::Function::New(env, SoftmaxBf16Fn, "softmaxBf16"));
  exports.Set("softmaxBackwardBf16", Napi::Function::New(env, SoftmaxBackwardBf16, "softmaxBackwardBf16"));
  exports.Set("logSoftmaxBf16", Napi::Function::New(env, LogSoftmaxBf16Fn, "logSoftmaxBf16"));
  exports.Set("logSoftmaxBackwardBf16", Napi::Function::New(env, LogSoftmaxBackwardBf16, "logSoftmaxBackwardBf16"));
  exports.Set("causalSoftmaxBf16", Napi::Function::New(env, CausalSoftmaxBf16, "causalSoftmaxBf16"));
  exports.Set("causalSoftmaxBackwardBf16",
              Napi::Function::New(env, CausalSoftmaxBackwardBf16, "causalSoftmaxBackwardBf16"));
}

}  // namespace ds
