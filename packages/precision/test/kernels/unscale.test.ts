// unscaleToMaster: exact float16 / bfloat16 widening (golden/precision), float32 multiply and add
// rounding, the finite check in vector bodies and tails, reference vs native at every SIMD
// level, and the argument checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unscaleToMaster, usePrecisionKernels } from '@ds/precision';
import { halfCases, type HalfCases } from '../golden.js';
import { KERNEL_MODES, NATIVE_MODES, REFERENCE, restoreSimd } from '../kernel-modes.js';

let cases: HalfCases;
beforeAll(async () => {
  cases = await halfCases();
});
afterAll(restoreSimd);

const f32Bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);
const hex = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;

/** Bits equal, except that an expected NaN accepts any NaN. */
function expectSameFloats(actual: Float32Array, expected: Float32Array, what: string): void {
  const a = f32Bits(actual);
  const e = f32Bits(expected);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(expected[i]!)) {
      if (!Number.isNaN(actual[i]!)) expect.fail(`${what}: element ${i} is ${actual[i]} (${hex(a[i]!)}), expected NaN`);
    } else if (a[i] !== e[i]) {
      expect.fail(`${what}: element ${i} is ${actual[i]} (${hex(a[i]!)}), expected ${expected[i]} (${hex(e[i]!)})`);
    }
  }
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const HALVES = [
  { dtype: 'float16' as const, bits: (c: HalfCases) => c.f16, back: (c: HalfCases) => c.f16Back },
  { dtype: 'bfloat16' as const, bits: (c: HalfCases) => c.bf16, back: (c: HalfCases) => c.bf16Back },
];

describe.each(KERNEL_MODES)('unscaleToMaster ($label)', (mode) => {
  for (const { dtype, bits, back } of HALVES) {
    it(`${dtype}: invScale 1 widens every golden value exactly (torch's float32 bits)`, () => {
      mode.enter();
      const out = new Float32Array(cases.x.length);
      const finite = mode.kernels.unscaleToMaster(bits(cases), dtype, out, 1, false);
      const want = new Float32Array(back(cases).buffer.slice(0));
      expectSameFloats(out, want, `${dtype} widening`);
      expect(finite, 'the golden set holds inf and NaN').toBe(false);
      expect(finite).toBe(want.every(Number.isFinite));
    });

    it(`${dtype}: out = widen(grad) * invScale rounded to float32, for power-of-two and other scales`, () => {
      mode.enter();
      const want0 = new Float32Array(back(cases).buffer.slice(0));
      for (const inv of [2 ** -16, 1 / 138, 3.3, 2 ** 10]) {
        const out = new Float32Array(cases.x.length);
        mode.kernels.unscaleToMaster(bits(cases), dtype, out, inv, false);
        const fi = Math.fround(inv);
        expectSameFloats(out, want0.map((g) => Math.fround(g * fi)), `${dtype} x ${inv}`);
      }
    });

    it(`${dtype}: accumulate adds the unscaled gradient with one float32 rounding per operation`, () => {
      mode.enter();
      const rnd = seeded(7);
      const n = cases.x.length;
      const start = Float32Array.from({ length: n }, () => (rnd() - 0.5) * 4);
      const out = start.slice();
      const inv = 1 / 1000;
      mode.kernels.unscaleToMaster(bits(cases), dtype, out, inv, true);
      const g = new Float32Array(back(cases).buffer.slice(0));
      const fi = Math.fround(inv);
      expectSameFloats(out, start.map((o, i) => Math.fround(o + Math.fround(g[i]! * fi))), `${dtype} accumulate`);
    });
  }

  it('float32: products, sums, overflow of a finite grad to inf', () => {
    mode.enter();
    const rnd = seeded(3);
    const g = Float32Array.from({ length: 1001 }, () => (rnd() - 0.5) * 1e3);
    const out = new Float32Array(g.length);
    expect(mode.kernels.unscaleToMaster(g, 'float32', out, 1 / 3, false)).toBe(true);
    const third = Math.fround(1 / 3);
    expectSameFloats(out, g.map((v) => Math.fround(v * third)), 'float32 x 1/3');
    // A finite gradient that overflows once unscaled (scale < 1) is not finite any more.
    const big = new Float32Array(37).fill(1);
    big[36] = 3e38;
    expect(mode.kernels.unscaleToMaster(big, 'float32', new Float32Array(37), 4, false)).toBe(false);
    // Accumulating onto an inf that is already there is not finite either.
    const acc = new Float32Array(37);
    acc[5] = Infinity;
    expect(mode.kernels.unscaleToMaster(new Float32Array(37), 'float32', acc, 1, true)).toBe(false);
  });

  it('finds a single inf or NaN at every position of every length 1..40 (body and tail)', () => {
    mode.enter();
    const specials = {
      float32: [Infinity, -Infinity, Number.NaN],
      float16: [0x7c00, 0xfc00, 0x7e00, 0x7c01],
      bfloat16: [0x7f80, 0xff80, 0x7fc0, 0xff81],
    };
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      for (let n = 1; n <= 40; n++) {
        const clean = dtype === 'float32' ? new Float32Array(n).fill(0.5) : new Uint16Array(n).fill(dtype === 'float16' ? 0x3c00 : 0x3f80);
        expect(mode.kernels.unscaleToMaster(clean, dtype, new Float32Array(n), 0.25, false), `${dtype} n=${n} all finite`).toBe(true);
        for (let p = 0; p < n; p++) {
          for (const v of specials[dtype]) {
            const g = clean.slice();
            g[p] = v;
            const out = new Float32Array(n);
            if (mode.kernels.unscaleToMaster(g, dtype, out, 0.25, false)) expect.fail(`${dtype} n=${n}: special ${v} at ${p} not found`);
            expect(Number.isFinite(out[p]!)).toBe(false);
            if (n > 1) expect(out[(p + 1) % n]).toBe(dtype === 'float32' ? 0.125 : 0.25);
          }
        }
      }
    }
  });

  it('writes exactly out.length values (no write past a subarray)', () => {
    mode.enter();
    for (let n = 0; n <= 33; n++) {
      const buf = new Float32Array(n + 2).fill(-7);
      const g = new Uint16Array(n).fill(0x4000);
      mode.kernels.unscaleToMaster(g, 'float16', buf.subarray(1, n + 1), 0.5, false);
      expect([buf[0], buf[n + 1]]).toEqual([-7, -7]);
      expect(Array.from(buf.subarray(1, n + 1))).toEqual(new Array(n).fill(1));
    }
  });
});

describe.skipIf(NATIVE_MODES.length === 0)('unscaleToMaster: native and reference are bit-identical', () => {
  it('on random bit patterns of every dtype, with and without accumulation', () => {
    const rnd = seeded(99);
    const n = 5003;
    const h = Uint16Array.from({ length: n }, () => Math.floor(rnd() * 65536));
    const f = new Float32Array(Uint32Array.from({ length: n }, () => Math.floor(rnd() * 2 ** 32)).buffer);
    const start = Float32Array.from({ length: n }, () => (rnd() - 0.5) * 100);
    const inputs = [
      ['float16', h],
      ['bfloat16', h],
      ['float32', f],
    ] as const;
    for (const [dtype, g] of inputs) {
      for (const acc of [false, true]) {
        const ref = start.slice();
        const refFinite = REFERENCE.kernels.unscaleToMaster(g, dtype, ref, 1 / 65536, acc);
        for (const mode of NATIVE_MODES) {
          mode.enter();
          const got = start.slice();
          expect(mode.kernels.unscaleToMaster(g, dtype, got, 1 / 65536, acc), `${mode.label} finite flag`).toBe(refFinite);
          expectSameFloats(got, ref, `${mode.label} ${dtype}${acc ? ' accumulate' : ''}`);
        }
      }
    }
  });
});

describe('unscaleToMaster argument checks', () => {
  for (const which of ['reference', ...(NATIVE_MODES.length ? ['native' as const] : [])] as const) {
    it(`${which}: names the argument and what is valid`, () => {
      usePrecisionKernels(which);
      try {
        const out = new Float32Array(2);
        expect(() => unscaleToMaster(new Float32Array(2), 'float16', out, 1)).toThrow(
          "unscaleToMaster: 'grad' must be a Uint16Array of float16 bits, got Float32Array(2)",
        );
        expect(() => unscaleToMaster(new Uint16Array(2), 'float32', out, 1)).toThrow("'grad' must be a Float32Array for dtype float32");
        expect(() => unscaleToMaster(new Uint16Array(2), 'int32' as 'float16', out, 1)).toThrow(
          `'dtype' must be 'float32', 'float16' or 'bfloat16', got "int32"`,
        );
        expect(() => unscaleToMaster(new Uint16Array(3), 'bfloat16', out, 1)).toThrow("'out' has 2 elements but 'grad' has 3");
        expect(() => unscaleToMaster(new Uint16Array(2), 'bfloat16', out, Infinity)).toThrow("'invScale' must be a finite number, got number Infinity");
        expect(() => unscaleToMaster(new Uint16Array(2), 'bfloat16', out, 1, { accumulate: 1 as unknown as boolean })).toThrow("'opts.accumulate' must be a boolean");
        const g = new Uint16Array([0x4000, 0x3c00]);
        expect(unscaleToMaster(g, 'float16', out, 0.5)).toBe(true);
        expect(unscaleToMaster(g, 'float16', out, 0.5, { accumulate: true })).toBe(true);
        expect(Array.from(out)).toEqual([2, 1]);
      } finally {
        usePrecisionKernels('reference');
      }
    });
  }

  it.skipIf(NATIVE_MODES.length === 0)('the native addon checks its own arguments too', () => {
    const k = NATIVE_MODES[0]!.kernels;
    expect(() => k.unscaleToMaster(new Uint16Array(2), 'float16', new Float32Array(1), 1, false)).toThrow(RangeError);
    expect(() => k.unscaleToMaster(new Uint16Array(2), 'float16', new Float32Array(2), Number.NaN, false)).toThrow("'invScale' must be a finite number");
    expect(() => k.unscaleToMaster(new Uint16Array(2), 'float16', new Float32Array(2), 1, 0 as unknown as boolean)).toThrow(TypeError);
    expect(() => k.unscaleToMaster(new Uint16Array(2), 'half' as 'float16', new Float32Array(2), 1, false)).toThrow("got 'half'");
  });
});
