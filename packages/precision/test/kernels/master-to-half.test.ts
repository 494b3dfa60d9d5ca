// masterToHalf against torch's float16 / bfloat16 bits (golden/precision), the TypeScript
// reference against the native kernel at every SIMD level, and its argument checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f32ToBf16Bits, f32ToF16Bits } from '@ds/core';
import { masterToHalf, usePrecisionKernels } from '@ds/precision';
import { halfCases, type HalfCases } from '../golden.js';
import { KERNEL_MODES, NATIVE_MODES, REFERENCE, restoreSimd } from '../kernel-modes.js';

const isNanF16 = (b: number): boolean => (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0;
const isNanBf16 = (b: number): boolean => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
const hex = (v: number): string => `0x${v.toString(16).padStart(4, '0')}`;

let cases: HalfCases;
beforeAll(async () => {
  cases = await halfCases();
});
afterAll(restoreSimd);

const VARIANTS = [
  { dtype: 'float16' as const, expected: (c: HalfCases) => c.f16, isNan: isNanF16 },
  { dtype: 'bfloat16' as const, expected: (c: HalfCases) => c.bf16, isNan: isNanBf16 },
];

describe.each(KERNEL_MODES)('masterToHalf ($label)', (mode) => {
  for (const { dtype, expected, isNan } of VARIANTS) {
    it(`matches torch's ${dtype} bits for every golden input (NaN -> a NaN)`, () => {
      mode.enter();
      const dst = new Uint16Array(cases.x.length);
      mode.kernels.masterToHalf(cases.x, dst, dtype);
      const want = expected(cases);
      for (let i = 0; i < dst.length; i++) {
        if (cases.isNan[i]) expect(isNan(dst[i]!), `${cases.label(i)}: NaN in, got ${hex(dst[i]!)}`).toBe(true);
        else if (dst[i] !== want[i]) expect.fail(`${cases.label(i)}: ${dtype} bits ${hex(dst[i]!)}, torch gives ${hex(want[i]!)}`);
      }
    });

    it(`${dtype}: every length 0..40 at every offset 0..3 (vector bodies and tails)`, () => {
      mode.enter();
      const want = expected(cases);
      for (let off = 0; off < 4; off++) {
        for (let n = 0; n <= 40; n++) {
          const src = cases.x.subarray(off, off + n);
          const dst = new Uint16Array(n + 2).fill(0xabcd);
          mode.kernels.masterToHalf(src, dst.subarray(1, n + 1), dtype);
          expect(dst[0], 'no write before dst').toBe(0xabcd);
          expect(dst[n + 1], 'no write past dst').toBe(0xabcd);
          for (let i = 0; i < n; i++) {
            const k = off + i;
            if (!cases.isNan[k] && dst[i + 1] !== want[k]) expect.fail(`length ${n}, offset ${off}, ${cases.label(k)}: got ${hex(dst[i + 1]!)}, want ${hex(want[k]!)}`);
          }
        }
      }
    });
  }
});

describe.skipIf(NATIVE_MODES.length === 0)('masterToHalf: native and reference are bit-identical', () => {
  it('on random float32 bit patterns, NaN payloads included', () => {
    const n = 10_007;
    const bits = new Uint32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      bits[i] = s;
    }
    const src = new Float32Array(bits.buffer);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const ref = new Uint16Array(n);
      REFERENCE.kernels.masterToHalf(src, ref, dtype);
      const spec = dtype === 'float16' ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < n; i += 97) expect(ref[i], `reference = @ds/core's conversion at ${i}`).toBe(spec(src[i]!));
      for (const mode of NATIVE_MODES) {
        mode.enter();
        const got = new Uint16Array(n);
        mode.kernels.masterToHalf(src, got, dtype);
        const i = got.findIndex((v, k) => v !== ref[k]);
        expect(i, `${mode.label} ${dtype}: first differing element ${i} (input 0x${bits[i]?.toString(16)})`).toBe(-1);
      }
    }
  });
});

describe('masterToHalf argument checks', () => {
  for (const which of ['reference', ...(NATIVE_MODES.length ? ['native' as const] : [])] as const) {
    it(`${which}: names the argument and what is valid`, () => {
      usePrecisionKernels(which);
      try {
        expect(() => masterToHalf(new Float64Array(2) as unknown as Float32Array, new Uint16Array(2), 'float16')).toThrow(
          "masterToHalf: 'src' must be a Float32Array, got Float64Array(2)",
        );
        expect(() => masterToHalf(new Float32Array(2), new Int16Array(2) as unknown as Uint16Array, 'float16')).toThrow("'dst' must be a Uint16Array");
        expect(() => masterToHalf(new Float32Array(2), new Uint16Array(2), 'float32' as 'float16')).toThrow(
          `masterToHalf: 'dtype' must be 'float16' or 'bfloat16', got "float32"`,
        );
        expect(() => masterToHalf(new Float32Array(3), new Uint16Array(2), 'bfloat16')).toThrow("'dst' has 2 elements but 'src' has 3");
      } finally {
        usePrecisionKernels('reference');
      }
    });
  }

  it.skipIf(NATIVE_MODES.length === 0)('the native addon checks its own arguments too', () => {
    const k = NATIVE_MODES[0]!.kernels;
    expect(() => k.masterToHalf(new Float32Array(1), new Uint16Array(2), 'float16')).toThrow(RangeError);
    expect(() => k.masterToHalf(new Uint16Array(1) as unknown as Float32Array, new Uint16Array(1), 'float16')).toThrow(TypeError);
    expect(() => k.masterToHalf(new Float32Array(1), new Uint16Array(1), 'float32' as 'float16')).toThrow("'dtype' must be 'float16' or 'bfloat16'");
  });
});
