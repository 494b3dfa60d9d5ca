// Registers the exported functions; each feature file owns its kernels and argument checks.
#include <napi.h>

#include "adam.h"
#include "broadcast.h"
#include "cross_entropy.h"
#include "elementwise.h"
#include "embedding.h"
#include "gelu.h"
#include "gemm.h"
#include "gemm_bf16.h"
#include "half.h"
#include "layernorm.h"
#include "lion.h"
#include "malloc_tune.h"
#include "reduce.h"
#include "runtime.h"
#include "softmax.h"

namespace {

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  ds::TuneMalloc();
  ds::InitRuntime();
  ds::InitRuntimeExports(env, exports);
  ds::InitGemm(env, exports);
  ds::InitGemmBf16(env, exports);
  ds::InitElementwise(env, exports);
  ds::InitBroadcast(env, exports);
  ds::InitReduce(env, exports);
  ds::InitSoftmax(env, exports);
  ds::InitLayerNorm(env, exports);
  ds::InitGelu(env, exports);
  ds::InitCrossEntropy(env, exports);
  ds::InitEmbedding(env, exports);
  ds::InitAdam(env, exports);
  ds::InitLion(env, exports);
  ds::InitHalf(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(ds_core, InitAddon)
