/** Element types a tensor can hold. float16 and bfloat16 are stored as raw 16-bit patterns. */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'int32' | 'int64';

export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'int64'];

/** The typed array that backs each dtype. int64 uses BigInt64Array so ids keep their full range. */
export interface StorageArrays {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int32: Int32Array;
  int64: BigInt64Array;
}
export type StorageArray = StorageArrays[DType];

export function isFloating(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16';
}

export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'float32':
    case 'int32':
      return 4;
    case 'float16':
    case 'bfloat16':
      return 2;
    case 'int64':
      return 8;
  }
}

export function allocateStorage(dtype: DType, n: number): StorageArray {
  switch (dtype) {
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

/** Storage view over an existing ArrayBuffer (used by flat buffers and safetensors). */
export function storageFromBuffer(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, n: number): StorageArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'int32':
      return new Int32Array(buffer, byteOffset, n);
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, n);
  }
}

export function assertDType(value: unknown, where: string): DType {
  if (typeof value === 'string' && (DTYPES as readonly string[]).includes(value)) return value as DType;
  throw new TypeError(`${where}: unknown dtype ${JSON.stringify(value)}; expected one of ${DTYPES.join(', ')}`);
}

/** Result dtype of a binary op, following torch's promotion for the types we have. */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  const fa = isFloating(a);
  const fb = isFloating(b);
  if (fa && !fb) return a;
  if (fb && !fa) return b;
  if (!fa && !fb) return 'int64';
  // float16 + bfloat16 -> float32 (as torch does); anything with float32 -> float32
  return 'float32';
}
