// The progress line, Python float formatting, MFU and the CPU peak-flops estimate.
import { describe, expect, it } from 'vitest';
import { cpuPeakFlops, cpuPeakFlopsEstimate, formatProgress, mfu, pyFloat, transformerFlopsPerToken } from '../src/monitor/index.js';

describe('pyFloat (Python repr of floats)', () => {
  it('matches repr() across the fixed/exponent boundaries', () => {
    const cases: [number, string][] = [
      [0.001, '0.001'], [1e-4, '0.0001'], [1e-5, '1e-05'], [1.5e-7, '1.5e-07'], [-2.5e-5, '-2.5e-05'], [1, '1.0'], [65536, '65536.0'],
      [123.456, '123.456'], [0.1 + 0.2, '0.30000000000000004'], [1e15, '1000000000000000.0'], [1e16, '1e+16'], [12345678901234567, '1.2345678901234568e+16'],
      [1e22, '1e+22'], [1.5e300, '1.5e+300'], [5e-324, '5e-324'], [0, '0.0'], [-0, '-0.0'], [Number.NaN, 'nan'], [-Infinity, '-inf'],
    ];
    for (const [x, want] of cases) expect(pyFloat(x), String(x)).toBe(want);
  });
});

describe('formatProgress', () => {
  it("starts with DeepSpeed's step/skipped/lr/mom fields in Python list syntax", () => {
    expect(formatProgress({ step: 10, skipped: 1, lr: [0.001, 1e-5], mom: [[0.9, 0.999], [0.85, 0.99]] })).toBe(
      'step=10, skipped=1, lr=[0.001, 1e-05], mom=[(0.9, 0.999), (0.85, 0.99)]',
    );
    expect(formatProgress({ step: 3, skipped: 0, lr: [0.1], mom: [0.9] })).toBe('step=3, skipped=0, lr=[0.1], mom=[0.9]');
    expect(formatProgress({ step: 3, skipped: 0, lr: [] })).toBe('step=3, skipped=0, lr=[]');
  });

  it('appends the ds fields that are given, in a fixed order', () => {
    expect(formatProgress({
      step: 100, skipped: 2, lr: [3e-4], loss: 2.345678, lossScale: 65536, samplesPerSec: 123.456, tokensPerSec: 63209.44, mfu: 0.41234, rssBytes: 1.5 * 2 ** 30,
    })).toBe('step=100, skipped=2, lr=[0.0003], loss=2.3457, loss_scale=65536, samples/s=123.46, tokens/s=63209.4, mfu=41.23%, rss=1.50GB');
    expect(formatProgress({ step: 1, skipped: 0, lr: [1], loss: Number.NaN, lossScale: 0.5, samplesPerSec: null, mfu: undefined })).toBe(
      'step=1, skipped=0, lr=[1.0], loss=nan, loss_scale=0.5',
    );
  });
});

describe('mfu and transformer flops', () => {
  it('mfu = flops / seconds / peak', () => {
    expect(mfu(3e12, 2, 3e12)).toBe(0.5);
    expect(mfu(0, 1, 1e9)).toBe(0);
    expect(() => mfu(1e9, 0, 1e12)).toThrow(/mfu: seconds must be a positive finite number, got 0/);
    expect(() => mfu(1e9, 1, Number.NaN)).toThrow(/mfu: peakFlops must be a positive finite number, got NaN/);
    expect(() => mfu(-1, 1, 1)).toThrow(/mfu: flopsPerStep must be a non-negative finite number, got -1/);
  });

  it('6N + 12·L·T·H', () => {
    // GPT-2 small without embeddings: N 85M, 12 layers, T 1024, H 768.
    expect(transformerFlopsPerToken(85e6, 12, 1024, 768)).toBe(510_000_000 + 113_246_208);
    expect(transformerFlopsPerToken(1000, 0, 64, 64)).toBe(6000);
    expect(() => transformerFlopsPerToken(1, 1, -1, 1)).toThrow(/transformerFlopsPerToken: seqLen must be a non-negative finite number, got -1/);
  });
});

/** Two cores with two hyperthreads each. */
function cpuinfo(flags: string, model: string, mhz: string[] = ['1200.000', '3400.000', '1000.000', '800.000'], vendor = 'GenuineIntel\ncpu family\t: 6'): string {
  return [0, 1, 2, 3].map((i) => [
    `processor\t: ${i}`, `vendor_id\t: ${vendor}`, `model name\t: ${model}`, `cpu MHz\t\t: ${mhz[i]}`,
    'physical id\t: 0', `core id\t\t: ${i % 2}`, 'cpu cores\t: 2', `flags\t\t: ${flags}`,
  ].join('\n')).join('\n\n');
}

describe('cpuPeakFlops', () => {
  it('AVX-512: physical cores x nominal GHz x 64 fp32 flops/cycle (16 lanes x FMA x 2 units)', () => {
    const est = cpuPeakFlopsEstimate({ env: {}, cpuinfo: cpuinfo('fpu sse2 avx avx2 fma avx512f avx512bw', 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz'), availableCores: 16 });
    expect(est).toEqual({ flops: 2 * 2.1e9 * 64, source: 'cpuinfo', cores: 2, ghz: 2.1, isa: 'avx512', flopsPerCycle: 64 });
  });

  it('Zen 4 (AMD family 25) runs AVX-512 FMAs at half width: 32 flops/cycle; Zen 5 (family 26) gets 64', () => {
    const zen4 = cpuPeakFlopsEstimate({ env: {}, cpuinfo: cpuinfo('sse2 avx avx2 fma avx512f avx512_bf16', 'AMD EPYC', undefined, 'AuthenticAMD\ncpu family\t: 25'), availableCores: 2 });
    expect([zen4.isa, zen4.flopsPerCycle, zen4.flops]).toEqual(['avx512', 32, 2 * 3.4e9 * 32]);
    const zen5 = cpuPeakFlopsEstimate({ env: {}, cpuinfo: cpuinfo('sse2 avx avx2 fma avx512f', 'AMD EPYC', undefined, 'AuthenticAMD\ncpu family\t: 26'), availableCores: 2 });
    expect(zen5.flopsPerCycle).toBe(64);
  });

  it('AVX2+FMA without a clock in the model name uses the highest cpu MHz; cores are capped by what the process may use', () => {
    const est = cpuPeakFlopsEstimate({ env: {}, cpuinfo: cpuinfo('sse2 avx avx2 fma', 'AMD EPYC 7B12'), availableCores: 1 });
    expect([est.isa, est.flopsPerCycle, est.cores, est.ghz, est.flops]).toEqual(['avx2+fma', 32, 1, 3.4, 1 * 3.4 * 1e9 * 32]);
    expect(cpuPeakFlopsEstimate({ env: {}, cpuinfo: cpuinfo('sse2 avx', 'x @ 3.00GHz'), availableCores: 8 }).flopsPerCycle).toBe(16);
  });

  it('Arm cpuinfo (Features, no clock) falls back to the given MHz', () => {
    const arm = [0, 1, 2].map((i) => `processor\t: ${i}\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes crc32\nCPU implementer\t: 0x41`).join('\n\n');
    expect(cpuPeakFlopsEstimate({ env: {}, cpuinfo: arm, availableCores: 64, fallbackMhz: 2000 })).toMatchObject({ isa: 'neon', cores: 3, ghz: 2, flops: 3 * 2e9 * 16 });
    expect(() => cpuPeakFlops({ env: {}, cpuinfo: arm, availableCores: 64, fallbackMhz: 0 })).toThrow(/cannot tell the CPU clock.*set DS_PEAK_FLOPS/);
  });

  it('DS_PEAK_FLOPS overrides the estimate and is checked', () => {
    expect(cpuPeakFlops({ env: { DS_PEAK_FLOPS: '2.5e12' }, cpuinfo: '' })).toBe(2.5e12);
    expect(() => cpuPeakFlops({ env: { DS_PEAK_FLOPS: 'fast' } })).toThrow(/DS_PEAK_FLOPS must be a positive number of flop\/s \(e.g. 2.5e12\), got 'fast'/);
  });

  it('gives a positive estimate for this machine', () => {
    const est = cpuPeakFlopsEstimate({ env: {}, fallbackMhz: 1000 });
    expect(est.flops).toBeGreaterThan(0);
    expect(est.flops).toBe(est.cores * est.ghz * 1e9 * est.flopsPerCycle);
  });
});
