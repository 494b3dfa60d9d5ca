// The update reads p, g, m and writes p, m (20 bytes per parameter), so it is bound by memory
// and can afford double arithmetic: that keeps sign(c) identical to the reference's even when
// beta1 m and (1 - beta1) g nearly cancel, where float32 rounding could flip it.
#include "lion.h"

#include <immintrin.h>

#include "args.h"
#include "cpu.h"
#include "simd.h"
#include "threadpool.h"

// NOTE: the reference rounds every product and sum to double separately; a fused multiply-add
// would round once and could change sign(c) or the last bit of p and m.
#pragma GCC optimize("fp-contract=off")

namespace ds {
namespace {

constexpr size_t kGrain = size_t{1} << 16;

struct Hyper {
  double beta1, one_minus_beta1, beta2, one_minus_beta2, lr, decay;
};

// Math.sign: 1, -1, or the argument itself for +-0 and NaN.
inline double Sign(double c) { return c > 0.0 ? 1.0 : c < 0.0 ? -1.0 : c; }

inline void StepScalar(float* p, const float* g, float* m, size_t i, const Hyper& h) {
  const double gi = g[i];
  const double mi = m[i];
  const double c = h.beta1 * mi + h.one_minus_beta1 * gi;
  p[i] = static_cast<float>(static_cast<double>(p[i]) * h.decay - h.lr * Sign(c));
  m[i] = static_cast<float>(h.beta2 * mi + h.one_minus_beta2 * gi);
}

void LionScalar(float* p, const float* g, float* m, size_t n, const Hyper& h) {
  for (size_t i = 0; i < n; i++) StepScalar(p, g, m, i, h);
}

__attribute__((target(DS_AVX512_FEATURES))) void LionAvx512(float* p, const float* g, float* m, size_t n,
                                                              const Hyper& h) {
  const __m512d beta1 = _mm512_set1_pd(h.beta1);
  const __m512d one_minus_beta1 = _mm512_set1_pd(h.one_minus_beta1);
  const __m512d beta2 = _mm512_set1_pd(h.beta2);
  const __m512d one_minus_beta2 = _mm512_set1_pd(h.one_minus_beta2);
  const __m512d lr = _mm512_set1_pd(h.lr);
  const __m512d decay = _mm512_set1_pd(h.decay);
  const __m512d zero = _mm512_setzero_pd();
  const __m512d one = _mm512_set1_pd(1.0);
  const __m512d minus_one = _mm512_set1_pd(-1.0);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512d pv = _mm512_cvtps_pd(_mm256_loadu_ps(p + i));
    const __m512d gv = _mm512_cvtps_pd(_mm256_loadu_ps(g + i));
    const __m512d mv = _mm512_cvtps_pd(_mm256_loadu_ps(m + i));
    const __m512d c = _mm512_add_pd(_mm512_mul_pd(beta1, mv), _mm512_mul_pd(one_minus_beta1, gv));
    // Ordered compares are false for NaN, which therefore passes through like +-0.
    __m512d s = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(c, zero, _CMP_GT_OQ), c, one);
    s = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(c, zero, _CMP_LT_OQ), s, minus_one);
    const __m512d pn = _mm512_sub_pd(_mm512_mul_pd(pv, decay), _mm512_mul_pd(lr, s));
    const __m512d mn = _mm512_add_pd(_mm512_mul_pd(beta2, mv), _mm512_mul_pd(one_minus_beta2, gv));
    _mm256_storeu_ps(p + i, _mm512_cvtpd_ps(pn));
    _mm256_storeu_ps(m + i, _mm512_cvtpd_ps(mn));
  }
  for (; i < n; i++) StepScalar(p, g, m, i, h);
}

Napi::Value Lion(const Napi::CallbackInfo& info) {
  Args args(info, "lion", 7);
  Span<float> p = args.F32(0, "p");
  Span<float> g = args.F32(1, "g");
  Span<float> m = args.F32(2, "m");
  const double lr = args.Number(3, "lr");
  const double beta1 = args.Number(4, "beta1");
  const double beta2 = args.Number(5, "beta2");
  const double wd = args.Number(6, "weightDecay");
  args.NeedLength("g", g.size, p.size, "p.length");
  args.NeedLength("m", m.size, p.size, "p.length");
  const Hyper h{beta1, 1.0 - beta1, beta2, 1.0 - beta2, lr, 1.0 - lr * wd};
  const bool avx512 = CurrentSimd() == SimdLevel::Avx512;
  ThreadPool::Instance().For(p.size, kGrain, 16, [&](size_t b, size_t e) {
    if (avx512) {
      LionAvx512(p.data + b, g.data + b, m.data + b, e - b, h);
    } else {
      LionScalar(p.data + b, g.data + b, m.data + b, e - b, h);
    }
  });
  return info.Env().Undefined();
}

}  // namespace

void InitLion(Napi::Env env, Napi::Object exports) { exports.Set("lion", Napi::Function::New(env, Lion, "lion")); }

}  // namespace ds
