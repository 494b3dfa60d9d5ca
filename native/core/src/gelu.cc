// NOTE: the tanh form is evaluated through 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)): the same
// value, but without the cancellation of 1 + tanh(u) for negative inputs, and with one
// exponential instead of a tanh. The erf form uses a CDF that is accurate in its tail.
#include "gelu.h"

#include "args.h"
#include "elem_io.h"
#include "simd.h"
#include "threadpool.h"

namespace ds {
namespace {

constexpr size_t kGrain = size_t{1} << 13;
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

template <class V>
V GeluTanh(V x) {
  V u = V::set1(kSqrt2OverPi) * x * fmadd(V::set1(kCubic), x * x, V::set1(1.0f));
  return x / (V::set1(1.0f) + simd::vexp(V::set1(-2.0f) * u));
}

template <class V>
V GeluTanhGrad(V x) {
  V x2 = x * x;
  V u = V::set1(kSqrt2OverPi) * x * fmadd(V::set1(kCubic), x2, V::set1(1.0f));
  V e = simd::vexp(V::set1(-2.0f) * u);
  V s = V::set1(1.0f) / (V::set1(1.0f) + e);  // (1 + tanh u) / 2
  // 1 - s: exact as e * s unless e overflowed, where s = 0 and 1 - s is the exact form.
  V oms = select(lt(s, V::set1(0.5f)), V::set1(1.0f) - s, e * s);
  V du = V::set1(kSqrt2OverPi) * fmadd(V::set1(3.0f * kCubic), x2, V::set1(1.0f));
  // d/dx [x s] = s + x * ds/du * du/dx, with ds/du = 2 s (1 - s).
  return fmadd(V::set1(2.0f) * x * du, s * oms, s);
}

template <class V>
V GeluErf(V x) {
  return x * simd::normal_cdf(x);
}

template <class V>
V GeluErfGrad(V x) {
  V pdf = V::set1(kInvSqrt2Pi) * simd::vexp(V::set1(-0.5f) * x * x);
  return fmadd(x, pdf, simd::normal_cdf(x));
}

template <class V, class T>
struct Forward {
  static void Run(const T* x, T* y, size_t n, int approximate) {
    size_t i = 0;
    if (approximate == 1) {
      for (; i + V::N <= n; i += V::N) simd::Store(GeluTanh(simd::Load<V>(x + i)), y + i);
      if (i < n) simd::StoreN(GeluTanh(simd::LoadN<V>(x + i, n - i, 0.0f)), y + i, n - i);
    } else {
      for (; i + V::N <= n; i += V::N) simd::Store(GeluErf(simd::Load<V>(x + i)), y + i);
      if (i < n) simd::StoreN(GeluErf(simd::LoadN<V>(x + i, n - i, 0.0f)), y + i, n - i);
    }
  }
};

template <class V, class T>
struct Backward {
  static void Run(const T* x, const T* dy, T* dx, size_t n, int approximate) {
    size_t i = 0;
    if (approximate == 1) {
      for (; i + V::N <= n; i += V::N) {
        simd::Store(simd::Load<V>(dy + i) * GeluTanhGrad(simd::Load<V>(x + i)), dx + i);
      }
      if (i < n) {
        simd::StoreN(simd::LoadN<V>(dy + i, n - i, 0.0f) * GeluTanhGrad(simd::LoadN<V>(x + i, n - i, 0.0f)), dx + i,
                     n - i);
      }
    } else {
      for (; i + V::N <= n; i += V::N) {
        simd::Store(simd::Load<V>(dy + i) * GeluErfGrad(simd::Load<V>(x + i)), dx + i);
      }
      if (i < n) {
        simd::StoreN(simd::LoadN<V>(dy + i, n - i, 0.0f) * GeluErfGrad(simd::LoadN<V>(x + i, n - i, 0.0f)), dx + i,
                     n - i);
      }
    }
  }
};

template <class V>
using ForwardF32 = Forward<V, float>;
template <class V>
using ForwardBf16 = Forward<V, uint16_t>;
template <class V>
using BackwardF32 = Backward<V, float>;
template <class V>
using BackwardBf16 = Backward<V, uint16_t>;

// T = float: float32 arrays; T = uint16_t: bf16 bits with the same float32 math inside.
template <class T, template <class> class K>
Napi::Value GeluImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 3);
  Span<T> x = args.Elems<T>(0, "x");
  Span<T> out = args.Elems<T>(1, "out");
  const int approximate = static_cast<int>(args.Int(2, "approximate", 0, 1));
  args.NeedLength("out", out.size, x.size, "x.length");
  ThreadPool::Instance().For(x.size, kGrain, 16, [&](size_t b, size_t e) {
    simd::Run<K>(static_cast<const T*>(x.data + b), out.data + b, e - b, approximate);
  });
  return info.Env().Undefined();
}

template <class T, template <class> class K>
Napi::Value GeluBackwardImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 4);
  Span<T> x = args.Elems<T>(0, "x");
  Span<T> dy = args.Elems<T>(1, "dy");
  Span<T> dx = args.Elems<T>(2, "dx");
  const int approximate = static_cast<int>(args.Int(3, "approximate", 0, 1));
  args.NeedLength("dy", dy.size, x.size, "x.length");
  args.NeedLength("dx", dx.size, x.size, "x.length");
  ThreadPool::Instance().For(x.size, kGrain, 16, [&](size_t b, size_t e) {
    simd::Run<K>(static_cast<const T*>(x.data + b), static_cast<const T*>(dy.data + b), dx.data + b, e - b,
                 approximate);
  });
  return info.Env().Undefined();
}

Napi::Value Gelu(const Napi::CallbackInfo& info) { return GeluImpl<float, ForwardF32>(info, "gelu"); }
Napi::Value GeluBf16(const Napi::CallbackInfo& info) { return GeluImpl<uint16_t, ForwardBf16>(info, "geluBf16"); }
Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  return GeluBackwardImpl<float, BackwardF32>(info, "geluBackward");
}
Napi::Value GeluBackwardBf16(const Napi::CallbackInfo& info) {
  return GeluBackwardImpl<uint16_t, BackwardBf16>(info, "geluBackwardBf16");
}

}  // namespace

void InitGelu(Napi::Env env, Napi::Object exports) {
  exports.Set("gelu", Napi::Function::New(env, Gelu, "gelu"));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward, "geluBackward"));
  exports.Set("geluBf16", Napi::Function::New(env, GeluBf16, "geluBf16"));
  exports.Set("geluBackwardBf16", Napi::Function::New(env, GeluBackwardBf16, "geluBackwardBf16"));
}

}  // namespace ds
