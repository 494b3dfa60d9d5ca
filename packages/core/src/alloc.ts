// Output buffers for kernels that write every element. `new Float32Array(n)` zero-fills
// (calloc); for the hundreds of megabytes of activations and gradients a training step
// creates, that memset is pure waste when the kernel overwrites the buffer anyway.
// Buffer.allocUnsafeSlow hands out uninitialised memory with its own ArrayBuffer.

const SMALL = 1024; // below this V8's own zeroed allocation is cheaper than a malloc'd store

/** A Float32Array of length n with UNSPECIFIED contents: the caller must write every element. */
export function uninitF32(n: number): Float32Array {
  if (n < SMALL) return new Float32Array(n);
  const buf = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(buf.buffer, buf.byteOffset, n);
}

/** A Uint16Array (float16 / bfloat16 bits) of length n with UNSPECIFIED contents. */
export function uninitU16(n: number): Uint16Array {
  if (n < SMALL) return new Uint16Array(n);
  const buf = Buffer.allocUnsafeSlow(n * 2);
  return new Uint16Array(buf.buffer, buf.byteOffset, n);
}
