// Moving tensor contents in and out of the flat typed arrays the binding works on.
import { allocateStorage, functional, type StorageArray, type Tensor } from '@ds/core';

export type FlatArray = StorageArray;

/**
 * The tensor's elements as one flat typed array: the storage itself (zero copy) when the
 * tensor is contiguous, else a packed copy; `writeBack()` copies a packed copy back.
 */
export function flatView(t: Tensor): { data: FlatArray; writeBack(): void } {
  const data = t.data();
  if (t.isContiguous()) return { data, writeBack: () => {} };
  return { data, writeBack: () => functional.writeElements(t, data) };
}

/** A fresh zeroed typed array of the tensor's storage type. */
export function allocLike(t: Tensor, n: number): FlatArray {
  return allocateStorage(t.dtype, n);
}
