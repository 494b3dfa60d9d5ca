// Loads the C++ kernels of native/precision (@ds/precision-native, an optional dependency) once,
// on first use, and picks the kernel set: native when it loads (unless DS_NATIVE=0), else the
// TypeScript reference. DS_NATIVE=1 makes a missing addon an error instead of a fallback.
import { createRequire } from 'node:module';
import type { PrecisionKernels } from './types.js';
import { unscaleToMasterReference } from './unscale.js';
import { masterToHalfReference } from './master-to-half.js';

/** The addon's exports: the kernels plus an internal hook to lower the SIMD level. */
export type NativePrecisionAddon = Omit<PrecisionKernels, 'name'> & {
  /** Lowers the SIMD level ('avx512' | 'avx2' | 'scalar', capped at the CPU's); returns the level in effect. */
  _setSimd(level: string): string;
};

export const referencePrecisionKernels: PrecisionKernels = {
  name: 'reference',
  unscaleToMaster: unscaleToMasterReference,
  masterToHalf: masterToHalfReference,
  simd: () => 'scalar',
};

let addon: NativePrecisionAddon | null | undefined;
let loadError: string | null = null;
let active: PrecisionKernels | null = null;

/** The raw addon, loaded once; null when @ds/precision-native is missing or not built. */
export function nativePrecisionAddon(): NativePrecisionAddon | null {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)('@ds/precision-native') as NativePrecisionAddon;
  } catch (err) {
    loadError = err instanceof Error ? err.message : String(err);
    addon = null;
  }
  return addon;
}

/** Why the native kernels could not be loaded; null when they loaded or were not tried yet. */
export function nativePrecisionLoadError(): string | null {
  return loadError;
}

function bind(a: NativePrecisionAddon): PrecisionKernels {
  // The addon's functions are used as they are: the C++ side checks every argument.
  return { name: 'native', unscaleToMaster: a.unscaleToMaster, masterToHalf: a.masterToHalf, simd: a.simd };
}

function choose(): PrecisionKernels {
  const flag = process.env.DS_NATIVE;
  if (flag === '0' || flag === 'false') return referencePrecisionKernels;
  const native = nativePrecisionAddon();
  if (native) return bind(native);
  if (flag === '1' || flag === 'true') {
    throw new Error(`DS_NATIVE=${flag} but @ds/precision's native kernels could not be loaded: ${loadError ?? 'unknown error'}`);
  }
  return referencePrecisionKernels;
}

/** The kernels mixed precision runs on: native when built (and DS_NATIVE is not 0), else TypeScript. */
export function precisionKernels(): PrecisionKernels {
  return (active ??= choose());
}

/** Switch kernels explicitly; 'native' throws when the addon is not available. */
export function usePrecisionKernels(which: 'native' | 'reference'): PrecisionKernels {
  if (which !== 'native' && which !== 'reference') {
    throw new RangeError(`usePrecisionKernels: expected 'native' or 'reference', got ${JSON.stringify(which)}`);
  }
  if (which === 'reference') return (active = referencePrecisionKernels);
  const native = nativePrecisionAddon();
  if (!native) throw new Error(`usePrecisionKernels('native'): the native kernels are unavailable: ${loadError ?? 'unknown error'}`);
  return (active = bind(native));
}
