// Argument checking for the exported functions: a wrong type is a TypeError and a bad size or
// value a RangeError, each naming the function, the argument and what was received.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ds {

template <class T>
struct Span {
  T* data = nullptr;
  size_t size = 0;
};

// The element types a gradient or a half copy may have, as the TypeScript dtype names.
enum class DType { Float32, Float16, BFloat16 };

class Args {
 public:
  // Throws TypeError when fewer than `count` arguments were passed.
  Args(const Napi::CallbackInfo& info, const char* fn, size_t count);

  Napi::Env Env() const { return info_.Env(); }

  Span<float> F32(size_t i, const char* name) const;
  Span<uint16_t> U16(size_t i, const char* name) const;
  bool Bool(size_t i, const char* name) const;
  // Any number, NaN and infinities included.
  double Number(size_t i, const char* name) const;
  // 'float32' | 'float16' | 'bfloat16'; `allow_f32` false rejects 'float32'.
  DType Dtype(size_t i, const char* name, bool allow_f32) const;
  std::string String(size_t i, const char* name) const;

  // RangeError unless the two lengths are equal.
  void SameLength(const char* a, size_t na, const char* b, size_t nb) const;

  [[noreturn]] void ThrowRange(const std::string& message) const;
  [[noreturn]] void ThrowType(const std::string& message) const;

 private:
  template <class T>
  Span<T> Typed(size_t i, const char* name, napi_typedarray_type type, const char* type_name) const;

  const Napi::CallbackInfo& info_;
  const char* fn_;
};

// "number 3", "Float64Array", "null", ... for error messages.
std::string Describe(Napi::Value v);

}  // namespace ds
