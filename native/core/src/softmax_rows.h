// Row primitives shared by the softmax and cross-entropy kernels.
#pragma once

#include <cstddef>
#include <limits>

#include "simd.h"

namespace ds {

template <class V>
struct SoftmaxRows {
  // max_j(scale * x_j)
  static float Max(const float* x, size_t n, float scale) {
    const float ninf = -std::numeric_limits<float>::infinity();
    const V s = V::set1(scale);
    V m0 = V::set1(ninf), m1 = V::set1(ninf);
    size_t j = 0;
    for (; j + 2 * V::N <= n; j += 2 * V::N) {
      m0 = max(m0, V::load(x + j) * s);
      m1 = max(m1, V::load(x + j + V::N) * s);
    }
    for (; j + V::N <= n; j += V::N) m0 = max(m0, V::load(x + j) * s);
    if (j < n) m1 = max(m1, select(V::first(n - j), V::loadn(x + j, n - j, 0.0f) * s, V::set1(ninf)));
    return simd::hmax(max(m0, m1));
  }

  // y_j = exp(scale * x_j - m); returns sum_j y_j in double.
  static double ExpStore(const float* x, float* y, size_t n, float scale, float m) {
    const V s = V::set1(scale), nm = V::set1(-m);
    simd::DAcc<V> acc;
    size_t j = 0;
    for (; j + V::N <= n; j += V::N) {
      V e = simd::vexp(fmadd(V::load(x + j), s, nm));
      e.store(y + j);
      acc.add(e);
    }
    if (j < n) {
      V e = simd::vexp(fmadd(V::loadn(x + j, n - j, 0.0f), s, nm));
      e.storen(y + j, n - j);
      acc.add(select(V::first(n - j), e, V::set1(0.0f)));
    }
    return acc.total();
  }

  // sum_j exp(x_j - m) in double, without storing the exponentials.
  static double ExpSum(const float* x, size_t n, float m) {
    const V nm = V::set1(-m);
    simd::DAcc<V> acc;
    size_t j = 0;
    for (; j + V::N <= n; j += V::N) acc.add(simd::vexp(V::load(x + j) + nm));
    if (j < n) acc.add(select(V::first(n - j), simd::vexp(V::loadn(x + j, n - j, 0.0f) + nm), V::set1(0.0f)));
    return acc.total();
  }

  static void Scale(float* y, size_t n, float f) {
    const V fv = V::set1(f);
    size_t j = 0;
    for (; j + V::N <= n; j += V::N) (V::load(y + j) * fv).store(y + j);
    if (j < n) (V::loadn(y + j, n - j, 0.0f) * fv).storen(y + j, n - j);
  }

  static void Softmax(const float* x, float* y, size_t n, float scale) {
    const float m = Max(x, n, scale);
    const double sum = ExpStore(x, y, n, scale, m);
    Scale(y, n, static_cast<float>(1.0 / sum));
  }
};

}  // namespace ds
