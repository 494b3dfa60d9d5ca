// Binds the Kernels interface to the C++ addon in native/core (@ds/core-native). The addon
// is an optional dependency: when it is missing or was not built, loadNativeKernels returns
// null and ds runs the TypeScript reference kernels instead.
import { createRequire } from 'node:module';
import type { Kernels } from './types.js';

/** The addon's exports: every kernel with the Kernels signature, plus internal hooks. */
export type NativeAddon = Omit<Kernels, 'name'> & {
  /** The path sbgemm takes at the current SIMD level: 'avx512_bf16' (vdpbf16ps) or 'sgemm' (widened inputs). */
  _sbgemmPath(): 'avx512_bf16' | 'sgemm';
  /** Lowers the SIMD level ('avx512' | 'avx2' | 'scalar'; capped at the CPU's); returns the level in effect. */
  _setSimd(level: string): string;
};

let loaded: Kernels | null | undefined;
let loadError: string | null = null;
let addon: NativeAddon | null = null;

/**
 * The native kernels, loaded once on first use; null when @ds/core-native is not installed or
 * not built (see nativeLoadError for why).
 */
export function loadNativeKernels(): Kernels | null {
  if (loaded !== undefined) return loaded;
  try {
    const require = createRequire(import.meta.url);
    addon = require('@ds/core-native') as NativeAddon;
    loaded = checkComplete(bind(addon));
  } catch (err) {
    loadError = err instanceof Error ? err.message : String(err);
    loaded = null;
  }
  return loaded;
}

/** Why the native kernels could not be loaded, or null if they loaded (or were not tried yet). */
export function nativeLoadError(): string | null {
  return loadError;
}

/** The raw addon (for its internal hooks, e.g. `_setSimd` in tests); null if it did not load. */
export function nativeAddon(): NativeAddon | null {
  loadNativeKernels();
  return addon;
}

/** A binary built from older sources lacks kernels this version calls: refuse it whole. */
function checkComplete(k: Kernels): Kernels {
  const missing = Object.entries(k).filter(([, v]) => typeof v !== 'function' && typeof v !== 'string').map(([name]) => name);
  if (missing.length > 0) {
    throw new Error(
      `@ds/core-native is older than @ds/core: it has no ${missing.join(', ')}; rebuild it with \`pnpm --filter @ds/core-native build\``,
    );
  }
  return k;
}

// NOTE: the addon's functions are used as they are, not wrapped: a wrapper would add a JS frame
// (and, with rest parameters, an allocation) to every kernel call. The C++ side checks
// argument counts and types and throws TypeError / RangeError naming the argument.
function bind(a: NativeAddon): Kernels {
  return {
    name: 'native',
    setNumThreads: a.setNumThreads,
    getNumThreads: a.getNumThreads,
    blasInfo: a.blasInfo,
    simd: a.simd,
    sgemm: a.sgemm,
    sbgemm: a.sbgemm,
    sbgemmToBf16: a.sbgemmToBf16,
    binary: a.binary,
    unary: a.unary,
    binaryScalar: a.binaryScalar,
    axpy: a.axpy,
    scale: a.scale,
    copyStrided: a.copyStrided,
    reduce: a.reduce,
    sumAll: a.sumAll,
    softmax: a.softmax,
    softmaxBackward: a.softmaxBackward,
    logSoftmax: a.logSoftmax,
    logSoftmaxBackward: a.logSoftmaxBackward,
    causalSoftmax: a.causalSoftmax,
    layerNorm: a.layerNorm,
    layerNormBackward: a.layerNormBackward,
    gelu: a.gelu,
    geluBackward: a.geluBackward,
    crossEntropy: a.crossEntropy,
    crossEntropyBackward: a.crossEntropyBackward,
    embedding: a.embedding,
    embeddingBackward: a.embeddingBackward,
    adam: a.adam,
    lion: a.lion,
    f32ToF16: a.f32ToF16,
    f16ToF32: a.f16ToF32,
    f32ToBf16: a.f32ToBf16,
    bf16ToF32: a.bf16ToF32,
    copyStrided16: a.copyStrided16,
    binaryBf16: a.binaryBf16,
    unaryBf16: a.unaryBf16,
    binaryScalarBf16: a.binaryScalarBf16,
    reduceBf16: a.reduceBf16,
    softmaxBf16: a.softmaxBf16,
    softmaxBackwardBf16: a.softmaxBackwardBf16,
    logSoftmaxBf16: a.logSoftmaxBf16,
    logSoftmaxBackwardBf16: a.logSoftmaxBackwardBf16,
    causalSoftmaxBf16: a.causalSoftmaxBf16,
    causalSoftmaxBackwardBf16: a.causalSoftmaxBackwardBf16,
    layerNormBf16: a.layerNormBf16,
    layerNormBackwardBf16: a.layerNormBackwardBf16,
    geluBf16: a.geluBf16,
    geluBackwardBf16: a.geluBackwardBf16,
    crossEntropyBf16: a.crossEntropyBf16,
    crossEntropyBackwardBf16: a.crossEntropyBackwardBf16,
    embeddingBf16: a.embeddingBf16,
    embeddingBackwardBf16: a.embeddingBackwardBf16,
  };
}
