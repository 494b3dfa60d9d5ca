// Moving tensor contents in and out of the flat typed arrays the binding works on.
import type { Tensor } from '@ds/core';

export type FlatArray = Float32Array | Uint16Array | Int32Array | BigInt64Array;

/**
 * The tensor's elements as one flat typed array: the storage itself (zero copy) when the
 * tensor is contiguous, else a packed copy; `writeBack()` copies a packed copy back.
 */
export function flatView(t: Tensor): { data: FlatArray; writeBack(): void } {
  const data = t.data() as FlatArray;
  if (t.isContiguous()) return { data, writeBack: () => {} };
  return { data, writeBack: () => scatter(t, data) };
}

/** Writes row-major `values` into t's elements, honouring its strides (raw elements, no conversion). */
export function scatter(t: Tensor, values: FlatArray): void {
  if (t.isContiguous()) {
    (t.data() as FlatArray).set(values as never);
    return;
  }
  const shape = t.shape;
  const strides = t.strides;
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  const dst = t.storage as unknown as { [i: number]: number | bigint };
  const src = values as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < values.length; i++) {
    let o = t.offset;
    for (let d = 0; d < nd; d++) o += idx[d]! * strides[d]!;
    dst[o] = src[i]!;
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

/** A fresh zeroed typed array of the tensor's storage type. */
export function allocLike(t: Tensor, n: number): FlatArray {
  switch (t.dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
  }
}
