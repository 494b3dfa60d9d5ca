// The kernel sets the kernel tests compare: the TypeScript reference, and the native addon at
// every SIMD level this CPU has (when the addon is built).
import { nativePrecisionAddon, referencePrecisionKernels, type NativePrecisionAddon } from '../src/kernels/binding.js';
import type { PrecisionKernels } from '../src/kernels/types.js';

export interface KernelMode {
  label: string;
  kernels: PrecisionKernels;
  /** Select this mode's SIMD level before use (no-op for the reference). */
  enter(): void;
}

const addon: NativePrecisionAddon | null = nativePrecisionAddon();
if (!addon) console.warn('@ds/precision-native is not built: kernel tests run the TypeScript reference only');

function nativeModes(a: NativePrecisionAddon): KernelMode[] {
  const best = a.simd();
  const levels = ['avx512', 'avx2', 'scalar'].filter((l) => a._setSimd(l) === l);
  a._setSimd(best);
  const kernels: PrecisionKernels = { name: 'native', unscaleToMaster: a.unscaleToMaster, masterToHalf: a.masterToHalf, simd: a.simd };
  return levels.map((level) => ({ label: `native ${level}`, kernels, enter: () => void a._setSimd(level) }));
}

export const REFERENCE: KernelMode = { label: 'reference', kernels: referencePrecisionKernels, enter: () => {} };
export const NATIVE_MODES: KernelMode[] = addon ? nativeModes(addon) : [];
export const KERNEL_MODES: KernelMode[] = [REFERENCE, ...NATIVE_MODES];
/** Restore the addon's best SIMD level after a test switched it. */
export function restoreSimd(): void {
  if (addon) addon._setSimd('avx512');
}
