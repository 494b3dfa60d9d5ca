// Embedding lookup and its gradient.
#pragma once

#include <napi.h>

namespace ds {

// [sync] embedding(weight: Float32Array [V, dim], ids: Int32Array [n], dim, out: Float32Array [n, dim]):
//   out[i, :] = weight[ids[i], :] with V = floor(weight.length / dim).
// [sync] embeddingBackward(dy [n, dim], ids [n], dim, dweight [V, dim]): dweight[ids[i], :] += dy[i, :].
//   Both check every id first and throw RangeError naming the position and value of the first id
//   outside [0, V), so nothing is written on error; TypeError on wrong types.
//   bf16 twins below take Uint16Arrays of bfloat16 bits where the float32 kernel takes
//   Float32Arrays for tensor data, compute the same float32 values on the widened inputs and
//   round each output once to nearest even (elem_io.h), so their results equal
//   f32ToBf16(kernel(bf16ToF32(inputs))) bit for bit; they throw the same errors.
// [sync] embeddingBf16(weight: Uint16Array, ids, dim, out: Uint16Array): the rows' bits, except that a
//   signalling NaN comes out quiet (what widening and rounding does).
// [sync] embeddingBackwardBf16(dy: Uint16Array, ids, dim, dweight: Uint16Array): OVERWRITES dweight
//   with the float32 embeddingBackward of dy into zeros, rounded (unreferenced rows are +0).
void InitEmbedding(Napi::Env env, Napi::Object exports);

}  // namespace ds
