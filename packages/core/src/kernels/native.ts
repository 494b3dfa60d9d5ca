import type { Kernels } from './types.js';
let loadError: string | null = 'native kernels not built yet';
export function loadNativeKernels(): Kernels | null {
  return null;
}
export function nativeLoadError(): string | null {
  return loadError;
}
