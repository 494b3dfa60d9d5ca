// Shared data memory of an in-process world. Each rank owns:
//  * three "zones" (SharedArrayBuffers) it publishes collective inputs into: two small ones
//    used alternately (so back-to-back small collectives need no extra synchronisation) and
//    a growable large one; peers read them directly;
//  * an "arena" (zone 3) that allocShared() carves tensors from: collectives read such tensors
//    in place, without the copy into a zone;
//  * a growable "heap" for point-to-point messages it sends (buffered, so isend never waits
//    for the receiver).
// Only the owner writes (and grows) its buffers; growth never moves memory, so peers can keep
// reading while the owner grows.
import type { DType } from '@ds/core';

interface StorageArrays {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int32: Int32Array;
  int64: BigInt64Array;
}

export interface Slabs {
  /** zones[rank][zone]; zone 3 is the rank's shared-tensor arena */
  zones: SharedArrayBuffer[][];
  /** p2p send heap of each rank */
  heaps: SharedArrayBuffer[];
  smallZoneBytes: number;
}

export interface SlabOptions {
  /** Size of each of the two small zones per rank (default 256 KiB). */
  smallZoneBytes?: number;
  /** Largest a rank's large zone or p2p heap may grow to (default 4 GiB, the most V8 allows). */
  maxBytes?: number;
}

export const LARGE_ZONE = 2;
export const ARENA_ZONE = 3;
const MiB = 1 << 20;

export function createSlabs(worldSize: number, opts: SlabOptions = {}): Slabs {
  const small = opts.smallZoneBytes ?? 256 * 1024;
  const max = opts.maxBytes ?? 2 ** 32;
  const growable = (): SharedArrayBuffer => new SharedArrayBuffer(0, { maxByteLength: max });
  return {
    zones: Array.from({ length: worldSize }, () => [new SharedArrayBuffer(small), new SharedArrayBuffer(small), growable(), growable()]),
    heaps: Array.from({ length: worldSize }, growable),
    smallZoneBytes: small,
  };
}

/** Make `sab` at least `bytes` long (owner only). */
export function ensureCapacity(sab: SharedArrayBuffer, bytes: number, what: string): void {
  if (sab.byteLength >= bytes) return;
  const max = sab.maxByteLength;
  if (bytes > max) {
    throw new RangeError(`in-process backend: ${what} needs ${bytes} bytes but the shared buffer is capped at ${max}; pass a larger maxBytes to launchInProcess`);
  }
  sab.grow(Math.min(max, Math.ceil(bytes / MiB) * MiB));
}

/** A view of `n` elements of `dtype` at `byteOffset` of a buffer. */
export function typedView<D extends DType>(dtype: D, buf: ArrayBufferLike, byteOffset: number, n: number): StorageArrays[D] {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buf, byteOffset, n) as StorageArrays[D];
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buf, byteOffset, n) as StorageArrays[D];
    case 'int32':
      return new Int32Array(buf, byteOffset, n) as StorageArrays[D];
    default:
      return new BigInt64Array(buf, byteOffset, n) as StorageArrays[D];
  }
}

/** Byte view of a typed array's elements [from, to). */
export function bytesOf(a: { buffer: ArrayBufferLike; byteOffset: number; BYTES_PER_ELEMENT: number }, from: number, to: number): Uint8Array {
  const b = a.BYTES_PER_ELEMENT;
  return new Uint8Array(a.buffer, a.byteOffset + from * b, (to - from) * b);
}

/** First-fit allocator over a rank's p2p heap (owner-local bookkeeping; 64-byte aligned). */
export class HeapAllocator {
  #free: { off: number; size: number }[] = [];
  #top = 0;
  constructor(readonly sab: SharedArrayBuffer) {}

  alloc(bytes: number): number {
    const size = Math.max(64, Math.ceil(bytes / 64) * 64);
    for (let i = 0; i < this.#free.length; i++) {
      const f = this.#free[i]!;
      if (f.size >= size) {
        const off = f.off;
        if (f.size === size) this.#free.splice(i, 1);
        else {
          f.off += size;
          f.size -= size;
        }
        return off;
      }
    }
    const off = this.#top;
    ensureCapacity(this.sab, off + size, 'the point-to-point send buffer');
    this.#top += size;
    return off;
  }

  free(off: number, bytes: number): void {
    const size = Math.max(64, Math.ceil(bytes / 64) * 64);
    if (off + size === this.#top) {
      this.#top = off;
      // fold a free block that now touches the top
      const last = this.#free[this.#free.length - 1];
      if (last && last.off + last.size === this.#top) {
        this.#top = last.off;
        this.#free.pop();
      }
      return;
    }
    let i = 0;
    while (i < this.#free.length && this.#free[i]!.off < off) i++;
    this.#free.splice(i, 0, { off, size });
    const cur = this.#free[i]!;
    const next = this.#free[i + 1];
    if (next && cur.off + cur.size === next.off) {
      cur.size += next.size;
      this.#free.splice(i + 1, 1);
    }
    const prev = this.#free[i - 1];
    if (prev && prev.off + prev.size === cur.off) {
      prev.size += cur.size;
      this.#free.splice(i, 1);
    }
  }
}

/** The typed arrays tensors store their elements in. */
export type StorageArray = Float32Array | Uint16Array | Int32Array | BigInt64Array;
