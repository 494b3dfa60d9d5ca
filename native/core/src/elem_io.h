// Element I/O for kernel templates: Load / LoadN / Store / StoreN / Get / Put are overloaded
// on the storage pointer, float (float32) or uint16_t (bfloat16 bits). A bf16 load widens
// exactly (bf16 is the top half of a float32) and a bf16 store rounds the float32 result to
// nearest even, NaN quieted, bit for bit as half.cc's f32ToBf16. So a kernel written once over
// `T` computes the same float32 values for bf16 storage as for float32 storage holding the
// widened inputs, and rounds each output element once.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "simd.h"

namespace ds::simd {

// ---------------------------------------------------------------- scalar conversions

inline float WidenBf16(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t RoundBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((bits >> 16) | 0x0040);
  return static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

inline float Get(const float* p) { return *p; }
inline float Get(const uint16_t* p) { return WidenBf16(*p); }
inline void Put(float* p, float v) { *p = v; }
inline void Put(uint16_t* p, float v) { *p = RoundBf16(v); }

// ---------------------------------------------------------------- bf16 vectors, per type

inline F1 LoadBf16(const uint16_t* p, F1*) { return {WidenBf16(*p)}; }
inline F1 LoadNBf16(const uint16_t*, size_t, float fill, F1*) { return {fill}; }
inline void StoreBf16(F1 v, uint16_t* p) { *p = RoundBf16(v.v); }
inline void StoreNBf16(F1, uint16_t*, size_t) {}

DS_AVX2 __m256 WidenBf16x8(__m128i h) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
DS_AVX2 __m128i RoundBf16x8(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i hi = _mm256_srli_epi32(bits, 16);
  const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  const __m256i r = _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, _mm256_set1_epi32(0x0040)), nan);
  // Every lane is in [0, 0xffff], so the unsigned-saturating pack is a plain narrowing.
  return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}
DS_AVX2 F256 LoadBf16(const uint16_t* p, F256*) {
  return {WidenBf16x8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))};
}
// AVX2 has no 16-bit masked load: the tail goes through a small buffer so nothing past p[n-1] is read.
DS_AVX2 F256 LoadNBf16(const uint16_t* p, size_t n, float fill, F256*) {
  alignas(16) uint16_t tmp[8] = {};
  std::memcpy(tmp, p, n * sizeof(uint16_t));
  const __m256 m = F256::first(n);
  return {_mm256_blendv_ps(_mm256_set1_ps(fill), WidenBf16x8(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp))), m)};
}
DS_AVX2 void StoreBf16(F256 v, uint16_t* p) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), RoundBf16x8(v.v)); }
DS_AVX2 void StoreNBf16(F256 v, uint16_t* p, size_t n) {
  alignas(16) uint16_t tmp[8];
  _mm_store_si128(reinterpret_cast<__m128i*>(tmp), RoundBf16x8(v.v));
  std::memcpy(p, tmp, n * sizeof(uint16_t));
}

DS_AVX512 __m512 WidenBf16x16(__m256i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
DS_AVX512 __m256i RoundBf16x16(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i hi = _mm512_srli_epi32(bits, 16);
  const __m512i lsb = _mm512_and_si512(hi, _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7fff)), lsb), 16);
  const __mmask16 nan =
      _mm512_cmpgt_epi32_mask(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, _mm512_or_si512(hi, _mm512_set1_epi32(0x0040))));
}
DS_AVX512 F512 LoadBf16(const uint16_t* p, F512*) {
  return {WidenBf16x16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))};
}
DS_AVX512 F512 LoadNBf16(const uint16_t* p, size_t n, float fill, F512*) {
  const __mmask16 k = F512::tail_mask(n);
  return {_mm512_mask_blend_ps(k, _mm512_set1_ps(fill), WidenBf16x16(_mm256_maskz_loadu_epi16(k, p)))};
}
DS_AVX512 void StoreBf16(F512 v, uint16_t* p) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), RoundBf16x16(v.v));
}
DS_AVX512 void StoreNBf16(F512 v, uint16_t* p, size_t n) {
  _mm256_mask_storeu_epi16(p, F512::tail_mask(n), RoundBf16x16(v.v));
}

// ---------------------------------------------------------------- the overload set kernels use

template <class V>
V Load(const float* p) {
  return V::load(p);
}
template <class V>
V Load(const uint16_t* p) {
  return LoadBf16(p, static_cast<V*>(nullptr));
}
template <class V>
V LoadN(const float* p, size_t n, float fill) {
  return V::loadn(p, n, fill);
}
template <class V>
V LoadN(const uint16_t* p, size_t n, float fill) {
  return LoadNBf16(p, n, fill, static_cast<V*>(nullptr));
}
template <class V>
void Store(V v, float* p) {
  v.store(p);
}
template <class V>
void Store(V v, uint16_t* p) {
  StoreBf16(v, p);
}
template <class V>
void StoreN(V v, float* p, size_t n) {
  v.storen(p, n);
}
template <class V>
void StoreN(V v, uint16_t* p, size_t n) {
  StoreNBf16(v, p, n);
}

// ---------------------------------------------------------------- float x double products

// (float)((double)x * s) per lane: how the scale kernel applies a factor float cannot hold.
inline F1 MulDouble(F1 x, double s) { return {static_cast<float>(static_cast<double>(x.v) * s)}; }
DS_AVX2 F256 MulDouble(F256 x, double s) {
  const __m256d sv = _mm256_set1_pd(s);
  const __m128 lo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x.v)), sv));
  const __m128 hi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x.v, 1)), sv));
  return {_mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1)};
}
DS_AVX512 F512 MulDouble(F512 x, double s) {
  const __m512d sv = _mm512_set1_pd(s);
  const __m256 lo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x.v)), sv));
  const __m256 hi = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(x.v, 1)), sv));
  return {_mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1)};
}

inline bool IsFloatValue(double v) { return static_cast<double>(static_cast<float>(v)) == v; }

// A grow-only float32 buffer per thread and slot, for bf16 kernels that keep a row of unrounded
// float32 intermediates (exponentials, recomputed probabilities) before rounding.
inline float* ThreadRow(size_t n, int slot = 0) {
  thread_local std::vector<float> rows[2];
  if (rows[slot].size() < n) rows[slot].resize(n);
  return rows[slot].data();
}

}  // namespace ds::simd
