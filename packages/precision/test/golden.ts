// Paths and loaders for ../shared/golden (reference data from PyTorch and DeepSpeed).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors, type Tensor } from '@ds/core';

export const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden');

if (!existsSync(GOLDEN)) {
  throw new Error(`golden reference data not found at ${GOLDEN}: the repository expects shared/ beside its root`);
}

export function readGoldenJson<T>(file: string): T {
  return JSON.parse(readFileSync(path.join(GOLDEN, file), 'utf8')) as T;
}

/** float32 -> float16 / bfloat16 conversions as parallel bit arrays (edge cases, then random inputs). */
export interface HalfCases {
  label: (i: number) => string;
  x: Float32Array;
  f16: Uint16Array;
  f16Back: Uint32Array;
  bf16: Uint16Array;
  bf16Back: Uint32Array;
  isNan: Uint8Array;
}

interface EdgeCase {
  f32_bits: string;
  category: string;
  note: string;
  f16_bits: string;
  f16_back_to_f32_bits: string;
  bf16_bits: string;
  bf16_back_to_f32_bits: string;
  is_nan: boolean;
}

export async function halfCases(): Promise<HalfCases> {
  const edge = readGoldenJson<{ cases: EdgeCase[] }>('precision/edge_cases.json').cases;
  const t = await loadSafetensors(path.join(GOLDEN, 'precision/random.safetensors'));
  const u32 = (x: Tensor): Uint32Array => {
    const d = x.data() as Float32Array;
    return new Uint32Array(d.buffer, d.byteOffset, d.length);
  };
  const hex = (s: string): number => Number.parseInt(s, 16);
  const ne = edge.length;
  const rx = u32(t.x_f32!);
  const n = ne + rx.length;
  const bits = new Uint32Array(n);
  const out: HalfCases = {
    label: (i) => (i < ne ? `edge case ${i} (${edge[i]!.category}: ${edge[i]!.note}, ${edge[i]!.f32_bits})` : `random input ${i - ne} (0x${bits[i]!.toString(16).padStart(8, '0')})`),
    x: new Float32Array(bits.buffer),
    f16: new Uint16Array(n),
    f16Back: new Uint32Array(n),
    bf16: new Uint16Array(n),
    bf16Back: new Uint32Array(n),
    isNan: new Uint8Array(n),
  };
  edge.forEach((e, i) => {
    bits[i] = hex(e.f32_bits);
    out.f16[i] = hex(e.f16_bits);
    out.f16Back[i] = hex(e.f16_back_to_f32_bits);
    out.bf16[i] = hex(e.bf16_bits);
    out.bf16Back[i] = hex(e.bf16_back_to_f32_bits);
    out.isNan[i] = e.is_nan ? 1 : 0;
  });
  bits.set(rx, ne);
  out.f16.set(t.to_f16!.data() as Uint16Array, ne);
  out.f16Back.set(u32(t.f16_to_f32!), ne);
  out.bf16.set(t.to_bf16!.data() as Uint16Array, ne);
  out.bf16Back.set(u32(t.bf16_to_f32!), ne);
  out.isNan.set(Uint8Array.from(t.is_nan!.data() as Int32Array), ne);
  return out;
}
