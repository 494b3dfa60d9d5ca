// Row primitives shared by the softmax and cross-entropy kernels.
#pragma once

#include <cstddef>
#include <limits>

#include "elem_io.h"
#include "simd.h"

namespace ds {

template <class V>
struct SoftmaxRows {
  // max_j(scale * x_j); x is float32 or bf16 bits (T = uint16_t), as in every reader below.
  template <class T>
  static float Max(const T* x, size_t n, float scale) {
    const float ninf = -std::numeric_limits<float>::infinity();
    const V s = V::set1(scale);
    V m0 = V::set1(ninf), m1 = V::set1(ninf);
    size_t j = 0;
    for (; j + 2 * V::N <= n; j += 2 * V::N) {
      m0 = max(m0, simd::Load<V>(x + j) * s);
      m1 = max(m1, simd::Load<V>(x + j + V::N) * s);
    }
    for (; j + V::N <= n; j += V::N) m0 = max(m0, simd::Load<V>(x + j) * s);
    if (j < n) m1 = max(m1, select(V::first(n - j), simd::LoadN<V>(x + j, n - j, 0.0f) * s, V::set1(ninf)));
    return simd::hmax(max(m0, m1));
  }

  // y_j = exp(scale * x_j - m); returns sum_j y_j in double.
  template <class T>
  static double ExpStore(const T* x, float* y, size_t n, float scale, float m) {
    const V s = V::set1(scale), nm = V::set1(-m);
    simd::DAcc<V> acc;
    size_t j = 0;
    for (; j + V::N <= n; j += V::N) {
      V e = simd::vexp(fmadd(simd::Load<V>(x + j), s, nm));
      e.store(y + j);
      acc.add(e);
    }
    if (j < n) {
      V e = simd::vexp(fmadd(simd::LoadN<V>(x + j, n - j, 0.0f), s, nm));
      e.storen(y + j, n - j);
      acc.add(select(V::first(n - j), e, V::set1(0.0f)));
    }
    return acc.total();
  }

  // sum_j exp(x_j - m) in double, without storing the exponentials.
  template <class T>
  static double ExpSum(const T* x, size_t n, float m) {
    const V nm = V::set1(-m);
    simd::DAcc<V> acc;
    size_t j = 0;
    for (; j + V::N <= n; j += V::N) acc.add(simd::vexp(simd::Load<V>(x + j) + nm));
    if (j < n) acc.add(select(V::first(n - j), simd::vexp(simd::LoadN<V>(x + j, n - j, 0.0f) + nm), V::set1(0.0f)));
    return acc.total();
  }

  static void Scale(float* y, size_t n, float f) {
    const V fv = V::set1(f);
    size_t j = 0;
    for (; j + V::N <= n; j += V::N) (V::load(y + j) * fv).store(y + j);
    if (j < n) (V::loadn(y + j, n - j, 0.0f) * fv).storen(y + j, n - j);
  }

  // out_j = y_j * f: Scale, but storing to float32 or (rounding once) to bf16 bits.
  template <class T>
  static void ScaleTo(const float* y, T* out, size_t n, float f) {
    const V fv = V::set1(f);
    size_t j = 0;
    for (; j + V::N <= n; j += V::N) simd::Store(V::load(y + j) * fv, out + j);
    if (j < n) simd::StoreN(V::loadn(y + j, n - j, 0.0f) * fv, out + j, n - j);
  }

  // out_j = y_j, rounded once when out holds bf16 bits.
  template <class T>
  static void CopyTo(const float* y, T* out, size_t n) {
    size_t j = 0;
    for (; j + V::N <= n; j += V::N) simd::Store(V::load(y + j), out + j);
    if (j < n) simd::StoreN(V::loadn(y + j, n - j, 0.0f), out + j, n - j);
  }

  // Softmax of a float32 or bf16 row into float32 y.
  template <class T>
  static void Softmax(const T* x, float* y, size_t n, float scale) {
    const float m = Max(x, n, scale);
    const double sum = ExpStore(x, y, n, scale, m);
    Scale(y, n, static_cast<float>(1.0 / sum));
  }

  // Softmax of a bf16 row into bf16 out: the float32 exponentials wait in `tmp`, and each
  // probability is rounded once, to the value Softmax would have stored in float32.
  static void SoftmaxBf16(const uint16_t* x, float* tmp, uint16_t* out, size_t n, float scale) {
    const float m = Max(x, n, scale);
    const double sum = ExpStore(x, tmp, n, scale, m);
    ScaleTo(tmp, out, n, static_cast<float>(1.0 / sum));
  }
};

}  // namespace ds
