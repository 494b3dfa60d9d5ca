// Fused Adam / AdamW parameter update.
#pragma once

#include <napi.h>

namespace ds {

// [sync] adam(p, g, m, v, lr, beta1, beta2, eps, weightDecay, mode: 0 | 1, biasCorrection1,
//             biasCorrection2Sqrt): in place on p, m, v for i < p.length, one pass:
//   mode 0 (Adam, L2): g' = g + wd * p; mode 1 (AdamW): p *= 1 - lr * wd after the moments;
//   m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2;
//   p -= (lr / biasCorrection1) * m / (sqrt(v) / biasCorrection2Sqrt + eps).
//   Throws TypeError on wrong types, RangeError on a bad mode or g/m/v shorter than p.
void InitAdam(Napi::Env env, Napi::Object exports);

}  // namespace ds
