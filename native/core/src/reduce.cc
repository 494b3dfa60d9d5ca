#include "reduce.h"

#include <cmath>
#include <limits>
#include <vector>

#include "args.h"
#include "elem_io.h"
#include "simd.h"
#include "threadpool.h"

namespace ds {
namespace {

// Columns handled per task when reducing with inner > 1: the double accumulators for one
// block (16 KiB) stay in L1 while the dim rows stream past.
constexpr size_t kColBlock = 2048;
constexpr size_t kSumBlock = size_t{1} << 16;

// x is float32 or bf16 bits (T = uint16_t); results are float32 either way.
template <class V, class T>
struct ReduceKernel {
  // Reduces tasks [t0, t1) where task t = (o, column block cb) = (t / blocks, t % blocks).
  static void Run(int mode, const T* x, size_t dim, size_t inner, float* out, int32_t* indices, size_t t0,
                  size_t t1) {
    const size_t blocks = (inner + kColBlock - 1) / kColBlock;
    for (size_t t = t0; t < t1; t++) {
      const size_t o = t / blocks;
      const size_t j0 = (t % blocks) * kColBlock;
      const size_t cols = inner - j0 < kColBlock ? inner - j0 : kColBlock;
      const T* base = x + o * dim * inner + j0;
      float* dst = out + o * inner + j0;
      int32_t* idx = indices ? indices + o * inner + j0 : nullptr;
      if (inner == 1) {
        Row(mode, base, dim, dst, idx);
      } else if (mode == 2) {
        ColumnsMax(base, dim, inner, cols, dst, idx);
      } else {
        ColumnsSum(mode, base, dim, inner, cols, dst);
      }
    }
  }

  // Contiguous row: vector accumulation.
  static void Row(int mode, const T* x, size_t dim, float* dst, int32_t* idx) {
    if (mode != 2) {
      simd::DAcc<V> acc;
      size_t i = 0;
      for (; i + V::N <= dim; i += V::N) acc.add(simd::Load<V>(x + i));
      if (i < dim) acc.add(simd::LoadN<V>(x + i, dim - i, 0.0f));
      double s = acc.total();
      *dst = static_cast<float>(mode == 1 ? s / static_cast<double>(dim) : s);
      return;
    }
    if (dim == 0) {
      *dst = std::numeric_limits<float>::quiet_NaN();
      if (idx) *idx = 0;
      return;
    }
    // Pass 1 finds the maximum (or that a NaN exists); pass 2 the first index holding it.
    const float ninf = -std::numeric_limits<float>::infinity();
    V m = V::set1(ninf);
    auto nan = simd::isnan(V::set1(0.0f));
    size_t i = 0;
    for (; i + V::N <= dim; i += V::N) {
      V v = simd::Load<V>(x + i);
      nan = simd::mor(nan, simd::isnan(v));
      m = max(m, v);
    }
    if (i < dim) {
      V v = simd::LoadN<V>(x + i, dim - i, ninf);
      nan = simd::mor(nan, simd::isnan(v));
      m = max(m, v);
    }
    const bool has_nan = simd::hmax(select(nan, V::set1(1.0f), V::set1(0.0f))) > 0.0f;
    const float best = has_nan ? std::numeric_limits<float>::quiet_NaN() : simd::hmax(m);
    size_t at = 0;
    for (size_t j = 0; j < dim; j++) {
      if (has_nan ? std::isnan(simd::Get(x + j)) : simd::Get(x + j) == best) {
        at = j;
        break;
      }
    }
    *dst = best;
    if (idx) *idx = static_cast<int32_t>(at);
  }

  static void ColumnsSum(int mode, const T* x, size_t dim, size_t inner, size_t cols, float* dst) {
    alignas(64) double acc[kColBlock];
    for (size_t j = 0; j < cols; j++) acc[j] = 0.0;
    for (size_t d = 0; d < dim; d++) {
      const T* row = x + d * inner;
      for (size_t j = 0; j < cols; j++) acc[j] += simd::Get(row + j);
    }
    for (size_t j = 0; j < cols; j++) {
      dst[j] = static_cast<float>(mode == 1 ? acc[j] / static_cast<double>(dim) : acc[j]);
    }
  }

  static void ColumnsMax(const T* x, size_t dim, size_t inner, size_t cols, float* dst, int32_t* idx) {
    if (dim == 0) {
      for (size_t j = 0; j < cols; j++) {
        dst[j] = std::numeric_limits<float>::quiet_NaN();
        if (idx) idx[j] = 0;
      }
      return;
    }
    alignas(64) int32_t arg[kColBlock];
    for (size_t j = 0; j < cols; j++) {
      dst[j] = simd::Get(x + j);
      arg[j] = 0;
    }
    for (size_t d = 1; d < dim; d++) {
      const T* row = x + d * inner;
      const int32_t di = static_cast<int32_t>(d);
      for (size_t j = 0; j < cols; j++) {
        const float v = simd::Get(row + j), b = dst[j];
        // Strictly greater keeps the first maximum; a NaN replaces anything but a NaN.
        const bool take = v > b || (v != v && b == b);
        dst[j] = take ? v : b;
        arg[j] = take ? di : arg[j];
      }
    }
    if (idx) {
      for (size_t j = 0; j < cols; j++) idx[j] = arg[j];
    }
  }
};

template <class V>
using ReduceF32 = ReduceKernel<V, float>;
template <class V>
using ReduceBf16 = ReduceKernel<V, uint16_t>;

template <class V>
struct SumBlocksKernel {
  static void Run(const float* x, size_t n, bool squares, double* partial, size_t b0, size_t b1) {
    for (size_t blk = b0; blk < b1; blk++) {
      const size_t start = blk * kSumBlock;
      const size_t len = n - start < kSumBlock ? n - start : kSumBlock;
      const float* p = x + start;
      simd::DAcc<V> a0, a1;
      size_t i = 0;
      if (squares) {
        for (; i + 2 * V::N <= len; i += 2 * V::N) {
          V u = V::load(p + i), w = V::load(p + i + V::N);
          a0.add_prod(u, u);
          a1.add_prod(w, w);
        }
        for (; i + V::N <= len; i += V::N) {
          V u = V::load(p + i);
          a0.add_prod(u, u);
        }
        if (i < len) {
          V u = V::loadn(p + i, len - i, 0.0f);
          a1.add_prod(u, u);
        }
      } else {
        for (; i + 2 * V::N <= len; i += 2 * V::N) {
          a0.add(V::load(p + i));
          a1.add(V::load(p + i + V::N));
        }
        for (; i + V::N <= len; i += V::N) a0.add(V::load(p + i));
        if (i < len) a1.add(V::loadn(p + i, len - i, 0.0f));
      }
      partial[blk] = a0.total() + a1.total();
    }
  }
};

template <class T, template <class> class K>
Napi::Value ReduceImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 7);
  const int mode = static_cast<int>(args.Int(0, "mode", 0, 2));
  Span<T> x = args.Elems<T>(1, "x");
  const int64_t outer = args.Size(2, "outer");
  const int64_t dim = args.Int(3, "dim", 0, INT32_MAX);
  const int64_t inner = args.Size(4, "inner");
  Span<float> out = args.F32(5, "out");
  Span<int32_t> indices = args.I32OrNull(6, "indices");
  const size_t n_in = CheckedProduct(args, "outer*dim*inner", {outer, dim, inner});
  const size_t n_out = CheckedProduct(args, "outer*inner", {outer, inner});
  args.NeedLength("x", x.size, n_in, "outer*dim*inner");
  args.NeedLength("out", out.size, n_out, "outer*inner");
  if (indices.data) args.NeedLength("indices", indices.size, n_out, "outer*inner");
  if (n_out == 0) return info.Env().Undefined();
  const size_t blocks = (static_cast<size_t>(inner) + kColBlock - 1) / kColBlock;
  const size_t tasks = static_cast<size_t>(outer) * blocks;
  const size_t work_per_task = static_cast<size_t>(dim) * (inner < static_cast<int64_t>(kColBlock) ? inner : kColBlock);
  const size_t grain = 1 + (size_t{1} << 15) / (work_per_task + 1);
  int32_t* idx = mode == 2 ? indices.data : nullptr;
  ThreadPool::Instance().For(tasks, grain, 1, [&](size_t t0, size_t t1) {
    simd::Run<K>(mode, static_cast<const T*>(x.data), static_cast<size_t>(dim),
                            static_cast<size_t>(inner), out.data, idx, t0, t1);
  });
  return info.Env().Undefined();
}

Napi::Value Reduce(const Napi::CallbackInfo& info) { return ReduceImpl<float, ReduceF32>(info, "reduce"); }
Napi::Value ReduceBf16Fn(const Napi::CallbackInfo& info) { return ReduceImpl<uint16_t, ReduceBf16>(info, "reduceBf16"); }

Napi::Value SumAll(const Napi::CallbackInfo& info) {
  Args args(info, "sumAll", 2);
  Span<float> x = args.F32(0, "x");
  const bool squares = args.Bool(1, "squares");
  const size_t blocks = (x.size + kSumBlock - 1) / kSumBlock;
  std::vector<double> partial(blocks, 0.0);
  ThreadPool::Instance().For(blocks, 2, 1, [&](size_t b0, size_t b1) {
    simd::Run<SumBlocksKernel>(static_cast<const float*>(x.data), x.size, squares, partial.data(), b0, b1);
  });
  double s = 0.0;
  for (double p : partial) s += p;
  return Napi::Number::New(info.Env(), s);
}

}  // namespace

void InitReduce(Napi::Env env, Napi::Object exports) {
  exports.Set("reduce", Napi::Function::New(env, Reduce, "reduce"));
  exports.Set("reduceBf16", Napi::Function::New(env, ReduceBf16Fn, "reduceBf16"));
  exports.Set("sumAll", Napi::Function::New(env, SumAll, "sumAll"));
}

}  // namespace ds
