// Vector types shared by every kernel: F512 (AVX-512), F256 (AVX2) and F1 (plain float)
// expose the same operations, so a kernel is written once as a template over the vector
// type and instantiated per instruction set.
//
// NOTE: GCC refuses to inline a target-specific function into a caller without that target,
// so the operations below are plain `inline` functions carrying their target attribute, and
// each instantiation is entered through a DS_KERNEL_AVX512 / DS_KERNEL_AVX2 wrapper marked
// `flatten`: flattening pulls the template and every operation into a caller that has the
// right target, which is the only place these instructions ever execute. Nothing here is
// compiled with -mavx*, so the rest of the binary runs on any x86-64.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "cpu.h"

#define DS_AVX512_FEATURES "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2"
#define DS_AVX2_FEATURES "avx2,fma,f16c,bmi,bmi2"
#define DS_AVX512 __attribute__((target(DS_AVX512_FEATURES))) inline
#define DS_AVX2 __attribute__((target(DS_AVX2_FEATURES))) inline
#define DS_KERNEL_AVX512 __attribute__((target(DS_AVX512_FEATURES), flatten))
#define DS_KERNEL_AVX2 __attribute__((target(DS_AVX2_FEATURES), flatten))

namespace ds::simd {

// ---------------------------------------------------------------- F1: one float per "vector"

struct F1 {
  static constexpr size_t N = 1;
  using M = bool;
  float v;
  static F1 load(const float* p) { return {*p}; }
  // N == 1 never has a partial tail; these exist so templates compile for every type.
  static F1 loadn(const float*, size_t, float fill) { return {fill}; }
  void store(float* p) const { *p = v; }
  void storen(float*, size_t) const {}
  static F1 set1(float x) { return {x}; }
  // Mask of the first n lanes (n < N); a single lane is always whole.
  static bool first(size_t) { return true; }
};

inline F1 operator+(F1 a, F1 b) { return {a.v + b.v}; }
inline F1 operator-(F1 a, F1 b) { return {a.v - b.v}; }
inline F1 operator*(F1 a, F1 b) { return {a.v * b.v}; }
inline F1 operator/(F1 a, F1 b) { return {a.v / b.v}; }
// Not fused: without hardware FMA in the baseline ISA std::fma is a slow library call.
inline F1 fmadd(F1 a, F1 b, F1 c) { return {a.v * b.v + c.v}; }
inline F1 fnmadd(F1 a, F1 b, F1 c) { return {c.v - a.v * b.v}; }
inline F1 fmsub(F1 a, F1 b, F1 c) { return {a.v * b.v - c.v}; }
// Same operand order as the x86 max/min instructions: the second operand wins on NaN.
inline F1 max(F1 a, F1 b) { return {a.v > b.v ? a.v : b.v}; }
inline F1 min(F1 a, F1 b) { return {a.v < b.v ? a.v : b.v}; }
inline F1 sqrt(F1 a) { return {std::sqrt(a.v)}; }
inline F1 abs(F1 a) { return {std::fabs(a.v)}; }
inline F1 neg(F1 a) { return {-a.v}; }
inline F1 copysign(F1 mag, F1 sgn) { return {std::copysign(mag.v, sgn.v)}; }
inline bool lt(F1 a, F1 b) { return a.v < b.v; }
inline bool gt(F1 a, F1 b) { return a.v > b.v; }
inline bool eq(F1 a, F1 b) { return a.v == b.v; }
inline bool isnan(F1 a) { return a.v != a.v; }
inline bool unord(F1 a, F1 b) { return a.v != a.v || b.v != b.v; }
inline bool mor(bool a, bool b) { return a || b; }
inline F1 select(bool m, F1 a, F1 b) { return m ? a : b; }
inline float hmax(F1 a) { return a.v; }

// ---------------------------------------------------------------- F256: AVX2 + FMA

struct F256 {
  static constexpr size_t N = 8;
  using M = __m256;
  __m256 v;
  DS_AVX2 static __m256i tail_mask(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  DS_AVX2 static F256 load(const float* p) { return {_mm256_loadu_ps(p)}; }
  DS_AVX2 static F256 loadn(const float* p, size_t n, float fill) {
    __m256i m = tail_mask(n);
    return {_mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m))};
  }
  DS_AVX2 void store(float* p) const { _mm256_storeu_ps(p, v); }
  DS_AVX2 void storen(float* p, size_t n) const { _mm256_maskstore_ps(p, tail_mask(n), v); }
  DS_AVX2 static F256 set1(float x) { return {_mm256_set1_ps(x)}; }
  DS_AVX2 static __m256 first(size_t n) { return _mm256_castsi256_ps(tail_mask(n)); }
};

DS_AVX2 F256 operator+(F256 a, F256 b) { return {_mm256_add_ps(a.v, b.v)}; }
DS_AVX2 F256 operator-(F256 a, F256 b) { return {_mm256_sub_ps(a.v, b.v)}; }
DS_AVX2 F256 operator*(F256 a, F256 b) { return {_mm256_mul_ps(a.v, b.v)}; }
DS_AVX2 F256 operator/(F256 a, F256 b) { return {_mm256_div_ps(a.v, b.v)}; }
DS_AVX2 F256 fmadd(F256 a, F256 b, F256 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
DS_AVX2 F256 fnmadd(F256 a, F256 b, F256 c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
DS_AVX2 F256 fmsub(F256 a, F256 b, F256 c) { return {_mm256_fmsub_ps(a.v, b.v, c.v)}; }
DS_AVX2 F256 max(F256 a, F256 b) { return {_mm256_max_ps(a.v, b.v)}; }
DS_AVX2 F256 min(F256 a, F256 b) { return {_mm256_min_ps(a.v, b.v)}; }
DS_AVX2 F256 sqrt(F256 a) { return {_mm256_sqrt_ps(a.v)}; }
DS_AVX2 F256 abs(F256 a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
DS_AVX2 F256 neg(F256 a) { return {_mm256_xor_ps(_mm256_set1_ps(-0.0f), a.v)}; }
DS_AVX2 F256 copysign(F256 mag, F256 sgn) {
  const __m256 s = _mm256_set1_ps(-0.0f);
  return {_mm256_or_ps(_mm256_andnot_ps(s, mag.v), _mm256_and_ps(s, sgn.v))};
}
DS_AVX2 __m256 lt(F256 a, F256 b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ); }
DS_AVX2 __m256 gt(F256 a, F256 b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ); }
DS_AVX2 __m256 eq(F256 a, F256 b) { return _mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ); }
DS_AVX2 __m256 isnan(F256 a) { return _mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q); }
DS_AVX2 __m256 unord(F256 a, F256 b) { return _mm256_cmp_ps(a.v, b.v, _CMP_UNORD_Q); }
DS_AVX2 __m256 mor(__m256 a, __m256 b) { return _mm256_or_ps(a, b); }
DS_AVX2 F256 select(__m256 m, F256 a, F256 b) { return {_mm256_blendv_ps(b.v, a.v, m)}; }
DS_AVX2 float hmax(F256 a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---------------------------------------------------------------- F512: AVX-512 F/BW/DQ/VL

struct F512 {
  static constexpr size_t N = 16;
  using M = __mmask16;
  __m512 v;
  DS_AVX512 static __mmask16 tail_mask(size_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
  DS_AVX512 static F512 load(const float* p) { return {_mm512_loadu_ps(p)}; }
  // Masked-off lanes are never read, so a tail at the end of a mapping cannot fault.
  DS_AVX512 static F512 loadn(const float* p, size_t n, float fill) {
    return {_mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail_mask(n), p)};
  }
  DS_AVX512 void store(float* p) const { _mm512_storeu_ps(p, v); }
  DS_AVX512 void storen(float* p, size_t n) const { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
  DS_AVX512 static F512 set1(float x) { return {_mm512_set1_ps(x)}; }
  DS_AVX512 static __mmask16 first(size_t n) { return tail_mask(n); }
};

DS_AVX512 F512 operator+(F512 a, F512 b) { return {_mm512_add_ps(a.v, b.v)}; }
DS_AVX512 F512 operator-(F512 a, F512 b) { return {_mm512_sub_ps(a.v, b.v)}; }
DS_AVX512 F512 operator*(F512 a, F512 b) { return {_mm512_mul_ps(a.v, b.v)}; }
DS_AVX512 F512 operator/(F512 a, F512 b) { return {_mm512_div_ps(a.v, b.v)}; }
DS_AVX512 F512 fmadd(F512 a, F512 b, F512 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
DS_AVX512 F512 fnmadd(F512 a, F512 b, F512 c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
DS_AVX512 F512 fmsub(F512 a, F512 b, F512 c) { return {_mm512_fmsub_ps(a.v, b.v, c.v)}; }
DS_AVX512 F512 max(F512 a, F512 b) { return {_mm512_max_ps(a.v, b.v)}; }
DS_AVX512 F512 min(F512 a, F512 b) { return {_mm512_min_ps(a.v, b.v)}; }
DS_AVX512 F512 sqrt(F512 a) { return {_mm512_sqrt_ps(a.v)}; }
DS_AVX512 F512 abs(F512 a) { return {_mm512_abs_ps(a.v)}; }
DS_AVX512 F512 neg(F512 a) {
  return {_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(INT32_MIN)))};
}
DS_AVX512 F512 copysign(F512 mag, F512 sgn) {
  // Ternary-logic 0xE4 = (C & A) | (~C & B) with C = sign mask: sign from sgn, rest from mag.
  return {_mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(sgn.v), _mm512_castps_si512(mag.v),
                                                        _mm512_set1_epi32(INT32_MIN), 0xE4))};
}
DS_AVX512 __mmask16 lt(F512 a, F512 b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ); }
DS_AVX512 __mmask16 gt(F512 a, F512 b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ); }
DS_AVX512 __mmask16 eq(F512 a, F512 b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ); }
DS_AVX512 __mmask16 isnan(F512 a) { return _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q); }
DS_AVX512 __mmask16 unord(F512 a, F512 b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_UNORD_Q); }
DS_AVX512 __mmask16 mor(__mmask16 a, __mmask16 b) { return static_cast<__mmask16>(a | b); }
DS_AVX512 F512 select(__mmask16 m, F512 a, F512 b) { return {_mm512_mask_blend_ps(m, b.v, a.v)}; }
DS_AVX512 float hmax(F512 a) { return _mm512_reduce_max_ps(a.v); }

// ---------------------------------------------------------------- double accumulators
// Sums that feed a single result (row sums, dot products, variances) are accumulated in
// double, as the TypeScript reference does, so results do not drift with the row length.

template <class V>
struct DAcc;

template <>
struct DAcc<F1> {
  double s = 0;
  void add(F1 x) { s += x.v; }
  void add_prod(F1 a, F1 b) { s += static_cast<double>(a.v) * b.v; }
  void add_sqdiff(F1 x, double mean) {
    double d = x.v - mean;
    s += d * d;
  }
  double total() const { return s; }
};

template <>
struct DAcc<F256> {
  __m256d lo, hi;
  DS_AVX2 DAcc() : lo(_mm256_setzero_pd()), hi(_mm256_setzero_pd()) {}
  DS_AVX2 void add(F256 x) {
    lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(x.v)));
    hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(x.v, 1)));
  }
  DS_AVX2 void add_prod(F256 a, F256 b) {
    const __m128 a_lo = _mm256_castps256_ps128(a.v), b_lo = _mm256_castps256_ps128(b.v);
    const __m128 a_hi = _mm256_extractf128_ps(a.v, 1), b_hi = _mm256_extractf128_ps(b.v, 1);
    lo = _mm256_fmadd_pd(_mm256_cvtps_pd(a_lo), _mm256_cvtps_pd(b_lo), lo);
    hi = _mm256_fmadd_pd(_mm256_cvtps_pd(a_hi), _mm256_cvtps_pd(b_hi), hi);
  }
  DS_AVX2 void add_sqdiff(F256 x, double mean) {
    const __m256d m = _mm256_set1_pd(mean);
    __m256d a = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x.v)), m);
    __m256d b = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x.v, 1)), m);
    lo = _mm256_fmadd_pd(a, a, lo);
    hi = _mm256_fmadd_pd(b, b, hi);
  }
  DS_AVX2 double total() const {
    __m256d s = _mm256_add_pd(lo, hi);
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
  }
};

template <>
struct DAcc<F512> {
  __m512d lo, hi;
  DS_AVX512 DAcc() : lo(_mm512_setzero_pd()), hi(_mm512_setzero_pd()) {}
  DS_AVX512 void add(F512 x) {
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(x.v)));
    hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(x.v, 1)));
  }
  DS_AVX512 void add_prod(F512 a, F512 b) {
    const __m256 a_lo = _mm512_castps512_ps256(a.v), b_lo = _mm512_castps512_ps256(b.v);
    const __m256 a_hi = _mm512_extractf32x8_ps(a.v, 1), b_hi = _mm512_extractf32x8_ps(b.v, 1);
    lo = _mm512_fmadd_pd(_mm512_cvtps_pd(a_lo), _mm512_cvtps_pd(b_lo), lo);
    hi = _mm512_fmadd_pd(_mm512_cvtps_pd(a_hi), _mm512_cvtps_pd(b_hi), hi);
  }
  DS_AVX512 void add_sqdiff(F512 x, double mean) {
    const __m512d m = _mm512_set1_pd(mean);
    __m512d a = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x.v)), m);
    __m512d b = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(x.v, 1)), m);
    lo = _mm512_fmadd_pd(a, a, lo);
    hi = _mm512_fmadd_pd(b, b, hi);
  }
  DS_AVX512 double total() const { return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi)); }
};

// ---------------------------------------------------------------- exponent helpers

// x * 2^n for integer-valued n in [-160, 128], with gradual underflow and overflow to inf.
inline F1 ldexp_int(F1 x, F1 n) { return {std::ldexp(x.v, static_cast<int>(n.v))}; }
DS_AVX2 F256 ldexp_int(F256 x, F256 n) {
  // Two steps so each factor 2^(n/2) is a normal float even when 2^n is not.
  __m256i ni = _mm256_cvtps_epi32(n.v);
  __m256i n1 = _mm256_srai_epi32(ni, 1);
  __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  __m256 f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return {_mm256_mul_ps(_mm256_mul_ps(x.v, f1), f2)};
}
DS_AVX512 F512 ldexp_int(F512 x, F512 n) { return {_mm512_scalef_ps(x.v, n.v)}; }

inline F1 round_nearest(F1 x) { return {std::nearbyint(x.v)}; }
DS_AVX2 F256 round_nearest(F256 x) { return {_mm256_round_ps(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
DS_AVX512 F512 round_nearest(F512 x) {
  return {_mm512_roundscale_ps(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}

// Positive finite x -> mantissa m in [0.5, 1) and exponent e with x = m * 2^e (subnormals too).
DS_AVX2 F256 frexp_pos(F256 x, F256& e) {
  __m256 tiny = _mm256_cmp_ps(x.v, _mm256_set1_ps(std::numeric_limits<float>::min()), _CMP_LT_OQ);
  __m256 xs = _mm256_blendv_ps(x.v, _mm256_mul_ps(x.v, _mm256_set1_ps(33554432.0f)), tiny);  // * 2^25
  __m256i bits = _mm256_castps_si256(xs);
  __m256i ei = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126));
  e.v = _mm256_sub_ps(_mm256_cvtepi32_ps(ei), _mm256_and_ps(tiny, _mm256_set1_ps(25.0f)));
  __m256i mb = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000));
  return {_mm256_castsi256_ps(mb)};
}
DS_AVX512 F512 frexp_pos(F512 x, F512& e) {
  e.v = _mm512_add_ps(_mm512_getexp_ps(x.v), _mm512_set1_ps(1.0f));
  return {_mm512_getmant_ps(x.v, _MM_MANT_NORM_p5_1, _MM_MANT_SIGN_zero)};
}

// ---------------------------------------------------------------- transcendental functions
// Cephes single-precision polynomials (about 1 ulp); the scalar type uses libm directly.

inline F1 vexp(F1 x) { return {std::exp(x.v)}; }
inline F1 vlog(F1 x) { return {std::log(x.v)}; }
inline F1 vtanh(F1 x) { return {std::tanh(x.v)}; }

template <class V>
inline V vexp(V x) {
  // Clamping keeps 2^n within ldexp_int's range: below -110 the result underflows to exactly
  // 0 (so masked -inf scores give 0 probability), above 89 it overflows to inf. NaN passes
  // through because max/min return their second operand for NaN.
  x = min(V::set1(89.0f), max(V::set1(-110.0f), x));
  V n = round_nearest(x * V::set1(1.44269504088896341f));
  V r = fnmadd(n, V::set1(0.693359375f), x);
  r = fnmadd(n, V::set1(-2.12194440e-4f), r);
  V p = V::set1(1.9875691500e-4f);
  p = fmadd(p, r, V::set1(1.3981999507e-3f));
  p = fmadd(p, r, V::set1(8.3334519073e-3f));
  p = fmadd(p, r, V::set1(4.1665795894e-2f));
  p = fmadd(p, r, V::set1(1.6666665459e-1f));
  p = fmadd(p, r, V::set1(5.0000001201e-1f));
  p = fmadd(p, r * r, r + V::set1(1.0f));
  return ldexp_int(p, n);
}

template <class V>
inline V vlog(V x) {
  V e;
  V m = frexp_pos(x, e);
  // Re-centre the mantissa on 1 (range [sqrt(1/2), sqrt(2))) so the series converges fast.
  auto small = lt(m, V::set1(0.707106781186547524f));
  m = select(small, m + m, m) - V::set1(1.0f);
  e = select(small, e - V::set1(1.0f), e);
  V z = m * m;
  V p = V::set1(7.0376836292e-2f);
  p = fmadd(p, m, V::set1(-1.1514610310e-1f));
  p = fmadd(p, m, V::set1(1.1676998740e-1f));
  p = fmadd(p, m, V::set1(-1.2420140846e-1f));
  p = fmadd(p, m, V::set1(1.4249322787e-1f));
  p = fmadd(p, m, V::set1(-1.6668057665e-1f));
  p = fmadd(p, m, V::set1(2.0000714765e-1f));
  p = fmadd(p, m, V::set1(-2.4999993993e-1f));
  p = fmadd(p, m, V::set1(3.3333331174e-1f));
  V y = p * m * z;
  y = fmadd(e, V::set1(-2.12194440e-4f), y);
  y = fnmadd(V::set1(0.5f), z, y);
  V r = fmadd(e, V::set1(0.693359375f), m + y);
  const float inf = std::numeric_limits<float>::infinity();
  r = select(eq(x, V::set1(inf)), x, r);
  r = select(eq(x, V::set1(0.0f)), V::set1(-inf), r);
  r = select(mor(lt(x, V::set1(0.0f)), isnan(x)), V::set1(std::numeric_limits<float>::quiet_NaN()), r);
  return r;
}

template <class V>
inline V vtanh(V x) {
  V ax = abs(x);
  // Small |x|: odd polynomial (1 - 2/(e^2x + 1) would cancel catastrophically near 0).
  V z = x * x;
  V p = V::set1(-5.70498872745e-3f);
  p = fmadd(p, z, V::set1(2.06390887954e-2f));
  p = fmadd(p, z, V::set1(-5.37397155531e-2f));
  p = fmadd(p, z, V::set1(1.33314422036e-1f));
  p = fmadd(p, z, V::set1(-3.33332819422e-1f));
  V small = fmadd(p * z, x, x);
  V big = V::set1(1.0f) - V::set1(2.0f) / (vexp(ax + ax) + V::set1(1.0f));
  return select(lt(ax, V::set1(0.625f)), small, copysign(big, x));
}

// Standard normal CDF Phi(x) = erfc(-x/sqrt(2))/2, from the Numerical Recipes erfc fit
// (relative error < 1.2e-7 for every argument), so the negative tail of GELU keeps its
// relative accuracy instead of cancelling in 1 + erf(x).
inline F1 normal_cdf(F1 x) {
  double h = 0.5 * std::erfc(-static_cast<double>(x.v) * 0.70710678118654752440);
  return {static_cast<float>(h)};
}

template <class V>
inline V normal_cdf(V x) {
  // Beyond |x| = 15 Phi is 0 or 1 in float; clamping keeps x*x finite (NaN still passes).
  V xc = min(V::set1(15.0f), max(V::set1(-15.0f), x));
  V z = abs(xc) * V::set1(0.70710678118654752440f);
  V t = V::set1(1.0f) / fmadd(V::set1(0.5f), z, V::set1(1.0f));
  V p = V::set1(0.17087277f);
  p = fmadd(p, t, V::set1(-0.82215223f));
  p = fmadd(p, t, V::set1(1.48851587f));
  p = fmadd(p, t, V::set1(-1.13520398f));
  p = fmadd(p, t, V::set1(0.27886807f));
  p = fmadd(p, t, V::set1(-0.18628806f));
  p = fmadd(p, t, V::set1(0.09678418f));
  p = fmadd(p, t, V::set1(0.37409196f));
  p = fmadd(p, t, V::set1(1.00002368f));
  p = fmadd(p, t, V::set1(-1.26551223f));
  // The exponent -z^2 + p reaches -100; rounding it would cost |z^2| * 2^-24 of relative
  // accuracy, so the exact tail of x^2 and the rounding error of the sum (TwoSum) are
  // folded back in as a first-order correction e * (1 + c).
  V xx = xc * xc;
  V xx_lo = fmsub(xc, xc, xx);
  V a = V::set1(-0.5f) * xx;
  V s = a + p;
  V bb = s - a;
  V err = (a - (s - bb)) + (p - bb);
  V c = fnmadd(V::set1(0.5f), xx_lo, err);
  V e = vexp(s);
  V half_erfc = V::set1(0.5f) * t * fmadd(e, c, e);
  return select(lt(xc, V::set1(0.0f)), half_erfc, V::set1(1.0f) - half_erfc);
}

// NaN-propagating max/min with the reference's semantics (x > y || isNaN(x) ? x : y).
template <class V>
inline V max_nan(V a, V b) {
  return select(unord(a, b), a + b, max(a, b));
}
template <class V>
inline V min_nan(V a, V b) {
  return select(unord(a, b), a + b, min(a, b));
}

// ---------------------------------------------------------------- dispatch
// A kernel is a class template K<V> with a static Run(...); Run<K>(args...) calls the
// instantiation for the SIMD level in effect through a flattening, target-specific entry.

template <template <class> class K, class... A>
DS_KERNEL_AVX512 void RunAvx512(A... a) {
  K<F512>::Run(a...);
}
template <template <class> class K, class... A>
DS_KERNEL_AVX2 void RunAvx2(A... a) {
  K<F256>::Run(a...);
}
template <template <class> class K, class... A>
void Run(A... a) {
  switch (CurrentSimd()) {
    case SimdLevel::Avx512:
      RunAvx512<K>(a...);
      break;
    case SimdLevel::Avx2:
      RunAvx2<K>(a...);
      break;
    default:
      K<F1>::Run(a...);
  }
}

}  // namespace ds::simd
