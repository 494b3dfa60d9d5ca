// The kernel surface of @ds/precision: flat typed-array work, no tensors. `unscale.ts` and
// `master-to-half.ts` hold the TypeScript reference (the spec); `binding.ts` binds the same
// functions to the C++ addon in native/precision. Both are bit-identical.

/** Element types a gradient may have; 16-bit floats are passed as their bit patterns. */
export type GradDType = 'float32' | 'float16' | 'bfloat16';

/** The 16-bit floating-point types a model computes in under mixed precision. */
export type HalfDType = 'float16' | 'bfloat16';

/** The dtype gradients accumulate in across micro-batches (DeepSpeed `data_types.grad_accum_dtype`). */
export type GradAccumDType = 'float32' | HalfDType;

export interface PrecisionKernels {
  readonly name: 'native' | 'reference';
  /**
   * out[i] = grad[i] * invScale (or out[i] += grad[i] * invScale when `accumulate`), rounded to
   * float32 after the multiply and after the add; invScale is rounded to float32 first. Returns
   * true when every value written is finite. Lengths must match; invScale must be finite.
   */
  unscaleToMaster(grad: Float32Array | Uint16Array, dtype: GradDType, out: Float32Array, invScale: number, accumulate: boolean): boolean;
  /** dst[i] = src[i] rounded to nearest even as `dtype` bits (same lengths). */
  masterToHalf(src: Float32Array, dst: Uint16Array, dtype: HalfDType): void;
  /** SIMD level in use: 'avx512' | 'avx2' | 'scalar' (reference: 'scalar'). */
  simd(): string;
}
