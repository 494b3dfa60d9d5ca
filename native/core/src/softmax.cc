#include "softmax.h"

#include <cmath>

#include "args.h"
#include "simd.h"
#include "softmax_rows.h"
#include "threadpool.h"

namespace ds {
namespace {

// Rows per thread are chosen so each thread gets at least this many elements.
constexpr size_t kGrainElems = 8192;

size_t RowGrain(size_t cols) { return 1 + kGrainElems / (cols + 1); }

template <class V>
struct SoftmaxKernel {
  static void Run(const float* x, float* y, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) SoftmaxRows<V>::Softmax(x + r * cols, y + r * cols, cols, 1.0f);
  }
};

template <class V>
struct CausalKernel {
  static void Run(const float* x, float* y, size_t t, float scale, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const size_t valid = r % t + 1;
      SoftmaxRows<V>::Softmax(x + r * t, y + r * t, valid, scale);
      for (size_t j = valid; j < t; j++) y[r * t + j] = 0.0f;
    }
  }
};

template <class V>
struct LogSoftmaxKernel {
  static void Run(const float* x, float* y, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      const float m = SoftmaxRows<V>::Max(xr, cols, 1.0f);
      const double sum = SoftmaxRows<V>::ExpSum(xr, cols, m);
      // (x - max) - log(sum) in float: x - max is exact near the max, so large offsets cost
      // nothing, whereas subtracting a rounded max + log(sum) would lose ulp(max).
      const V ls = V::set1(static_cast<float>(std::log(sum)));
      const V mv = V::set1(m);
      size_t j = 0;
      for (; j + V::N <= cols; j += V::N) ((V::load(xr + j) - mv) - ls).store(yr + j);
      if (j < cols) ((V::loadn(xr + j, cols - j, 0.0f) - mv) - ls).storen(yr + j, cols - j);
    }
  }
};

template <class V>
struct SoftmaxBackwardKernel {
  static void Run(const float* y, const float* dy, float* dx, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const float* yr = y + r * cols;
      const float* gr = dy + r * cols;
      float* dr = dx + r * cols;
      simd::DAcc<V> acc;
      size_t j = 0;
      for (; j + V::N <= cols; j += V::N) acc.add_prod(V::load(gr + j), V::load(yr + j));
      if (j < cols) acc.add_prod(V::loadn(gr + j, cols - j, 0.0f), V::loadn(yr + j, cols - j, 0.0f));
      const V dot = V::set1(static_cast<float>(acc.total()));
      j = 0;
      for (; j + V::N <= cols; j += V::N) (V::load(yr + j) * (V::load(gr + j) - dot)).store(dr + j);
      if (j < cols) {
        (V::loadn(yr + j, cols - j, 0.0f) * (V::loadn(gr + j, cols - j, 0.0f) - dot)).storen(dr + j, cols - j);
      }
    }
  }
};

template <class V>
struct LogSoftmaxBackwardKernel {
  static void Run(const float* y, const float* dy, float* dx, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const float* yr = y + r * cols;
      const float* gr = dy + r * cols;
      float* dr = dx + r * cols;
      simd::DAcc<V> acc;
      size_t j = 0;
      for (; j + V::N <= cols; j += V::N) acc.add(V::load(gr + j));
      if (j < cols) acc.add(V::loadn(gr + j, cols - j, 0.0f));
      const V s = V::set1(static_cast<float>(acc.total()));
      j = 0;
      for (; j + V::N <= cols; j += V::N) fnmadd(simd::vexp(V::load(yr + j)), s, V::load(gr + j)).store(dr + j);
      if (j < cols) {
        V e = simd::vexp(V::loadn(yr + j, cols - j, 0.0f));
        fnmadd(e, s, V::loadn(gr + j, cols - j, 0.0f)).storen(dr + j, cols - j);
      }
    }
  }
};

struct RowArgs {
  Span<float> a, b, out;
  size_t rows, cols;
};

// (in, out, rows, cols) or (in1, in2, out, rows, cols) with every array >= rows*cols.
RowArgs ReadRows(const Args& args, int arrays, const char* const* names) {
  RowArgs r;
  r.a = args.F32(0, names[0]);
  if (arrays == 3) r.b = args.F32(1, names[1]);
  r.out = args.F32(arrays - 1, names[arrays - 1]);
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

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Args args(info, "softmax", 4);
  const char* const names[] = {"x", "out"};
  RowArgs r = ReadRows(args, 2, names);
  ThreadPool::Instance().For(r.rows, RowGrain(r.cols), 1, [&](size_t r0, size_t r1) {
    simd::Run<SoftmaxKernel>(static_cast<const float*>(r.a.data), r.out.data, r.cols, r0, r1);
  });
  return info.Env().Undefined();
}

Napi::Value LogSoftmax(const Napi::CallbackInfo& info) {
  Args args(info, "logSoftmax", 4);
  const char* const names[] = {"x", "out"};
  RowArgs r = ReadRows(args, 2, names);
  ThreadPool::Instance().For(r.rows, RowGrain(r.cols), 1, [&](size_t r0, size_t r1) {
    simd::Run<LogSoftmaxKernel>(static_cast<const float*>(r.a.data), r.out.data, r.cols, r0, r1);
  });
  return info.Env().Undefined();
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxBackward", 5);
  const char* const names[] = {"y", "dy", "dx"};
  RowArgs r = ReadRows(args, 3, names);
  ThreadPool::Instance().For(r.rows, RowGrain(r.cols), 1, [&](size_t r0, size_t r1) {
    simd::Run<SoftmaxBackwardKernel>(static_cast<const float*>(r.a.data), static_cast<const float*>(r.b.data),
                                     r.out.data, r.cols, r0, r1);
  });
  return info.Env().Undefined();
}

Napi::Value LogSoftmaxBackward(const Napi::CallbackInfo& info) {
  Args args(info, "logSoftmaxBackward", 5);
  const char* const names[] = {"y", "dy", "dx"};
  RowArgs r = ReadRows(args, 3, names);
  ThreadPool::Instance().For(r.rows, RowGrain(r.cols), 1, [&](size_t r0, size_t r1) {
    simd::Run<LogSoftmaxBackwardKernel>(static_cast<const float*>(r.a.data), static_cast<const float*>(r.b.data),
                                        r.out.data, r.cols, r0, r1);
  });
  return info.Env().Undefined();
}

Napi::Value CausalSoftmax(const Napi::CallbackInfo& info) {
  Args args(info, "causalSoftmax", 5);
  Span<float> x = args.F32(0, "x");
  Span<float> out = args.F32(1, "out");
  const int64_t batch = args.Size(2, "batch");
  const int64_t t = args.Size(3, "t");
  const float scale = static_cast<float>(args.Number(4, "scale"));
  const size_t need = CheckedProduct(args, "batch*t*t", {batch, t, t});
  args.NeedLength("x", x.size, need, "batch*t*t");
  args.NeedLength("out", out.size, need, "batch*t*t");
  const size_t rows = static_cast<size_t>(batch) * static_cast<size_t>(t);
  // Row i does i+1 columns of work: about t/2 on average.
  ThreadPool::Instance().For(rows, RowGrain(static_cast<size_t>(t) / 2), 1, [&](size_t r0, size_t r1) {
    simd::Run<CausalKernel>(static_cast<const float*>(x.data), out.data, static_cast<size_t>(t), scale, r0, r1);
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
}

}  // namespace ds
