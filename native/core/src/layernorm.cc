#include "layernorm.h"

#include <cmath>

#include "args.h"
#include "elem_io.h"
#include "simd.h"
#include "threadpool.h"

namespace ds {
namespace {

constexpr size_t kGrainElems = 16384;
constexpr size_t kColBlock = 1024;

template <class V, class T>
struct Forward {
  static void Run(const T* x, const T* w, const T* b, T* out, float* mean, float* rstd, size_t cols, double eps,
                  size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const T* xr = x + r * cols;
      T* yr = out + r * cols;
      simd::DAcc<V> sum;
      size_t j = 0;
      for (; j + V::N <= cols; j += V::N) sum.add(simd::Load<V>(xr + j));
      if (j < cols) sum.add(simd::LoadN<V>(xr + j, cols - j, 0.0f));
      const double mu = sum.total() / static_cast<double>(cols);
      simd::DAcc<V> sq;
      j = 0;
      for (; j + V::N <= cols; j += V::N) sq.add_sqdiff(simd::Load<V>(xr + j), mu);
      double ss = sq.total();
      for (; j < cols; j++) {
        const double d = static_cast<double>(simd::Get(xr + j)) - mu;
        ss += d * d;
      }
      const double rs = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
      mean[r] = static_cast<float>(mu);
      rstd[r] = static_cast<float>(rs);
      // The mean as an unevaluated float sum hi + lo: x - hi is exact for x near the mean,
      // so normalising keeps full precision when the variance is tiny next to the mean.
      const float hi = static_cast<float>(mu);
      const V mh = V::set1(hi), ml = V::set1(static_cast<float>(mu - hi)), rv = V::set1(static_cast<float>(rs));
      j = 0;
      for (; j + V::N <= cols; j += V::N) {
        V xh = ((simd::Load<V>(xr + j) - mh) - ml) * rv;
        if (w) xh = xh * simd::Load<V>(w + j);
        if (b) xh = xh + simd::Load<V>(b + j);
        simd::Store(xh, yr + j);
      }
      if (j < cols) {
        const size_t n = cols - j;
        V xh = ((simd::LoadN<V>(xr + j, n, 0.0f) - mh) - ml) * rv;
        if (w) xh = xh * simd::LoadN<V>(w + j, n, 0.0f);
        if (b) xh = xh + simd::LoadN<V>(b + j, n, 0.0f);
        simd::StoreN(xh, yr + j, n);
      }
    }
  }
};

template <class V, class T>
struct BackwardRows {
  static void Run(const T* dy, const T* x, const T* w, const float* mean, const float* rstd, T* dx, size_t cols,
                  size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const T* gr = dy + r * cols;
      const T* xr = x + r * cols;
      T* dr = dx + r * cols;
      const V mu = V::set1(mean[r]), rs = V::set1(rstd[r]);
      simd::DAcc<V> sg, sgx;
      size_t j = 0;
      for (; j + V::N <= cols; j += V::N) {
        V g = simd::Load<V>(gr + j);
        if (w) g = g * simd::Load<V>(w + j);
        V xh = (simd::Load<V>(xr + j) - mu) * rs;
        sg.add(g);
        sgx.add_prod(g, xh);
      }
      if (j < cols) {
        const size_t n = cols - j;
        V g = simd::LoadN<V>(gr + j, n, 0.0f);
        if (w) g = g * simd::LoadN<V>(w + j, n, 0.0f);
        V xh = (simd::LoadN<V>(xr + j, n, 0.0f) - mu) * rs;
        sg.add(g);
        sgx.add_prod(g, xh);
      }
      const V mg = V::set1(static_cast<float>(sg.total() / static_cast<double>(cols)));
      const V mgx = V::set1(static_cast<float>(sgx.total() / static_cast<double>(cols)));
      j = 0;
      for (; j + V::N <= cols; j += V::N) {
        V g = simd::Load<V>(gr + j);
        if (w) g = g * simd::Load<V>(w + j);
        V xh = (simd::Load<V>(xr + j) - mu) * rs;
        simd::Store(rs * fnmadd(xh, mgx, g - mg), dr + j);
      }
      if (j < cols) {
        const size_t n = cols - j;
        V g = simd::LoadN<V>(gr + j, n, 0.0f);
        if (w) g = g * simd::LoadN<V>(w + j, n, 0.0f);
        V xh = (simd::LoadN<V>(xr + j, n, 0.0f) - mu) * rs;
        simd::StoreN(rs * fnmadd(xh, mgx, g - mg), dr + j, n);
      }
    }
  }
};

// Column sums for dweight / dbias over all rows, one column range per task, in double so
// the result does not depend on the row count or the thread split.
template <class V, class T>
struct BackwardColumns {
  static void Run(const T* dy, const T* x, const float* mean, const float* rstd, float* dw, float* db, size_t rows,
                  size_t cols, size_t c0, size_t c1) {
    alignas(64) double aw[kColBlock];
    alignas(64) double ab[kColBlock];
    for (size_t cb = c0; cb < c1; cb += kColBlock) {
      const size_t n = c1 - cb < kColBlock ? c1 - cb : kColBlock;
      for (size_t j = 0; j < n; j++) aw[j] = ab[j] = 0.0;
      for (size_t r = 0; r < rows; r++) {
        const T* gr = dy + r * cols + cb;
        const T* xr = x + r * cols + cb;
        const float mu = mean[r], rs = rstd[r];
        if (dw) {
          for (size_t j = 0; j < n; j++) {
            aw[j] += static_cast<double>(simd::Get(gr + j)) * ((simd::Get(xr + j) - mu) * rs);
          }
        }
        if (db) {
          for (size_t j = 0; j < n; j++) ab[j] += simd::Get(gr + j);
        }
      }
      if (dw) {
        for (size_t j = 0; j < n; j++) dw[cb + j] = static_cast<float>(dw[cb + j] + aw[j]);
      }
      if (db) {
        for (size_t j = 0; j < n; j++) db[cb + j] = static_cast<float>(db[cb + j] + ab[j]);
      }
    }
  }
};

template <class V>
using ForwardF32 = Forward<V, float>;
template <class V>
using ForwardBf16 = Forward<V, uint16_t>;
template <class V>
using BackwardRowsF32 = BackwardRows<V, float>;
template <class V>
using BackwardRowsBf16 = BackwardRows<V, uint16_t>;
template <class V>
using BackwardColumnsF32 = BackwardColumns<V, float>;
template <class V>
using BackwardColumnsBf16 = BackwardColumns<V, uint16_t>;

// T = float: the float32 kernels; T = uint16_t: the same math on bf16 bits (mean, rstd,
// dweight and dbias stay float32).
template <class T, template <class> class Fwd>
Napi::Value LayerNormImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 9);
  Span<T> x = args.Elems<T>(0, "x");
  Span<T> w = args.ElemsOrNull<T>(1, "weight");
  Span<T> b = args.ElemsOrNull<T>(2, "bias");
  Span<T> out = args.Elems<T>(3, "out");
  Span<float> mean = args.F32(4, "mean");
  Span<float> rstd = args.F32(5, "rstd");
  const int64_t rows = args.Size(6, "rows");
  const int64_t cols = args.Size(7, "cols");
  const double eps = args.Number(8, "eps");
  const size_t n = CheckedProduct(args, "rows*cols", {rows, cols});
  args.NeedLength("x", x.size, n, "rows*cols");
  args.NeedLength("out", out.size, n, "rows*cols");
  if (w.data) args.NeedLength("weight", w.size, static_cast<size_t>(cols), "cols");
  if (b.data) args.NeedLength("bias", b.size, static_cast<size_t>(cols), "cols");
  args.NeedLength("mean", mean.size, static_cast<size_t>(rows), "rows");
  args.NeedLength("rstd", rstd.size, static_cast<size_t>(rows), "rows");
  const size_t c = static_cast<size_t>(cols);
  ThreadPool::Instance().For(static_cast<size_t>(rows), 1 + kGrainElems / (c + 1), 1, [&](size_t r0, size_t r1) {
    simd::Run<Fwd>(static_cast<const T*>(x.data), static_cast<const T*>(w.data), static_cast<const T*>(b.data),
                   out.data, mean.data, rstd.data, c, eps, r0, r1);
  });
  return info.Env().Undefined();
}

template <class T, template <class> class Rows, template <class> class Columns>
Napi::Value LayerNormBackwardImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 10);
  Span<T> dy = args.Elems<T>(0, "dy");
  Span<T> x = args.Elems<T>(1, "x");
  Span<T> w = args.ElemsOrNull<T>(2, "weight");
  Span<float> mean = args.F32(3, "mean");
  Span<float> rstd = args.F32(4, "rstd");
  Span<T> dx = args.Elems<T>(5, "dx");
  Span<float> dw = args.F32OrNull(6, "dweight");
  Span<float> db = args.F32OrNull(7, "dbias");
  const int64_t rows = args.Size(8, "rows");
  const int64_t cols = args.Size(9, "cols");
  const size_t n = CheckedProduct(args, "rows*cols", {rows, cols});
  const size_t c = static_cast<size_t>(cols), r = static_cast<size_t>(rows);
  args.NeedLength("dy", dy.size, n, "rows*cols");
  args.NeedLength("x", x.size, n, "rows*cols");
  args.NeedLength("dx", dx.size, n, "rows*cols");
  if (w.data) args.NeedLength("weight", w.size, c, "cols");
  if (dw.data) args.NeedLength("dweight", dw.size, c, "cols");
  if (db.data) args.NeedLength("dbias", db.size, c, "cols");
  args.NeedLength("mean", mean.size, r, "rows");
  args.NeedLength("rstd", rstd.size, r, "rows");
  ThreadPool& pool = ThreadPool::Instance();
  pool.For(r, 1 + kGrainElems / (c + 1), 1, [&](size_t r0, size_t r1) {
    simd::Run<Rows>(static_cast<const T*>(dy.data), static_cast<const T*>(x.data), static_cast<const T*>(w.data),
                    static_cast<const float*>(mean.data), static_cast<const float*>(rstd.data), dx.data, c, r0, r1);
  });
  if ((dw.data || db.data) && r > 0) {
    pool.For(c, 1 + kGrainElems / (r + 1), 16, [&](size_t c0, size_t c1) {
      simd::Run<Columns>(static_cast<const T*>(dy.data), static_cast<const T*>(x.data),
                         static_cast<const float*>(mean.data), static_cast<const float*>(rstd.data), dw.data, db.data,
                         r, c, c0, c1);
    });
  }
  return info.Env().Undefined();
}

Napi::Value LayerNorm(const Napi::CallbackInfo& info) { return LayerNormImpl<float, ForwardF32>(info, "layerNorm"); }
Napi::Value LayerNormBf16(const Napi::CallbackInfo& info) {
  return LayerNormImpl<uint16_t, ForwardBf16>(info, "layerNormBf16");
}
Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  return LayerNormBackwardImpl<float, BackwardRowsF32, BackwardColumnsF32>(info, "layerNormBackward");
}
Napi::Value LayerNormBackwardBf16(const Napi::CallbackInfo& info) {
  return LayerNormBackwardImpl<uint16_t, BackwardRowsBf16, BackwardColumnsBf16>(info, "layerNormBackwardBf16");
}

}  // namespace

void InitLayerNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm, "layerNorm"));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward, "layerNormBackward"));
  exports.Set("layerNormBf16", Napi::Function::New(env, LayerNormBf16, "layerNormBf16"));
  exports.Set("layerNormBackwardBf16", Napi::Function::New(env, LayerNormBackwardBf16, "layerNormBackwardBf16"));
}

}  // namespace ds
