// Fused Lion parameter update.
#pragma once

#include <napi.h>

namespace ds {

// [sync] lion(p, g, m, lr, beta1, beta2, weightDecay): in place on p and m for i < p.length, one pass:
//   c = b1 m + (1 - b1) g;  p = p (1 - lr wd) - lr sign(c);  m = b2 m + (1 - b2) g,
//   where sign(+-0) = +-0 (an exactly balanced c moves p by weight decay only) and sign(NaN) = NaN.
//   Evaluated in double and rounded once per stored value, as the TypeScript reference does, so
//   the two agree bit for bit.
//   Throws TypeError on wrong types, RangeError when g or m is shorter than p.
void InitLion(Napi::Env env, Napi::Object exports);

}  // namespace ds
