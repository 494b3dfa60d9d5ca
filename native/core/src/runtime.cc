#include "runtime.h"

#include <cblas.h>

#include <cstdlib>
#include <string>

#include "args.h"
#include "cpu.h"
#include "threadpool.h"

namespace ds {
namespace {

bool EnvSet(const char* name) {
  const char* v = std::getenv(name);
  return v && *v;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args args(info, "setNumThreads", 1);
  int n = static_cast<int>(args.Int(0, "n", 1, 1024));
  ThreadPool::Instance().Resize(n);
  openblas_set_num_threads(n);
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ThreadPool::Instance().Size());
}

Napi::Value BlasInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const char* core = openblas_get_corename();
  const char* config = openblas_get_config();
  o.Set("library", "openblas");
  o.Set("core", core ? core : "unknown");
  o.Set("config", config ? config : "");
  o.Set("threads", openblas_get_num_threads());
  return o;
}

Napi::Value Simd(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), SimdName(CurrentSimd())); }

Napi::Value SetSimdLevel(const Napi::CallbackInfo& info) {
  Args args(info, "_setSimd", 1);
  Napi::Value v = info[0];
  SimdLevel level;
  if (!v.IsString() || !ParseSimd(v.As<Napi::String>().Utf8Value().c_str(), &level)) {
    args.ThrowType("'level' must be 'avx512', 'avx2' or 'scalar', got " + Describe(v));
  }
  return Napi::String::New(info.Env(), SimdName(SetSimd(level)));
}

}  // namespace

void InitRuntime() {
  int threads = ThreadPool::Instance().Size();
  // OpenBLAS defaults to one thread per core, which oversubscribes as soon as two ranks share
  // a machine; an explicit OpenBLAS/OpenMP setting from the user still wins unless
  // DS_NUM_THREADS asks for something else.
  if (EnvSet("DS_NUM_THREADS") ||
      !(EnvSet("OPENBLAS_NUM_THREADS") || EnvSet("GOTO_NUM_THREADS") || EnvSet("OMP_NUM_THREADS"))) {
    openblas_set_num_threads(threads);
  }
}

void InitRuntimeExports(Napi::Env env, Napi::Object exports) {
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("blasInfo", Napi::Function::New(env, BlasInfo, "blasInfo"));
  exports.Set("simd", Napi::Function::New(env, Simd, "simd"));
  exports.Set("_setSimd", Napi::Function::New(env, SetSimdLevel, "_setSimd"));
}

}  // namespace ds
