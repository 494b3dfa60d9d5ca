// Argument checks shared by the exported functions (see args.h).
#include "args.h"

#include <cmath>

namespace ds {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

const char* TypedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
      return "Int8Array";
    case napi_uint8_array:
      return "Uint8Array";
    case napi_uint8_clamped_array:
      return "Uint8ClampedArray";
    case napi_int16_array:
      return "Int16Array";
    case napi_uint16_array:
      return "Uint16Array";
    case napi_int32_array:
      return "Int32Array";
    case napi_uint32_array:
      return "Uint32Array";
    case napi_float32_array:
      return "Float32Array";
    case napi_float64_array:
      return "Float64Array";
    case napi_bigint64_array:
      return "BigInt64Array";
    case napi_biguint64_array:
      return "BigUint64Array";
    default:
      return "TypedArray";
  }
}

}  // namespace

std::string Describe(Napi::Value v) {
  switch (v.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return "boolean";
    case napi_number:
      return "number " + v.ToString().Utf8Value();
    case napi_string:
      return "string \"" + v.As<Napi::String>().Utf8Value() + "\"";
    case napi_bigint:
      return "bigint";
    case napi_function:
      return "function";
    default:
      break;
  }
  if (v.IsTypedArray()) return TypedArrayName(v.As<Napi::TypedArray>().TypedArrayType());
  if (v.IsArray()) return "Array";
  if (v.IsArrayBuffer()) return "ArrayBuffer";
  return "object";
}

Args::Args(const Napi::CallbackInfo& info, const char* fn, size_t count) : info_(info), fn_(fn) {
  if (info.Length() < count) {
    ThrowType(std::to_string(count) + " arguments expected, got " + std::to_string(info.Length()));
  }
}

void Args::ThrowRange(const std::string& message) const {
  throw Napi::RangeError::New(Env(), std::string(fn_) + ": " + message);
}

void Args::ThrowType(const std::string& message) const {
  throw Napi::TypeError::New(Env(), std::string(fn_) + ": " + message);
}

Napi::Uint8Array Args::Bytes(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowType(std::string("'") + name + "' must be a Uint8Array, got " + Describe(v));
  }
  return v.As<Napi::Uint8Array>();
}

int64_t Args::Int(size_t i, const char* name, int64_t min, int64_t max) const {
  Napi::Value v = info_[i];
  if (!v.IsNumber()) ThrowType(std::string("'") + name + "' must be an integer, got " + Describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    ThrowRange(std::string("'") + name + "' must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
               "], got " + v.ToString().Utf8Value());
  }
  return static_cast<int64_t>(d);
}

int64_t Args::Offset(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsNumber()) ThrowType(std::string("'") + name + "' must be a non-negative integer, got " + Describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > kMaxSafeInteger) {
    ThrowRange(std::string("'") + name + "' must be a non-negative integer, got " + v.ToString().Utf8Value());
  }
  return static_cast<int64_t>(d);
}

bool Args::Bool(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsBoolean()) ThrowType(std::string("'") + name + "' must be a boolean, got " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

std::string Args::String(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsString()) ThrowType(std::string("'") + name + "' must be a string, got " + Describe(v));
  return v.As<Napi::String>().Utf8Value();
}

FileArg Args::File(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  FileArg out;
  if (v.IsString()) {
    out.path = v.As<Napi::String>().Utf8Value();
    if (out.path.empty()) ThrowRange(std::string("'") + name + "' must be a file descriptor or a non-empty path, got \"\"");
    if (out.path.find('\0') != std::string::npos) ThrowRange(std::string("'") + name + "' must not contain a NUL character");
    return out;
  }
  if (!v.IsNumber()) {
    ThrowType(std::string("'") + name + "' must be a file descriptor (integer >= 0) or a path string, got " + Describe(v));
  }
  out.fd = static_cast<int>(Int(i, name, 0, 2147483647));
  return out;
}

}  // namespace ds
