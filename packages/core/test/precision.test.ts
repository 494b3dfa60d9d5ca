// float32 <-> float16 / bfloat16 conversions against torch's bits (golden/precision):
// round-to-nearest-even, bit-exact for every non-NaN input; a NaN input may give any NaN.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tensor, type Tensor } from '../src/index.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../src/half.js';
import { kernels, useKernels } from '../src/kernels/index.js';
import { loadNativeKernels } from '../src/kernels/native.js';
import { loadSafetensors } from '../src/safetensors/index.js';

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden');

interface EdgeCase {
  f32_bits: string;
  f32_value: string;
  category: string;
  note: string;
  f16_bits: string;
  f16_back_to_f32_bits: string;
  bf16_bits: string;
  bf16_back_to_f32_bits: string;
  is_nan: boolean;
}

/** One conversion test set as parallel bit arrays. */
interface Cases {
  label: (i: number) => string;
  x: Uint32Array;
  f16: Uint16Array;
  f16Back: Uint32Array;
  bf16: Uint16Array;
  bf16Back: Uint32Array;
  isNan: Uint8Array;
}

function edgeCases(): Cases {
  const doc = JSON.parse(readFileSync(path.join(GOLDEN, 'precision/edge_cases.json'), 'utf8')) as { cases: EdgeCase[] };
  const c = doc.cases;
  const hex = (s: string): number => Number.parseInt(s, 16);
  return {
    label: (i) => `edge case ${i} (${c[i]!.category}: ${c[i]!.note}, ${c[i]!.f32_bits} = ${c[i]!.f32_value})`,
    x: Uint32Array.from(c, (e) => hex(e.f32_bits)),
    f16: Uint16Array.from(c, (e) => hex(e.f16_bits)),
    f16Back: Uint32Array.from(c, (e) => hex(e.f16_back_to_f32_bits)),
    bf16: Uint16Array.from(c, (e) => hex(e.bf16_bits)),
    bf16Back: Uint32Array.from(c, (e) => hex(e.bf16_back_to_f32_bits)),
    isNan: Uint8Array.from(c, (e) => (e.is_nan ? 1 : 0)),
  };
}

async function randomCases(): Promise<Cases> {
  const t = await loadSafetensors(path.join(GOLDEN, 'precision/random.safetensors'));
  const u32 = (x: Tensor): Uint32Array => {
    const d = x.data() as Float32Array;
    return new Uint32Array(d.buffer, d.byteOffset, d.length);
  };
  const x = u32(t.x_f32!);
  // The file's own cross-check: x_bits_i64 is x_f32's bit pattern (also checks the loader).
  const bits = t.x_bits_i64!.data() as BigInt64Array;
  expect(Array.from(bits, (b) => Number(b))).toEqual(Array.from(x));
  return {
    label: (i) => `random input ${i} (0x${x[i]!.toString(16).padStart(8, '0')})`,
    x,
    f16: t.to_f16!.data() as Uint16Array,
    f16Back: u32(t.f16_to_f32!),
    bf16: t.to_bf16!.data() as Uint16Array,
    bf16Back: u32(t.bf16_to_f32!),
    isNan: Uint8Array.from(t.is_nan!.data() as Int32Array),
  };
}

const isNanF32 = (b: number): boolean => (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;
const isNanF16 = (b: number): boolean => (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0;
const isNanBf16 = (b: number): boolean => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;

const hex = (v: number, digits: number): string => `0x${(v >>> 0).toString(16).padStart(digits, '0')}`;

/**
 * Compare bit arrays: exact where the input is not NaN, any NaN where it is. Returns the
 * first mismatches as readable lines (so a failure names the case, not an index).
 */
function mismatches(
  cases: Cases,
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  inputIsNan: (i: number) => boolean,
  nanCheck: (b: number) => boolean,
  digits: number,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < expected.length && out.length < 10; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const ok = inputIsNan(i) ? nanCheck(a) : a === e;
    if (!ok) out.push(`${what}: ${cases.label(i)} gave ${hex(a, digits)}, expected ${hex(e, digits)}`);
  }
  return out;
}

const f32View = (bits: Uint32Array): Float32Array => new Float32Array(bits.buffer, bits.byteOffset, bits.length);
const bitsOf = (f: Float32Array): Uint32Array => new Uint32Array(f.buffer, f.byteOffset, f.length);

type Mode = 'reference' | 'native';
function availableModes(): Mode[] {
  try {
    return loadNativeKernels() ? ['reference', 'native'] : ['reference'];
  } catch {
    return ['reference'];
  }
}
const MODES = availableModes();

let random: Cases;
const edge = edgeCases();
let previous: Mode;
beforeAll(async () => {
  previous = kernels().name;
  random = await randomCases();
});
afterAll(() => {
  useKernels(previous);
});

it('edge_cases.json covers 115 inputs including NaNs, and random.safetensors 3 NaNs in 4096', () => {
  expect(edge.x.length).toBe(115);
  expect(edge.isNan.some((v) => v === 1)).toBe(true);
  expect(random.x.length).toBe(4096);
  expect(random.isNan.reduce((s, v) => s + v, 0)).toBe(3);
  // is_nan agrees with the bits, so NaN leniency is applied exactly where it should be
  for (const c of [edge, random]) {
    for (let i = 0; i < c.x.length; i++) expect(c.isNan[i] === 1, c.label(i)).toBe(isNanF32(c.x[i]!));
  }
});

describe.each(MODES)('%s kernels', (mode) => {
  beforeAll(() => {
    useKernels(mode);
  });

  describe.each([
    ['edge_cases.json', () => edge],
    ['random.safetensors', () => random],
  ] as const)('%s', (_name, get) => {
    it('kernels: float32 -> float16 and back', () => {
      expect(kernels().name).toBe(mode);
      const c = get();
      const nan = (i: number): boolean => c.isNan[i] === 1;
      const h = new Uint16Array(c.x.length);
      kernels().f32ToF16(f32View(c.x), h);
      const back = new Float32Array(c.x.length);
      kernels().f16ToF32(c.f16, back);
      const ours = new Float32Array(c.x.length);
      kernels().f16ToF32(h, ours);
      expect([
        ...mismatches(c, 'f32ToF16', h, c.f16, nan, isNanF16, 4),
        ...mismatches(c, 'f16ToF32(golden f16)', bitsOf(back), c.f16Back, nan, isNanF32, 8),
        ...mismatches(c, 'f16ToF32(f32ToF16(x))', bitsOf(ours), c.f16Back, nan, isNanF32, 8),
      ]).toEqual([]);
    });

    it('kernels: float32 -> bfloat16 and back', () => {
      const c = get();
      const nan = (i: number): boolean => c.isNan[i] === 1;
      const h = new Uint16Array(c.x.length);
      kernels().f32ToBf16(f32View(c.x), h);
      const back = new Float32Array(c.x.length);
      kernels().bf16ToF32(c.bf16, back);
      const ours = new Float32Array(c.x.length);
      kernels().bf16ToF32(h, ours);
      expect([
        ...mismatches(c, 'f32ToBf16', h, c.bf16, nan, isNanBf16, 4),
        ...mismatches(c, 'bf16ToF32(golden bf16)', bitsOf(back), c.bf16Back, nan, isNanF32, 8),
        ...mismatches(c, 'bf16ToF32(f32ToBf16(x))', bitsOf(ours), c.bf16Back, nan, isNanF32, 8),
      ]).toEqual([]);
    });

    it('kernels: odd lengths and subarrays (SIMD tails, unaligned starts)', () => {
      const c = get();
      const nan = (i: number): boolean => c.isNan[i + 1] === 1;
      const n = Math.min(c.x.length - 1, 37);
      const src = f32View(c.x).subarray(1, 1 + n);
      const dst = new Uint16Array(n + 3);
      kernels().f32ToF16(src, dst.subarray(3, 3 + n));
      const shifted: Cases = { ...c, label: (i) => c.label(i + 1) };
      expect(mismatches(shifted, 'f32ToF16 (subarray)', dst.subarray(3), c.f16.subarray(1, 1 + n), nan, isNanF16, 4)).toEqual([]);
      expect(Array.from(dst.subarray(0, 3))).toEqual([0, 0, 0]);
      kernels().f32ToBf16(src, dst.subarray(1, 1 + n));
      expect(mismatches(shifted, 'f32ToBf16 (subarray)', dst.subarray(1, 1 + n), c.bf16.subarray(1, 1 + n), nan, isNanBf16, 4)).toEqual([]);
    });

    it('tensor casts: to("float16"), to("bfloat16"), to("float32")', () => {
      const c = get();
      const nan = (i: number): boolean => c.isNan[i] === 1;
      const x = tensor(f32View(c.x).slice());
      const h = x.to('float16');
      const b = x.to('bfloat16');
      expect(h.dtype).toBe('float16');
      expect(b.dtype).toBe('bfloat16');
      expect(h.shape).toEqual([c.x.length]);
      const hBack = tensor(c.f16.slice(), { dtype: 'float16' }).to('float32');
      const bBack = tensor(c.bf16.slice(), { dtype: 'bfloat16' }).to('float32');
      expect(hBack.dtype).toBe('float32');
      expect([
        ...mismatches(c, "to('float16')", h.data() as Uint16Array, c.f16, nan, isNanF16, 4),
        ...mismatches(c, "to('bfloat16')", b.data() as Uint16Array, c.bf16, nan, isNanBf16, 4),
        ...mismatches(c, "float16.to('float32')", bitsOf(hBack.data() as Float32Array), c.f16Back, nan, isNanF32, 8),
        ...mismatches(c, "bfloat16.to('float32')", bitsOf(bBack.data() as Float32Array), c.bf16Back, nan, isNanF32, 8),
        ...mismatches(c, "float16.to('float32') of to('float16')", bitsOf(h.to('float32').data() as Float32Array), c.f16Back, nan, isNanF32, 8),
      ]).toEqual([]);
    });

    it('tensor casts from a number array and through 2-d views', () => {
      const c = get();
      const nan = (i: number): boolean => c.isNan[i] === 1;
      // JS numbers that are exactly the float32 inputs (NaNs and all)
      const values = Array.from(f32View(c.x));
      const h = tensor(values).to('float16');
      expect(mismatches(c, "tensor([...]).to('float16')", h.data() as Uint16Array, c.f16, nan, isNanF16, 4)).toEqual([]);
      // a transposed (non-contiguous) view converts in row-major order of the view
      const n = c.x.length - (c.x.length % 5);
      const m = tensor(f32View(c.x).slice(0, n), { shape: [5, n / 5] });
      const t = m.asStrided([n / 5, 5], [1, n / 5]);
      const tb = t.to('bfloat16').data() as Uint16Array;
      const order = Array.from({ length: n }, (_, k) => (k % 5) * (n / 5) + Math.floor(k / 5));
      const permuted: Cases = { ...c, label: (k) => c.label(order[k]!) };
      expect(
        mismatches(permuted, 'transposed.to("bfloat16")', tb, order.map((i) => c.bf16[i]!), (k) => nan(order[k]!), isNanBf16, 4),
      ).toEqual([]);
    });
  });
});

describe('scalar helpers in half.ts', () => {
  it.each([
    ['edge_cases.json', () => edge],
    ['random.safetensors', () => random],
  ] as const)('%s', (_name, get) => {
    const c = get();
    const nan = (i: number): boolean => c.isNan[i] === 1;
    const xs = f32View(c.x);
    const back = new Float32Array(1);
    const toBits = (v: number): number => {
      back[0] = v;
      return bitsOf(back)[0]!;
    };
    expect([
      ...mismatches(c, 'f32ToF16Bits', Array.from(xs, f32ToF16Bits), c.f16, nan, isNanF16, 4),
      ...mismatches(c, 'f32ToBf16Bits', Array.from(xs, f32ToBf16Bits), c.bf16, nan, isNanBf16, 4),
      ...mismatches(c, 'f16BitsToF32', Array.from(c.f16, (h) => toBits(f16BitsToF32(h))), c.f16Back, nan, isNanF32, 8),
      ...mismatches(c, 'bf16BitsToF32', Array.from(c.bf16, (h) => toBits(bf16BitsToF32(h))), c.bf16Back, nan, isNanF32, 8),
    ]).toEqual([]);
  });
});
