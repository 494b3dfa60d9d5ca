// Argument checks shared by the exported functions (see args.h).
#include "args.h"

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
      return "string \"" + v.As<Napi::String>().Utf8Value() + "\"";
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
Span<T> Args::Typed(size_t i, const char* name, napi_typedarray_type type, const char* type_name) const {
  Napi::Value v = info_[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    ThrowType(std::string("'") + name + "' must be a " + type_name + ", got " + Describe(v));
  }
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  return {arr.Data(), arr.ElementLength()};
}

Span<float> Args::F32(size_t i, const char* name) const {
  return Typed<float>(i, name, napi_float32_array, "Float32Array");
}

Span<uint16_t> Args::U16(size_t i, const char* name) const {
  return Typed<uint16_t>(i, name, napi_uint16_array, "Uint16Array");
}

bool Args::Bool(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsBoolean()) ThrowType(std::string("'") + name + "' must be a boolean, got " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

double Args::Number(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsNumber()) ThrowType(std::string("'") + name + "' must be a number, got " + Describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

std::string Args::String(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsString()) ThrowType(std::string("'") + name + "' must be a string, got " + Describe(v));
  return v.As<Napi::String>().Utf8Value();
}

DType Args::Dtype(size_t i, const char* name, bool allow_f32) const {
  const std::string s = String(i, name);
  if (s == "float16") return DType::Float16;
  if (s == "bfloat16") return DType::BFloat16;
  if (s == "float32" && allow_f32) return DType::Float32;
  ThrowRange(std::string("'") + name + "' must be " + (allow_f32 ? "'float32', " : "") +
             "'float16' or 'bfloat16', got '" + s + "'");
}

void Args::SameLength(const char* a, size_t na, const char* b, size_t nb) const {
  if (na != nb) {
    ThrowRange(std::string("'") + a + "' has " + std::to_string(na) + " elements but '" + b + "' has " +
               std::to_string(nb) + "; they must match");
  }
}

}  // namespace ds
