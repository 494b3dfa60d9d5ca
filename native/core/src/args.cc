#include "args.h"

#include <cmath>

namespace ds {

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
      return "string";
    case napi_bigint:
      return "bigint";
    case napi_function:
      return "function";
    default:
      break;
  }
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
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
    }
  }
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

template <class T>
Span<T> Args::Typed(size_t i, const char* name, napi_typedarray_type type, const char* type_name,
                    bool nullable) const {
  Napi::Value v = At(i);
  if (nullable && (v.IsNull() || v.IsUndefined())) return {};
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    ThrowType(std::string("'") + name + "' must be " + (nullable ? "null or " : "") + "a " + type_name + ", got " +
              Describe(v));
  }
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  return {arr.Data(), arr.ElementLength()};
}

Span<float> Args::F32(size_t i, const char* name) const {
  return Typed<float>(i, name, napi_float32_array, "Float32Array", false);
}
Span<float> Args::F32OrNull(size_t i, const char* name) const {
  return Typed<float>(i, name, napi_float32_array, "Float32Array", true);
}
Span<int32_t> Args::I32(size_t i, const char* name) const {
  return Typed<int32_t>(i, name, napi_int32_array, "Int32Array", false);
}
Span<int32_t> Args::I32OrNull(size_t i, const char* name) const {
  return Typed<int32_t>(i, name, napi_int32_array, "Int32Array", true);
}
Span<uint16_t> Args::U16(size_t i, const char* name) const {
  return Typed<uint16_t>(i, name, napi_uint16_array, "Uint16Array", false);
}
Span<uint16_t> Args::U16OrNull(size_t i, const char* name) const {
  return Typed<uint16_t>(i, name, napi_uint16_array, "Uint16Array", true);
}

bool Args::Bool(size_t i, const char* name) const {
  Napi::Value v = At(i);
  if (!v.IsBoolean()) ThrowType(std::string("'") + name + "' must be a boolean, got " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

double Args::Number(size_t i, const char* name) const {
  Napi::Value v = At(i);
  if (!v.IsNumber()) ThrowType(std::string("'") + name + "' must be a number, got " + Describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

int64_t Args::Int(size_t i, const char* name, int64_t lo, int64_t hi) const {
  double d = Number(i, name);
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || std::floor(d) != d) {
    ThrowRange(std::string("'") + name + "' must be an integer in [" + std::to_string(lo) + ", " +
               std::to_string(hi) + "], got " + Napi::Number::New(Env(), d).ToString().Utf8Value());
  }
  return static_cast<int64_t>(d);
}

void Args::NeedLength(const char* name, size_t have, size_t need, const char* what) const {
  if (have < need) {
    ThrowRange(std::string("'") + name + "' has " + std::to_string(have) + " elements but " + what + " needs " +
               std::to_string(need));
  }
}

size_t CheckedProduct(const Args& args, const char* what, std::initializer_list<int64_t> sizes) {
  const unsigned __int128 limit = (static_cast<unsigned __int128>(1) << 53);
  unsigned __int128 p = 1;
  for (int64_t s : sizes) {
    p *= static_cast<unsigned __int128>(s);
    if (p >= limit) args.ThrowRange(std::string(what) + " is too large");
  }
  return static_cast<size_t>(p);
}

}  // namespace ds
