// Registers the exported functions; each feature file owns its kernels and argument checks.
#include <napi.h>

#include "cpu.h"
#include "master_to_half.h"
#include "unscale.h"

namespace {

// [sync] simd(): 'avx512' | 'avx2' | 'scalar' — the instruction set the kernels use now.
Napi::Value Simd(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ds::SimdName(ds::CurrentSimd()));
}

// [sync] _setSimd(level: 'avx512' | 'avx2' | 'scalar'): string — lowers (or restores) the level,
//   capped at what the CPU supports; returns the level in effect. Internal: tests use it to run
//   every code path on one machine. TypeError when level is not a string, RangeError when unknown.
Napi::Value SetSimd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "_setSimd: 'level' must be a string ('avx512', 'avx2' or 'scalar')");
  }
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  ds::SimdLevel level;
  if (!ds::ParseSimd(name.c_str(), &level)) {
    throw Napi::RangeError::New(env, "_setSimd: unknown level '" + name + "'; valid: 'avx512', 'avx2', 'scalar'");
  }
  return Napi::String::New(env, ds::SimdName(ds::SetSimd(level)));
}

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("simd", Napi::Function::New(env, Simd, "simd"));
  exports.Set("_setSimd", Napi::Function::New(env, SetSimd, "_setSimd"));
  ds::InitUnscale(env, exports);
  ds::InitMasterToHalf(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(ds_precision, InitAddon)
