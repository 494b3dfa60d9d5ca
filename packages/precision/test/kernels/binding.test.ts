// Kernel selection: native when the addon is built, TypeScript with DS_NATIVE=0, explicit switching.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { precisionKernels, usePrecisionKernels } from '@ds/precision';
import { NATIVE_MODES } from '../kernel-modes.js';

const script = fileURLToPath(new URL('../fixtures/kernel-name.ts', import.meta.url));
const pick = (env: Record<string, string>): string =>
  execFileSync(process.execPath, ['--conditions=@ds/source', '--import', 'tsx', script], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();

describe('kernel selection', () => {
  it('DS_NATIVE=0 forces the TypeScript kernels', () => {
    expect(pick({ DS_NATIVE: '0' })).toBe('reference');
  });

  it.skipIf(NATIVE_MODES.length === 0)('the native addon is used when built, and DS_NATIVE=1 requires it', () => {
    expect(pick({ DS_NATIVE: '' })).toBe('native');
    expect(pick({ DS_NATIVE: '1' })).toBe('native');
  });

  it('usePrecisionKernels switches explicitly and rejects unknown names', () => {
    expect(usePrecisionKernels('reference').name).toBe('reference');
    expect(precisionKernels().simd()).toBe('scalar');
    if (NATIVE_MODES.length) expect(usePrecisionKernels('native').name).toBe('native');
    expect(() => usePrecisionKernels('gpu' as 'native')).toThrow(`usePrecisionKernels: expected 'native' or 'reference', got "gpu"`);
    usePrecisionKernels('reference');
  });
});
