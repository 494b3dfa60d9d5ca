// Embedding lookup and its gradient.
#pragma once

#include <napi.h>

namespace ds {

// [sync] embedding(weight: Float32Array [V, dim], ids: Int32Array [n], dim, out: Float32Array [n, dim]):
//   out[i, :] = weight[ids[i], :] with V = floor(weight.length / dim).
// [sync] embeddingBackward(dy [n, dim], ids [n], dim, dweight [V, dim]): dweight[ids[i], :] += dy[i, :].
//   Both check every id first and throw RangeError naming the position and value of the first id
//   outside [0, V), so nothing is written on error; TypeError on wrong types.
void InitEmbedding(Napi::Env env, Napi::Object exports);

}  // namespace ds
