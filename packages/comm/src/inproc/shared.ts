// allocShared(): tensors on the rank's shared arena, which the in-process collectives read in
// place (no copy into a zone) — for the long-lived, bandwidth-heavy buffers (flat gradient and
// parameter buffers, ZeRO partitions). Memory is bump-allocated and lives as long as the world.
import { Tensor, type DType } from '@ds/core';
import { inprocRuntime } from './worker.js';
import { ARENA_ZONE, ensureCapacity, typedView } from './slab.js';

const TOPS = new WeakMap<SharedArrayBuffer, number>();

/**
 * A zero-filled contiguous tensor whose storage is this rank's shared arena (in-process
 * backend; call initDistributed() first). Collectives on it skip the copy into shared memory;
 * it behaves like any other tensor otherwise. Never freed before the world ends: allocate
 * long-lived buffers with it, not temporaries.
 */
export function allocShared(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  const rt = inprocRuntime();
  if (!rt) throw new Error('allocShared: needs the in-process backend; call initDistributed() first (inside launchInProcess, or a world of one)');
  for (const d of shape) if (!Number.isInteger(d) || d < 0) throw new RangeError(`allocShared: invalid shape [${shape.join(', ')}]`);
  const arena = rt.info.slabs.zones[rt.info.rank]![ARENA_ZONE]!;
  const numel = shape.reduce((a, b) => a * b, 1);
  const bpe = dtype === 'int64' ? 8 : dtype === 'float16' || dtype === 'bfloat16' ? 2 : 4;
  const off = TOPS.get(arena) ?? 0;
  const size = Math.ceil((numel * bpe) / 64) * 64;
  ensureCapacity(arena, off + size, 'allocShared');
  TOPS.set(arena, off + size);
  return new Tensor(typedView(dtype, arena, off, numel), shape, dtype);
}

/** Whether `t` lives on this rank's shared arena (collectives read it in place). */
export function isShared(t: Tensor): boolean {
  const rt = inprocRuntime();
  return !!rt && t.storage.buffer === rt.info.slabs.zones[rt.info.rank]![ARENA_ZONE];
}
