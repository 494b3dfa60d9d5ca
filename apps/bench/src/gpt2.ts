// GPT-2 training throughput at the 'small' and 'medium' sizes of baselines.md: a full step is
// forward + loss + backward + AdamW step + zeroGrad on random token ids from a seeded
// Generator. Warm-up steps are excluded; the median step time gives tokens/s.
//
// Each size runs in its own child process (this same script with the hidden --gpt2-child flag)
// so its peak RSS is its own; the child prints its JSON records on stdout and the parent passes
// them on. Peak RSS is the kernel's high-water mark of this address space (VmHWM): getrusage's
// maxRSS would also carry the parent's peak across fork+exec.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Generator, kernels, optim, randint, setNumThreads, type Tensor } from '@ds/core';
import { GPT2LMHeadModel } from '@ds/models';
import { GPT2_SIZES, type Gpt2Size } from './baselines.js';
import { runPytorchGpt2 } from './pytorch.js';
import { collectEnv, envSummary } from './env.js';
import { median, round } from './gemm.js';
import { emit, isBenchRecord, note, type BenchRecord } from './report.js';

export const GPT2_CHILD_FLAG = '--gpt2-child';

export interface Gpt2RunOptions {
  quick: boolean;
  threads?: number;
  /** Timed steps (default: small 10 / medium 6; --quick: 4 / 3). */
  steps?: number;
  /** Warm-up steps, excluded (default 2; --quick 1). */
  warmup?: number;
  /** After this many ms of timed steps, stop once 3 steps are done (default 120 s; --quick 45 s). */
  budgetMs?: number;
}

export function gpt2Sizes(quick: boolean): Gpt2Size[] {
  return quick ? ['small'] : ['small', 'medium'];
}

export function gpt2Config(size: Gpt2Size) {
  const s = GPT2_SIZES[size];
  return {
    vocab_size: s.vocab_size,
    n_positions: s.seq,
    n_embd: s.n_embd,
    n_layer: s.n_layer,
    n_head: s.n_head,
    activation_function: 'gelu_new' as const,
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
  };
}

const gib = (kib: number): number => kib / (1024 * 1024);

/** The child side: build the model, run the steps, print the records. */
export function runGpt2Child(size: Gpt2Size, o: Gpt2RunOptions): BenchRecord[] {
  if (o.threads !== undefined) setNumThreads(o.threads);
  const env = collectEnv();
  const s = GPT2_SIZES[size];
  const warmup = o.warmup ?? (o.quick ? 1 : 2);
  const maxSteps = o.steps ?? (o.quick ? (size === 'small' ? 4 : 3) : size === 'small' ? 10 : 6);
  const budgetMs = o.budgetMs ?? (o.quick ? 45_000 : 120_000);
  const minSteps = Math.min(3, maxSteps);

  const rssStart = peakRssKiB();
  const model = new GPT2LMHeadModel(gpt2Config(size), { seed: 0 });
  const nParams = model.numParameters();
  const opt = new optim.AdamW(model.parameters(), { lr: 1e-4 });
  const gen = new Generator(1234);
  const batches: { ids: Tensor; targets: Tensor }[] = [];
  for (let i = 0; i < Math.min(4, warmup + maxSteps); i++) {
    batches.push({
      ids: randint(0, s.vocab_size, [s.batch, s.seq], { generator: gen, dtype: 'int64' }),
      targets: randint(0, s.vocab_size, [s.batch, s.seq], { generator: gen, dtype: 'int64' }),
    });
  }
  const rssInit = peakRssKiB();
  note(`gpt2 ${size}: ${(nParams / 1e6).toFixed(2)} M params, batch ${s.batch} x seq ${s.seq}, ${kernels().name} kernels, ${kernels().getNumThreads()} thread(s); ${warmup} warm-up + up to ${maxSteps} steps`);

  const phases = { fwd: [] as number[], bwd: [] as number[], opt: [] as number[], zero: [] as number[], total: [] as number[], faults: [] as number[] };
  const losses: number[] = [];
  let timedMs = 0;
  for (let i = 0; ; i++) {
    const timed = i >= warmup;
    const done = i - warmup;
    if (timed && (done >= maxSteps || (done >= minSteps && timedMs >= budgetMs))) break;
    const { ids, targets } = batches[i % batches.length]!;
    const faults0 = process.resourceUsage().minorPageFault;
    const t0 = performance.now();
    const loss = model.loss(ids, targets);
    const t1 = performance.now();
    loss.backward();
    const t2 = performance.now();
    opt.step();
    const t3 = performance.now();
    opt.zeroGrad();
    const t4 = performance.now();
    const faults = process.resourceUsage().minorPageFault - faults0;
    losses.push(loss.item());
    note(`gpt2 ${size}: ${timed ? 'step' : 'warm-up'} ${timed ? done + 1 : i + 1}: ${(t4 - t0).toFixed(0)} ms (forward+loss ${(t1 - t0).toFixed(0)}, backward ${(t2 - t1).toFixed(0)}, AdamW ${(t3 - t2).toFixed(0)}, zeroGrad ${(t4 - t3).toFixed(0)}), ${faults} page faults, loss ${losses.at(-1)!.toFixed(4)}`);
    if (timed) {
      phases.fwd.push(t1 - t0);
      phases.bwd.push(t2 - t1);
      phases.opt.push(t3 - t2);
      phases.zero.push(t4 - t3);
      phases.total.push(t4 - t0);
      phases.faults.push(faults);
      timedMs += t4 - t0;
    }
  }
  const usage = process.resourceUsage();
  const stepMs = median(phases.total);
  const tokens = s.batch * s.seq;
  const context = {
    size,
    config: gpt2Config(size),
    params: nParams,
    batch: s.batch,
    seq: s.seq,
    tokensPerStep: tokens,
    kernels: kernels().name,
    threads: kernels().getNumThreads(),
    warmup,
    steps: phases.total.length,
    stepMs: phases.total.map((x) => round(x, 1)),
    medianMs: {
      step: round(stepMs, 1),
      forwardLoss: round(median(phases.fwd), 1),
      backward: round(median(phases.bwd), 1),
      adamw: round(median(phases.opt), 1),
      zeroGrad: round(median(phases.zero), 1),
    },
    lossFirst: round(losses[0]!, 4),
    lossLast: round(losses.at(-1)!, 4),
    rssGiB: { start: round(gib(rssStart)), afterInit: round(gib(rssInit)), peak: round(gib(peakRssKiB())) },
    pageFaults: { minor: usage.minorPageFault, major: usage.majorPageFault, minorPerStepMedian: median(phases.faults) },
    env: envSummary(env),
  };
  const records: BenchRecord[] = [
    { suite: 'gpt2', name: `${size}_tokens_per_s`, value: tokens / (stepMs * 1e-3), unit: 'tokens/s', context },
    { suite: 'gpt2', name: `${size}_step_ms`, value: stepMs, unit: 'ms', context: { size, steps: phases.total.length, medianMs: context.medianMs, note: 'median full step' } },
    { suite: 'gpt2', name: `${size}_peak_rss`, value: gib(peakRssKiB()), unit: 'GiB', context: { size, rssGiB: context.rssGiB, note: 'this child process only' } },
  ];
  for (const r of records) emit(r);
  return records;
}

/** The parent side: one child process per size; returns the records the children printed. */
export function runGpt2Suite(o: Gpt2RunOptions & { onRecord: (r: BenchRecord) => void; script?: string; pytorch?: boolean }): void {
  // The entry script (dist/index.js, or src/index.ts under a TypeScript loader, whose flags
  // are in execArgv): the child re-runs the CLI with the hidden flag.
  const script = o.script ?? process.argv[1] ?? fileURLToPath(import.meta.url);
  for (const size of gpt2Sizes(o.quick)) {
    const args = [...process.execArgv, script, GPT2_CHILD_FLAG, size];
    if (o.quick) args.push('--quick');
    if (o.threads !== undefined) args.push('--threads', String(o.threads));
    if (o.steps !== undefined) args.push('--steps', String(o.steps));
    if (o.warmup !== undefined) args.push('--warmup', String(o.warmup));
    const child = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env: process.env, maxBuffer: 64 << 20 });
    if (child.error) throw child.error;
    let got = 0;
    let ours: number | null = null;
    for (const line of child.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      if (isBenchRecord(parsed)) {
        o.onRecord(parsed);
        if (parsed.name === `${size}_tokens_per_s`) ours = parsed.value;
        got++;
      }
    }
    if (child.status !== 0 || got === 0) {
      throw new Error(`gpt2 ${size}: the child process exited with ${child.status ?? child.signal} and ${got} record(s)`);
    }
    if (o.pytorch) runPytorchGpt2(size, ours, o);
  }
}

/** High-water mark of resident memory in KiB (VmHWM), falling back to getrusage off Linux. */
function peakRssKiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}
