// Model flops utilisation: achieved training flop/s over the hardware's peak.
import { readFileSync } from 'node:fs';
import os from 'node:os';

function positive(fn: string, name: string, v: number, allowZero = false): void {
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new RangeError(`${fn}: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} finite number, got ${v}`);
  }
}

/** Fraction of `peakFlops` achieved by `flopsPerStep` flops in `seconds` (0.4 = 40%). */
export function mfu(flopsPerStep: number, seconds: number, peakFlops: number): number {
  positive('mfu', 'flopsPerStep', flopsPerStep, true);
  positive('mfu', 'seconds', seconds);
  positive('mfu', 'peakFlops', peakFlops);
  return flopsPerStep / seconds / peakFlops;
}

/**
 * Training flops per token of a decoder-only transformer: 6N + 12·L·T·H (PaLM, appendix B;
 * Megatron-LM's count without the logits term). Each parameter costs 2 flops (multiply +
 * add) forward and 4 backward, hence 6N; attention's QKᵀ and (softmax)·V matmuls have no
 * parameters and add 2·2·T·H per layer per token forward, times 3 for forward + backward.
 * N should exclude the embedding table if it is only gathered, not multiplied (untied).
 * Activation recomputation adds another forward and is not counted: this is *model* flops.
 */
export function transformerFlopsPerToken(nParams: number, nLayers: number, seqLen: number, hidden: number): number {
  positive('transformerFlopsPerToken', 'nParams', nParams, true);
  positive('transformerFlopsPerToken', 'nLayers', nLayers, true);
  positive('transformerFlopsPerToken', 'seqLen', seqLen, true);
  positive('transformerFlopsPerToken', 'hidden', hidden, true);
  return 6 * nParams + 12 * nLayers * seqLen * hidden;
}

export type CpuVectorIsa = 'avx512' | 'avx2+fma' | 'avx' | 'sse' | 'neon' | 'scalar';

export interface CpuPeakEstimate {
  /** fp32 flop/s. */
  flops: number;
  source: 'DS_PEAK_FLOPS' | 'cpuinfo';
  /** Cores counted: physical cores, capped by the CPUs this process may run on. */
  cores: number;
  ghz: number;
  isa: CpuVectorIsa;
  flopsPerCycle: number;
}

export interface CpuPeakOptions {
  /** Default process.env; `DS_PEAK_FLOPS` (flop/s, e.g. "2.5e12") overrides the estimate. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Contents of /proc/cpuinfo; default read from there ('' where it does not exist). */
  cpuinfo?: string;
  /** CPUs this process may use; default os.availableParallelism(). */
  availableCores?: number;
  /** Clock in MHz when cpuinfo has none; default the fastest of os.cpus(). */
  fallbackMhz?: number;
}

/**
 * fp32 flops per cycle per core: lanes x 2 (a fused multiply-add is two flops) x FMA units.
 * AVX-512 assumes two 512-bit FMA units (Xeon Gold 6xxx/Platinum, Ice Lake and later
 * server parts, Zen 5): 16 x 2 x 2 = 64. Zen 4 (double-pumped 256-bit units) is recognised and
 * gets 32; other parts with one unit (Xeon Silver/Bronze) reach half of 64, so their MFU reads
 * low by 2x; set DS_PEAK_FLOPS there. AVX2 with FMA: two 256-bit units (Haswell, Zen 2 and later),
 * 8 x 2 x 2 = 32. AVX without FMA: one 8-wide add and one 8-wide multiply per cycle, 16.
 * SSE: 8. Arm NEON: two 128-bit FMA pipes, 4 x 2 x 2 = 16.
 */
const FLOPS_PER_CYCLE: Record<CpuVectorIsa, number> = { avx512: 64, 'avx2+fma': 32, avx: 16, sse: 8, neon: 16, scalar: 2 };

function parseCpuinfo(text: string): Record<string, string>[] {
  return text
    .split(/\n\s*\n/)
    .map((block) => {
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const i = line.indexOf(':');
        if (i > 0) fields[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      return fields;
    })
    .filter((f) => Object.keys(f).length > 0);
}

function isaOf(flags: Set<string>): CpuVectorIsa {
  if (flags.has('avx512f')) return 'avx512';
  if (flags.has('avx2') && flags.has('fma')) return 'avx2+fma';
  if (flags.has('avx')) return 'avx';
  if (flags.has('sse2')) return 'sse';
  if (flags.has('asimd') || flags.has('neon')) return 'neon';
  return 'scalar';
}

/** The estimate with its parts, for logging what the MFU is measured against. */
export function cpuPeakFlopsEstimate(opts: CpuPeakOptions = {}): CpuPeakEstimate {
  const env = opts.env ?? process.env;
  const override = env.DS_PEAK_FLOPS;
  if (override !== undefined && override.trim() !== '') {
    const flops = Number(override);
    if (!Number.isFinite(flops) || flops <= 0) throw new RangeError(`DS_PEAK_FLOPS must be a positive number of flop/s (e.g. 2.5e12), got '${override}'`);
    return { flops, source: 'DS_PEAK_FLOPS', cores: 0, ghz: 0, isa: 'scalar', flopsPerCycle: 0 };
  }
  let text = opts.cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      text = '';
    }
  }
  const blocks = parseCpuinfo(text).filter((b) => 'processor' in b);
  const first = blocks[0] ?? {};
  const isa = isaOf(new Set(`${first.flags ?? ''} ${first.Features ?? ''}`.split(/\s+/).filter(Boolean)));

  // Hyperthreads share their core's FMA units, so count physical cores.
  const physical = new Set(blocks.filter((b) => b['core id'] !== undefined).map((b) => `${b['physical id'] ?? 0}:${b['core id']}`));
  const logical = blocks.length > 0 ? blocks.length : os.cpus().length;
  const available = opts.availableCores ?? os.availableParallelism();
  const cores = Math.max(1, Math.min(physical.size > 0 ? physical.size : logical, available));

  // The nominal clock in the model name beats "cpu MHz", which is whatever the core ran at just now.
  const nominal = /@\s*([\d.]+)\s*GHz/i.exec(first['model name'] ?? '');
  const mhzValues = blocks.map((b) => Number(b['cpu MHz'])).filter((x) => Number.isFinite(x) && x > 0);
  const fallback = opts.fallbackMhz ?? Math.max(0, ...os.cpus().map((c) => c.speed));
  const ghz = nominal ? Number(nominal[1]) : mhzValues.length > 0 ? Math.max(...mhzValues) / 1000 : fallback / 1000;
  if (!(ghz > 0)) throw new Error('cpuPeakFlops: cannot tell the CPU clock from /proc/cpuinfo or os.cpus(); set DS_PEAK_FLOPS to the peak fp32 flop/s');

  // Zen 4 (AMD family 25 with AVX-512) runs a 512-bit FMA as two halves on its 256-bit units:
  // one per cycle, 32 flops (its sgemm peaks at ~32 x clock). Zen 5 (family 26) has full-width units.
  const zen4 = isa === 'avx512' && first.vendor_id === 'AuthenticAMD' && Number(first['cpu family']) === 25;
  const flopsPerCycle = zen4 ? 32 : FLOPS_PER_CYCLE[isa];
  return { flops: cores * ghz * 1e9 * flopsPerCycle, source: 'cpuinfo', cores, ghz, isa, flopsPerCycle };
}

/** Peak fp32 flop/s of this machine's CPUs (cores x GHz x flops/cycle), or DS_PEAK_FLOPS when set. */
export function cpuPeakFlops(opts: CpuPeakOptions = {}): number {
  return cpuPeakFlopsEstimate(opts).flops;
}
