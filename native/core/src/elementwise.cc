#include "elementwise.h"

#include <cmath>

#include "args.h"
#include "elem_io.h"
#include "ops.h"
#include "simd.h"
#include "threadpool.h"

namespace ds {
namespace {

using simd::F1;

// Below this many elements per thread a memory-bound loop finishes before a woken thread
// would start; transcendental ops do ~10x the work per element and split earlier.
constexpr size_t kGrainCheap = size_t{1} << 16;
constexpr size_t kGrainHeavy = size_t{1} << 13;
constexpr size_t kAlign = 16;

bool IsHeavy(UnaryOp op) {
  return op == UnaryOp::Exp || op == UnaryOp::Log || op == UnaryOp::Tanh || op == UnaryOp::Sigmoid;
}

// T = float: float32 arrays; T = uint16_t: bf16 bits, the same float32 math, one rounding.
template <class V, class T>
struct UnaryKernel {
  static void Run(UnaryOp op, const T* x, T* y, size_t n) {
    WithUnaryOp(op, [&](auto tag) {
      constexpr UnaryOp kOp = decltype(tag)::value;
      size_t i = 0;
      for (; i + V::N <= n; i += V::N) simd::Store(ApplyUnary<kOp>(simd::Load<V>(x + i)), y + i);
      // 1.0 keeps the unused lanes of log/rsqrt free of special values.
      if (i < n) simd::StoreN(ApplyUnary<kOp>(simd::LoadN<V>(x + i, n - i, 1.0f)), y + i, n - i);
    });
  }
};

// out = (float)(a OP s) evaluated in double.
template <class T>
void ScalarOpDouble(BinaryOp op, const T* a, double s, T* y, size_t n) {
  using simd::Get;
  using simd::Put;
  switch (op) {
    case BinaryOp::Add:
      for (size_t i = 0; i < n; i++) Put(y + i, static_cast<float>(Get(a + i) + s));
      break;
    case BinaryOp::Sub:
      for (size_t i = 0; i < n; i++) Put(y + i, static_cast<float>(Get(a + i) - s));
      break;
    case BinaryOp::Mul:
      for (size_t i = 0; i < n; i++) Put(y + i, static_cast<float>(Get(a + i) * s));
      break;
    default:
      for (size_t i = 0; i < n; i++) Put(y + i, static_cast<float>(Get(a + i) / s));
      break;
  }
}

inline bool IsFloat(double v) { return static_cast<double>(static_cast<float>(v)) == v; }

template <class V, class T>
struct ScalarOpKernel {
  static void Run(BinaryOp op, const T* a, double s_double, T* y, size_t n) {
    using simd::Get;
    using simd::Put;
    const float s = static_cast<float>(s_double);
    // A scalar that float cannot hold (0.1, 1/3) is applied in double, as the reference does:
    // rounding it first would shift every result, and break a + s where a is close to -s.
    if (!IsFloat(s_double) && op != BinaryOp::Max && op != BinaryOp::Min && op != BinaryOp::Pow) {
      ScalarOpDouble(op, a, s_double, y, n);
      return;
    }
    bool vector = WithVectorOp(op, [&](auto o) {
      using Op = decltype(o);
      const V sv = V::set1(s);
      size_t i = 0;
      for (; i + V::N <= n; i += V::N) simd::Store(Op::Apply(simd::Load<V>(a + i), sv), y + i);
      if (i < n) simd::StoreN(Op::Apply(simd::LoadN<V>(a + i, n - i, 1.0f), sv), y + i, n - i);
    });
    if (vector) return;
    if (s == 2.0f) {
      // x ** 2 is exactly x * x rounded once, whichever way it is computed.
      size_t i = 0;
      for (; i + V::N <= n; i += V::N) {
        V x = simd::Load<V>(a + i);
        simd::Store(x * x, y + i);
      }
      for (; i < n; i++) Put(y + i, Get(a + i) * Get(a + i));
      return;
    }
    if (s_double == 0.5) {
      // pow(x, 0.5) is sqrt(x) except pow(-inf, 0.5) = +inf and pow(-0, 0.5) = +0.
      for (size_t i = 0; i < n; i++) {
        const double x = Get(a + i);
        Put(y + i, static_cast<float>(x == -HUGE_VAL ? HUGE_VAL : std::sqrt(x) + 0.0));
      }
      return;
    }
    const double mag = std::fabs(s_double);
    if (mag <= 64.0 && std::floor(mag) == mag) {
      // Small integer powers by squaring in double: products of floats stay within a few
      // double ulps, far below float rounding, and avoid a pow call per element.
      const unsigned e = static_cast<unsigned>(mag);
      const bool invert = s_double < 0;
      for (size_t i = 0; i < n; i++) {
        double base = Get(a + i), r = 1.0;
        for (unsigned k = e; k != 0; k >>= 1) {
          if (k & 1) r *= base;
          base *= base;
        }
        Put(y + i, static_cast<float>(invert ? 1.0 / r : r));
      }
      return;
    }
    for (size_t i = 0; i < n; i++) {
      Put(y + i, static_cast<float>(std::pow(static_cast<double>(Get(a + i)), s_double)));
    }
  }
};

// axpy and scale take alpha in double for the same reason as binaryScalar: a learning rate
// like 0.01 is not a float, and the reference applies it unrounded.
template <class V>
struct AxpyKernel {
  static void Run(double alpha, const float* x, float* y, size_t n) {
    if (!IsFloat(alpha)) {
      for (size_t i = 0; i < n; i++) y[i] = static_cast<float>(y[i] + alpha * x[i]);
      return;
    }
    const V av = V::set1(static_cast<float>(alpha));
    size_t i = 0;
    for (; i + V::N <= n; i += V::N) fmadd(av, V::load(x + i), V::load(y + i)).store(y + i);
    if (i < n) fmadd(av, V::loadn(x + i, n - i, 0.0f), V::loadn(y + i, n - i, 0.0f)).storen(y + i, n - i);
  }
};

template <class V>
struct ScaleKernel {
  static void Run(double alpha, float* x, size_t n) {
    if (!IsFloat(alpha)) {
      for (size_t i = 0; i < n; i++) x[i] = static_cast<float>(x[i] * alpha);
      return;
    }
    const V av = V::set1(static_cast<float>(alpha));
    size_t i = 0;
    for (; i + V::N <= n; i += V::N) (V::load(x + i) * av).store(x + i);
    if (i < n) (V::loadn(x + i, n - i, 0.0f) * av).storen(x + i, n - i);
  }
};

template <class V>
using UnaryF32 = UnaryKernel<V, float>;
template <class V>
using UnaryBf16 = UnaryKernel<V, uint16_t>;
template <class V>
using ScalarOpF32 = ScalarOpKernel<V, float>;
template <class V>
using ScalarOpBf16 = ScalarOpKernel<V, uint16_t>;

template <class T, template <class> class K>
Napi::Value UnaryImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 3);
  auto op = static_cast<UnaryOp>(args.Int(0, "op", 0, kUnaryOps - 1));
  Span<T> a = args.Elems<T>(1, "a");
  Span<T> out = args.Elems<T>(2, "out");
  args.NeedLength("out", out.size, a.size, "a.length");
  ThreadPool::Instance().For(a.size, IsHeavy(op) ? kGrainHeavy : kGrainCheap, kAlign, [&](size_t b, size_t e) {
    simd::Run<K>(op, static_cast<const T*>(a.data + b), out.data + b, e - b);
  });
  return info.Env().Undefined();
}

template <class T, template <class> class K>
Napi::Value BinaryScalarImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 4);
  auto op = static_cast<BinaryOp>(args.Int(0, "op", 0, kBinaryOps - 1));
  Span<T> a = args.Elems<T>(1, "a");
  const double s = args.Number(2, "s");
  Span<T> out = args.Elems<T>(3, "out");
  args.NeedLength("out", out.size, a.size, "a.length");
  size_t grain = op == BinaryOp::Pow ? size_t{1} << 11 : kGrainCheap;
  ThreadPool::Instance().For(a.size, grain, kAlign, [&](size_t b, size_t e) {
    simd::Run<K>(op, static_cast<const T*>(a.data + b), s, out.data + b, e - b);
  });
  return info.Env().Undefined();
}

Napi::Value Unary(const Napi::CallbackInfo& info) { return UnaryImpl<float, UnaryF32>(info, "unary"); }
Napi::Value UnaryBf16Fn(const Napi::CallbackInfo& info) { return UnaryImpl<uint16_t, UnaryBf16>(info, "unaryBf16"); }
Napi::Value BinaryScalar(const Napi::CallbackInfo& info) {
  return BinaryScalarImpl<float, ScalarOpF32>(info, "binaryScalar");
}
Napi::Value BinaryScalarBf16(const Napi::CallbackInfo& info) {
  return BinaryScalarImpl<uint16_t, ScalarOpBf16>(info, "binaryScalarBf16");
}

Napi::Value Axpy(const Napi::CallbackInfo& info) {
  Args args(info, "axpy", 3);
  const double alpha = args.Number(0, "alpha");
  Span<float> x = args.F32(1, "x");
  Span<float> y = args.F32(2, "y");
  args.NeedLength("y", y.size, x.size, "x.length");
  ThreadPool::Instance().For(x.size, kGrainCheap, kAlign, [&](size_t b, size_t e) {
    simd::Run<AxpyKernel>(alpha, static_cast<const float*>(x.data + b), y.data + b, e - b);
  });
  return info.Env().Undefined();
}

Napi::Value Scale(const Napi::CallbackInfo& info) {
  Args args(info, "scale", 2);
  Span<float> x = args.F32(0, "x");
  const double alpha = args.Number(1, "alpha");
  ThreadPool::Instance().For(x.size, kGrainCheap, kAlign,
                             [&](size_t b, size_t e) { simd::Run<ScaleKernel>(alpha, x.data + b, e - b); });
  return info.Env().Undefined();
}

}  // namespace

void InitElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("unary", Napi::Function::New(env, Unary, "unary"));
  exports.Set("binaryScalar", Napi::Function::New(env, BinaryScalar, "binaryScalar"));
  exports.Set("axpy", Napi::Function::New(env, Axpy, "axpy"));
  exports.Set("scale", Napi::Function::New(env, Scale, "scale"));
  exports.Set("unaryBf16", Napi::Function::New(env, UnaryBf16Fn, "unaryBf16"));
  exports.Set("binaryScalarBf16", Napi::Function::New(env, BinaryScalarBf16, "binaryScalarBf16"));
}

}  // namespace ds
