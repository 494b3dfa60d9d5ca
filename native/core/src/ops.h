// Elementwise operator codes (the values of BinaryOp / UnaryOp in the TypeScript contract)
// and their vector implementations, shared by the contiguous and the strided kernels.
#pragma once

#include <cmath>
#include <type_traits>

#include "simd.h"

namespace ds {

enum class BinaryOp { Add = 0, Sub = 1, Mul = 2, Div = 3, Pow = 4, Max = 5, Min = 6 };
enum class UnaryOp {
  Neg = 0,
  Exp = 1,
  Log = 2,
  Sqrt = 3,
  Abs = 4,
  Tanh = 5,
  Relu = 6,
  Sigmoid = 7,
  Rsqrt = 8,
  Square = 9
};
constexpr int kBinaryOps = 7;
constexpr int kUnaryOps = 10;

// Pow has no vector form: it is evaluated in double and rounded, as the reference does, so
// results match it exactly (powf differs by an ulp on some inputs).
inline float PowScalar(float a, float b) {
  return static_cast<float>(std::pow(static_cast<double>(a), static_cast<double>(b)));
}

struct AddOp {
  template <class V>
  static V Apply(V a, V b) { return a + b; }
};
struct SubOp {
  template <class V>
  static V Apply(V a, V b) { return a - b; }
};
struct MulOp {
  template <class V>
  static V Apply(V a, V b) { return a * b; }
};
struct DivOp {
  template <class V>
  static V Apply(V a, V b) { return a / b; }
};
struct MaxOp {
  template <class V>
  static V Apply(V a, V b) { return simd::max_nan(a, b); }
};
struct MinOp {
  template <class V>
  static V Apply(V a, V b) { return simd::min_nan(a, b); }
};

// Calls f(Op{}) for every op but Pow; returns false for Pow.
template <class F>
inline bool WithVectorOp(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::Add:
      f(AddOp{});
      return true;
    case BinaryOp::Sub:
      f(SubOp{});
      return true;
    case BinaryOp::Mul:
      f(MulOp{});
      return true;
    case BinaryOp::Div:
      f(DivOp{});
      return true;
    case BinaryOp::Max:
      f(MaxOp{});
      return true;
    case BinaryOp::Min:
      f(MinOp{});
      return true;
    default:
      return false;
  }
}

template <UnaryOp Op, class V>
inline V ApplyUnary(V x) {
  if constexpr (Op == UnaryOp::Neg) {
    return neg(x);
  } else if constexpr (Op == UnaryOp::Exp) {
    return simd::vexp(x);
  } else if constexpr (Op == UnaryOp::Log) {
    return simd::vlog(x);
  } else if constexpr (Op == UnaryOp::Sqrt) {
    return sqrt(x);
  } else if constexpr (Op == UnaryOp::Abs) {
    return abs(x);
  } else if constexpr (Op == UnaryOp::Tanh) {
    return simd::vtanh(x);
  } else if constexpr (Op == UnaryOp::Relu) {
    // x > 0 ? x : 0, so NaN and -0 give +0 like the reference.
    return select(gt(x, V::set1(0.0f)), x, V::set1(0.0f));
  } else if constexpr (Op == UnaryOp::Sigmoid) {
    // With e = exp(-|x|) <= 1: 1/(1+e) for x >= 0 and e/(1+e) for x < 0, so the negative tail
    // keeps its relative accuracy (down into subnormals) instead of overflowing exp(-x).
    V e = simd::vexp(neg(abs(x)));
    V r = V::set1(1.0f) / (V::set1(1.0f) + e);
    return select(lt(x, V::set1(0.0f)), e * r, r);
  } else if constexpr (Op == UnaryOp::Rsqrt) {
    return V::set1(1.0f) / sqrt(x);
  } else {
    return x * x;
  }
}

template <UnaryOp Op>
using UnaryTag = std::integral_constant<UnaryOp, Op>;

// Calls f(UnaryTag<op>{}) so the op is a compile-time constant inside the loop.
template <class F>
inline void WithUnaryOp(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::Neg:
      return f(UnaryTag<UnaryOp::Neg>{});
    case UnaryOp::Exp:
      return f(UnaryTag<UnaryOp::Exp>{});
    case UnaryOp::Log:
      return f(UnaryTag<UnaryOp::Log>{});
    case UnaryOp::Sqrt:
      return f(UnaryTag<UnaryOp::Sqrt>{});
    case UnaryOp::Abs:
      return f(UnaryTag<UnaryOp::Abs>{});
    case UnaryOp::Tanh:
      return f(UnaryTag<UnaryOp::Tanh>{});
    case UnaryOp::Relu:
      return f(UnaryTag<UnaryOp::Relu>{});
    case UnaryOp::Sigmoid:
      return f(UnaryTag<UnaryOp::Sigmoid>{});
    case UnaryOp::Rsqrt:
      return f(UnaryTag<UnaryOp::Rsqrt>{});
    case UnaryOp::Square:
      return f(UnaryTag<UnaryOp::Square>{});
  }
}

}  // namespace ds
