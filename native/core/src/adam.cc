// The update is bound by memory bandwidth (read p, g, m, v; write p, m, v: 28 bytes per
// parameter), so it is one streaming pass with every intermediate in registers.
#include "adam.h"

#include "args.h"
#include "simd.h"
#include "threadpool.h"

namespace ds {
namespace {

constexpr size_t kGrain = size_t{1} << 16;

struct Hyper {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, step_size, inv_bc2_sqrt;
};

// Hyperparameters live in vector registers for the whole loop: read through a pointer they
// would be reloaded after every store, since the compiler must assume the float stores to
// p/m/v could alias them.
template <class V>
struct Consts {
  V beta1, one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, step_size, inv_bc2_sqrt;
  explicit Consts(const Hyper& h)
      : beta1(V::set1(h.beta1)),
        one_minus_beta1(V::set1(h.one_minus_beta1)),
        beta2(V::set1(h.beta2)),
        one_minus_beta2(V::set1(h.one_minus_beta2)),
        eps(V::set1(h.eps)),
        wd(V::set1(h.wd)),
        decay(V::set1(h.decay)),
        step_size(V::set1(h.step_size)),
        inv_bc2_sqrt(V::set1(h.inv_bc2_sqrt)) {}
};

template <class V, bool kL2, bool kDecoupled>
inline void Step(float* p, const float* g, float* m, float* v, size_t i, size_t n, const Consts<V>& c) {
  const bool full = n == V::N;
  V pv = full ? V::load(p + i) : V::loadn(p + i, n, 0.0f);
  V gv = full ? V::load(g + i) : V::loadn(g + i, n, 0.0f);
  V mv = full ? V::load(m + i) : V::loadn(m + i, n, 0.0f);
  V vv = full ? V::load(v + i) : V::loadn(v + i, n, 0.0f);
  if constexpr (kL2) gv = fmadd(c.wd, pv, gv);
  mv = fmadd(c.beta1, mv, c.one_minus_beta1 * gv);
  vv = fmadd(c.beta2, vv, c.one_minus_beta2 * gv * gv);
  if constexpr (kDecoupled) pv = pv * c.decay;
  // sqrt(v) * (1 / bc2) instead of sqrt(v) / bc2: within an ulp, and one division fewer keeps
  // the loop memory-bound on cores with slow 512-bit division.
  V denom = fmadd(sqrt(vv), c.inv_bc2_sqrt, c.eps);
  pv = pv - (c.step_size * mv) / denom;
  if (full) {
    mv.store(m + i);
    vv.store(v + i);
    pv.store(p + i);
  } else {
    mv.storen(m + i, n);
    vv.storen(v + i, n);
    pv.storen(p + i, n);
  }
}

template <class V>
struct AdamKernel {
  template <bool kL2, bool kDecoupled>
  static void Loop(float* p, const float* g, float* m, float* v, size_t n, const Hyper& h) {
    const Consts<V> c(h);
    size_t i = 0;
    for (; i + 2 * V::N <= n; i += 2 * V::N) {
      Step<V, kL2, kDecoupled>(p, g, m, v, i, V::N, c);
      Step<V, kL2, kDecoupled>(p, g, m, v, i + V::N, V::N, c);
    }
    for (; i + V::N <= n; i += V::N) Step<V, kL2, kDecoupled>(p, g, m, v, i, V::N, c);
    if (i < n) Step<V, kL2, kDecoupled>(p, g, m, v, i, n - i, c);
  }

  static void Run(float* p, const float* g, float* m, float* v, size_t n, const Hyper* h, bool l2, bool decoupled) {
    if (l2) {
      Loop<true, false>(p, g, m, v, n, *h);
    } else if (decoupled) {
      Loop<false, true>(p, g, m, v, n, *h);
    } else {
      Loop<false, false>(p, g, m, v, n, *h);
    }
  }
};

Napi::Value Adam(const Napi::CallbackInfo& info) {
  Args args(info, "adam", 12);
  Span<float> p = args.F32(0, "p");
  Span<float> g = args.F32(1, "g");
  Span<float> m = args.F32(2, "m");
  Span<float> v = args.F32(3, "v");
  const double lr = args.Number(4, "lr");
  const double beta1 = args.Number(5, "beta1");
  const double beta2 = args.Number(6, "beta2");
  const double eps = args.Number(7, "eps");
  const double wd = args.Number(8, "weightDecay");
  const int mode = static_cast<int>(args.Int(9, "mode", 0, 1));
  const double bc1 = args.Number(10, "biasCorrection1");
  const double bc2_sqrt = args.Number(11, "biasCorrection2Sqrt");
  args.NeedLength("g", g.size, p.size, "p.length");
  args.NeedLength("m", m.size, p.size, "p.length");
  args.NeedLength("v", v.size, p.size, "p.length");
  // Scalars are formed in double, as the reference forms them, then rounded once.
  const Hyper h{static_cast<float>(beta1), static_cast<float>(1.0 - beta1), static_cast<float>(beta2),
                static_cast<float>(1.0 - beta2),  static_cast<float>(eps),         static_cast<float>(wd),
                static_cast<float>(1.0 - lr * wd), static_cast<float>(lr / bc1),   static_cast<float>(1.0 / bc2_sqrt)};
  const bool l2 = mode == 0 && wd != 0.0;
  const bool decoupled = mode == 1 && wd != 0.0;
  ThreadPool::Instance().For(p.size, kGrain, 16, [&](size_t b, size_t e) {
    simd::Run<AdamKernel>(p.data + b, static_cast<const float*>(g.data + b), m.data + b, v.data + b, e - b,
                          static_cast<const Hyper*>(&h), l2, decoupled);
  });
  return info.Env().Undefined();
}

}  // namespace

void InitAdam(Napi::Env env, Napi::Object exports) { exports.Set("adam", Napi::Function::New(env, Adam, "adam")); }

}  // namespace ds
