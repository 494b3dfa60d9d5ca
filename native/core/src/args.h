// Argument checking for the exported functions: every kernel reads its typed arrays and
// numbers through Args, so a wrong type is a TypeError and a bad size or value a RangeError,
// each naming the function, the argument and what was received.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace ds {

template <class T>
struct Span {
  T* data = nullptr;
  size_t size = 0;
};

class Args {
 public:
  // Throws TypeError when fewer than `count` arguments were passed.
  Args(const Napi::CallbackInfo& info, const char* fn, size_t count);

  Napi::Env Env() const { return info_.Env(); }
  const char* Fn() const { return fn_; }

  Span<float> F32(size_t i, const char* name) const;
  // null or undefined gives an empty span with data == nullptr.
  Span<float> F32OrNull(size_t i, const char* name) const;
  Span<int32_t> I32(size_t i, const char* name) const;
  Span<int32_t> I32OrNull(size_t i, const char* name) const;
  Span<uint16_t> U16(size_t i, const char* name) const;
  Span<uint16_t> U16OrNull(size_t i, const char* name) const;
  // The array type that stores T: Float32Array for float, Uint16Array (bf16 bits) for uint16_t.
  template <class T>
  Span<T> Elems(size_t i, const char* name) const {
    if constexpr (std::is_same_v<T, float>) {
      return F32(i, name);
    } else {
      return U16(i, name);
    }
  }
  template <class T>
  Span<T> ElemsOrNull(size_t i, const char* name) const {
    if constexpr (std::is_same_v<T, float>) {
      return F32OrNull(i, name);
    } else {
      return U16OrNull(i, name);
    }
  }

  bool Bool(size_t i, const char* name) const;
  // Any number, NaN and infinities included.
  double Number(size_t i, const char* name) const;
  // An integer in [lo, hi].
  int64_t Int(size_t i, const char* name, int64_t lo, int64_t hi) const;
  // A size or count: an integer in [0, 2^53).
  int64_t Size(size_t i, const char* name) const { return Int(i, name, 0, (int64_t{1} << 53) - 1); }

  // RangeError unless `have` >= `need`; `what` says where `need` comes from (e.g. "rows*cols").
  void NeedLength(const char* name, size_t have, size_t need, const char* what) const;

  [[noreturn]] void ThrowRange(const std::string& message) const;
  [[noreturn]] void ThrowType(const std::string& message) const;

 private:
  Napi::Value At(size_t i) const { return info_[i]; }
  template <class T>
  Span<T> Typed(size_t i, const char* name, napi_typedarray_type type, const char* type_name, bool nullable) const;

  const Napi::CallbackInfo& info_;
  const char* fn_;
};

// "number", "Float64Array", "null", ... for error messages.
std::string Describe(Napi::Value v);

// Product of sizes; RangeError naming `what` if it does not fit in 2^53.
size_t CheckedProduct(const Args& args, const char* what, std::initializer_list<int64_t> sizes);

}  // namespace ds
