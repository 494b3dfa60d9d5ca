// Fused AdamW update throughput: kernels().adam on one flat 50 M-parameter buffer (p, g, m,
// v allocated and touched once, reused for every step), in G params/s and effective GB/s at
// 28 bytes per parameter (read p, g, m, v; write p, m, v). Also the same update through
// optim.AdamW.step() on one 50 M-element Parameter, which adds whatever the optimizer does
// around the kernel (state lookup, views, allocations).
import { fromFloat32Array, kernels, nn, optim, type Kernels } from '@ds/core';
import { HARDWARE } from './baselines.js';
import { fillRandom, median, round, timeCalls } from './gemm.js';
import { note, type BenchRecord } from './report.js';

export const ADAM_PARAMS = 50_000_000;
export const ADAM_BYTES_PER_PARAM = 28;

const HP = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 } as const;

export interface AdamOptions {
  params?: number;
  warmup?: number;
  maxReps?: number;
  budgetMs?: number;
  kernels?: Kernels;
  context?: Record<string, unknown>;
}

function records(name: string, n: number, times: number[], warmupMs: number[], threads: number, context: Record<string, unknown>): BenchRecord[] {
  const best = Math.min(...times);
  const med = median(times);
  const gparams = n / (best * 1e-3) / 1e9;
  const ctx = {
    params: n,
    threads,
    reps: times.length,
    warmup: warmupMs.length,
    firstWarmupMs: warmupMs.length ? round(warmupMs[0]!) : null,
    bestMs: round(best),
    medianMs: round(med),
    gparamsMedian: round(n / (med * 1e-3) / 1e9, 4),
    bytesPerParam: ADAM_BYTES_PER_PARAM,
    ...context,
  };
  const triad = HARDWARE.streamTriadGBs[threads >= 2 ? 2 : 1];
  return [
    { suite: 'adam', name, value: gparams, unit: 'Gparam/s', context: ctx },
    {
      suite: 'adam', name: `${name}_bandwidth`, value: gparams * ADAM_BYTES_PER_PARAM, unit: 'GB/s',
      context: { ...ctx, baseline: null, note: `${(gparams * ADAM_BYTES_PER_PARAM / triad).toFixed(2)}x the STREAM triad of baselines.md (${triad} GB/s, ${threads >= 2 ? 2 : 1} thread${threads >= 2 ? 's' : ''})` },
    },
  ];
}

/** kernels().adam (AdamW mode) on one flat buffer: best of N steps after warm-up. */
export function measureAdamKernel(opts: AdamOptions = {}): BenchRecord[] {
  const k = opts.kernels ?? kernels();
  const n = opts.params ?? ADAM_PARAMS;
  const p = new Float32Array(n);
  const g = new Float32Array(n);
  const m = new Float32Array(n);
  const v = new Float32Array(n);
  fillRandom(p, 3);
  fillRandom(g, 4);
  m.fill(0);
  v.fill(0);
  let step = 0;
  const call = (): void => {
    step++;
    const bc1 = 1 - HP.beta1 ** step;
    const bc2Sqrt = Math.sqrt(1 - HP.beta2 ** step);
    k.adam(p, g, m, v, HP.lr, HP.beta1, HP.beta2, HP.eps, HP.weightDecay, 1, bc1, bc2Sqrt);
  };
  const { times, warmupMs } = timeCalls(call, opts.warmup ?? 2, opts.maxReps ?? 20, opts.budgetMs ?? 3000);
  return records('adamw_50M', n, times, warmupMs, k.getNumThreads(), { kernels: k.name, path: 'kernels().adam', ...opts.context });
}

/** optim.AdamW.step() on one flat Parameter with a fixed gradient (zeroGrad not called). */
export function measureAdamOptimizer(opts: AdamOptions = {}): BenchRecord[] {
  const k = kernels();
  const n = opts.params ?? ADAM_PARAMS;
  const pdata = new Float32Array(n);
  const gdata = new Float32Array(n);
  fillRandom(pdata, 3);
  fillRandom(gdata, 4);
  const param = new nn.Parameter(fromFloat32Array(pdata, [n]));
  param.grad = fromFloat32Array(gdata, [n]);
  const opt = new optim.AdamW([param], { lr: HP.lr, betas: [HP.beta1, HP.beta2], eps: HP.eps, weightDecay: HP.weightDecay });
  const { times, warmupMs } = timeCalls(() => opt.step(), opts.warmup ?? 2, opts.maxReps ?? 20, opts.budgetMs ?? 3000);
  const out = records('adamw_optim_50M', n, times, warmupMs, k.getNumThreads(), {
    kernels: k.name, path: 'optim.AdamW.step()', baseline: 'adamw_50M', ...opts.context,
  });
  return out;
}

export interface AdamSuiteOptions {
  quick: boolean;
  context: Record<string, unknown>;
  onRecord: (r: BenchRecord) => void;
}

export function runAdamSuite(o: AdamSuiteOptions): void {
  const budgetMs = o.quick ? 2000 : 5000;
  const maxReps = o.quick ? 8 : 20;
  note(`adam: fused AdamW kernel on ${ADAM_PARAMS / 1e6} M params (${kernels().name} kernels)`);
  for (const r of measureAdamKernel({ budgetMs, maxReps, context: { env: o.context } })) o.onRecord(r);
  note('adam: optim.AdamW.step() on one Parameter of the same size');
  for (const r of measureAdamOptimizer({ budgetMs, maxReps, context: { env: o.context } })) o.onRecord(r);
}
