// NOTE: the tanh form is evaluated through 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)): the same
// value, but without the cancellation of 1 + tanh(u) for negative inputs, and with one
// exponential instead of a tanh. The erf form uses a CDF that is accurate in its tail.
#include "gelu.h"

#include "args.h"
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

template <class V>
struct ForwardKernel {
  static void Run(const float* x, float* y, size_t n, int approximate) {
    size_t i = 0;
    if (approximate == 1) {
      for (; i + V::N <= n; i += V::N) GeluTanh(V::load(x + i)).store(y + i);
      if (i < n) GeluTanh(V::loadn(x + i, n - i, 0.0f)).storen(y + i, n - i);
    } else {
      for (; i + V::N <= n; i += V::N) GeluErf(V::load(x + i)).store(y + i);
      if (i < n) GeluErf(V::loadn(x + i, n - i, 0.0f)).storen(y + i, n - i);
    }
  }
};

template <class V>
struct BackwardKernel {
  static void Run(const float* x, const float* dy, float* dx, size_t n, int approximate) {
    size_t i = 0;
    if (approximate == 1) {
      for (; i + V::N <= n; i += V::N) (V::load(dy + i) * GeluTanhGrad(V::load(x + i))).store(dx + i);
      if (i < n) {
        (V::loadn(dy + i, n - i, 0.0f) * GeluTanhGrad(V::loadn(x + i, n - i, 0.0f))).storen(dx + i, n - i);
      }
    } else {
      for (; i + V::N <= n; i += V::N) (V::load(dy + i) * GeluErfGrad(V::load(x + i))).store(dx + i);
      if (i < n) {
        (V::loadn(dy + i, n - i, 0.0f) * GeluErfGrad(V::loadn(x + i, n - i, 0.0f))).storen(dx + i, n - i);
      }
    }
  }
};

Napi::Value Gelu(const Napi::CallbackInfo& info) {
  Args args(info, "gelu", 3);
  Span<float> x = args.F32(0, "x");
  Span<float> out = args.F32(1, "out");
  const int approximate = static_cast<int>(args.Int(2, "approximate", 0, 1));
  args.NeedLength("out", out.size, x.size, "x.length");
  ThreadPool::Instance().For(x.size, kGrain, 16, [&](size_t b, size_t e) {
    simd::Run<ForwardKernel>(static_cast<const float*>(x.data + b), out.data + b, e - b, approximate);
  });
  return info.Env().Undefined();
}

Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  Args args(info, "geluBackward", 4);
  Span<float> x = args.F32(0, "x");
  Span<float> dy = args.F32(1, "dy");
  Span<float> dx = args.F32(2, "dx");
  const int approximate = static_cast<int>(args.Int(3, "approximate", 0, 1));
  args.NeedLength("dy", dy.size, x.size, "x.length");
  args.NeedLength("dx", dx.size, x.size, "x.length");
  ThreadPool::Instance().For(x.size, kGrain, 16, [&](size_t b, size_t e) {
    simd::Run<BackwardKernel>(static_cast<const float*>(x.data + b), static_cast<const float*>(dy.data + b),
                              dx.data + b, e - b, approximate);
  });
  return info.Env().Undefined();
}

}  // namespace

void InitGelu(Napi::Env env, Napi::Object exports) {
  exports.Set("gelu", Napi::Function::New(env, Gelu, "gelu"));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward, "geluBackward"));
}

}  // namespace ds
