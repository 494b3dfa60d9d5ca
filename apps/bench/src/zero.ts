// ZeRO through @ds/engine: GPT-2 'small' at 2 ranks (processes over Gloo, one kernel thread
// each), fp32 AdamW, stages 0-3 and stage 2 with offload_optimizer cpu: median step time, peak
// RSS per rank (VmHWM) and the model-state bytes memoryReport measures. Then the fused CPU Adam
// that offload steps with (DeepSpeedCPUAdam's math) on 50 M parameters at 1 and 2 threads, set
// beside the STREAM triad and PyTorch's Adam (baselines.md).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { destroyProcessGroup, initDistributed } from '@ds/comm';
import { fromFloat32Array, Generator, kernels, nn, randint, setNumThreads, type Tensor } from '@ds/core';
import { initialize } from '@ds/engine';
import { GPT2LMHeadModel } from '@ds/models';
import { cpuAdam, memoryReport, stage3Runtime } from '@ds/zero';
import { ADAM_BYTES_PER_PARAM, ADAM_PARAMS } from './adam.js';
import { BASELINES, GPT2_SIZES, HARDWARE } from './baselines.js';
import { fillRandom, median, round, timeCalls } from './gemm.js';
import { freePort } from './engine.js';
import { gpt2Config } from './gpt2.js';
import { note, type BenchRecord } from './report.js';
import { rankProcessArgs } from './env.js';

export const ZERO_RANK_FLAG = '--zero-rank';

interface ZeroRankSpec {
  stage: 0 | 1 | 2 | 3;
  offload: boolean;
  steps: number;
  warmup: number;
}

const CONFIGS: { stage: 0 | 1 | 2 | 3; offload: boolean }[] = [
  { stage: 0, offload: false },
  { stage: 1, offload: false },
  { stage: 2, offload: false },
  { stage: 3, offload: false },
  { stage: 2, offload: true },
];

const label = (c: { stage: number; offload: boolean }) => `stage${c.stage}${c.offload ? '_offload_cpu' : ''}`;

/** Peak resident set of this process in bytes (Linux VmHWM), or null where /proc is missing. */
function peakRssBytes(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** One rank of one configuration (the hidden --zero-rank flag); prints one JSON line of its figures. */
export async function runZeroRank(spec: ZeroRankSpec): Promise<void> {
  const world = await initDistributed();
  const s = GPT2_SIZES.small;
  const model = new GPT2LMHeadModel(gpt2Config('small'), { seed: 0 });
  const zero = spec.stage === 0 ? {} : {
    zero_optimization: { stage: spec.stage, ...(spec.offload ? { offload_optimizer: { device: 'cpu' } } : {}) },
  };
  const config = {
    train_micro_batch_size_per_gpu: s.batch,
    gradient_accumulation_steps: 1,
    optimizer: { type: 'AdamW', params: { lr: 1e-4 } },
    ...zero,
  };
  const { engine } = await initialize({ model, config, log: () => {} });
  const gen = new Generator(99 + world.rank);
  const data = Array.from({ length: 4 }, () => ({
    ids: randint(0, s.vocab_size, [s.batch, s.seq], { generator: gen, dtype: 'int64' }),
    targets: randint(0, s.vocab_size, [s.batch, s.seq], { generator: gen, dtype: 'int64' }),
  }));
  const stepMs: number[] = [];
  let loss = 0;
  for (let i = 0; i < spec.warmup + spec.steps; i++) {
    const { ids, targets } = data[i % data.length]!;
    const t0 = performance.now();
    const l = model.loss(ids, targets);
    engine.backward(l);
    await engine.step();
    if (i >= spec.warmup) stepMs.push(performance.now() - t0);
    loss = l.item();
  }
  const mem = memoryReport(engine.parts);
  const mode = stage3Runtime(engine.parts)?.mode ?? null;
  await engine.close();
  const out = {
    rank: world.rank, stepMs, loss, peakRss: peakRssBytes(), mode, threads: kernels().getNumThreads(),
    modelStates: { parameters: mem.parameters, gradients: mem.gradients, optimizer: mem.optimizer, buffers: mem.buffers },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  await destroyProcessGroup();
}

type RankResult = Awaited<ReturnType<typeof parseRank>>;

function parseRank(line: string) {
  return JSON.parse(line) as {
    rank: number; stepMs: number[]; loss: number; peakRss: number | null; mode: string | null; threads: number;
    modelStates: { parameters: number; gradients: number; optimizer: number; buffers: number };
  };
}


async function runRanks(script: string, ranks: number, spec: ZeroRankSpec): Promise<RankResult[]> {
  const port = await freePort();
  return Promise.all(
    Array.from({ length: ranks }, (_, rank) =>
      new Promise<RankResult>((resolve, reject) => {
        const env = {
          ...process.env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(ranks), LOCAL_WORLD_SIZE: String(ranks),
          MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), DS_BACKEND: 'gloo', DS_NUM_THREADS: '1',
        };
        const child = spawn(process.execPath, [...rankProcessArgs(ranks), script, ZERO_RANK_FLAG, JSON.stringify(spec)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => {
          const line = out.split('\n').find((l) => l.startsWith('{"rank"'));
          if (code === 0 && line) resolve(parseRank(line));
          else reject(new Error(`zero bench ${label(spec)} rank ${rank} exited with ${code}${line ? '' : ' without its figures'}`));
        });
      }),
    ),
  );
}

const GIB = 2 ** 30;

function stepRecords(spec: ZeroRankSpec, results: RankResult[]): BenchRecord[] {
  const s = GPT2_SIZES.small;
  const name = `small_dp2_fp32_${label(spec)}`;
  const stepMedian = median(results[0]!.stepMs);
  const shared = {
    size: 'small', ranks: results.length, threadsPerRank: results[0]!.threads, dtype: 'fp32', optimizer: 'AdamW', stage: spec.stage,
    offloadOptimizer: spec.offload ? 'cpu' : 'none', backend: 'gloo processes', microBatch: s.batch, seq: s.seq,
    ...(spec.stage === 3 ? { stage3Mode: results[0]!.mode } : {}),
    ...(results[0]!.mode === 'gathered' ? { note: 'the backend cannot finish a collective inside a module hook: parameters stay gathered between steps' } : {}),
  };
  return [
    {
      suite: 'zero', name: `${name}_step_ms`, value: stepMedian, unit: 'ms',
      context: { ...shared, steps: results[0]!.stepMs.length, stepMs: results[0]!.stepMs.map((x) => round(x, 1)), lossLast: round(results[0]!.loss, 4) },
    },
    {
      suite: 'zero', name: `${name}_peak_rss`, value: Math.max(...results.map((r) => r.peakRss ?? 0)) / GIB, unit: 'GiB',
      context: {
        ...shared, what: 'VmHWM, the largest of the ranks',
        peakRssGiBPerRank: results.map((r) => (r.peakRss === null ? null : round(r.peakRss / GIB, 3))),
        modelStateMiBRank0: Object.fromEntries(Object.entries(results[0]!.modelStates).map(([k, v]) => [k, round(v / 2 ** 20, 2)])),
      },
    },
  ];
}

/** The fused Adam that offload_optimizer cpu steps with (cpuAdam: DeepSpeedCPUAdam's defaults, AdamW mode). */
function measureCpuAdam(threads: number, budgetMs: number, maxReps: number): BenchRecord[] {
  setNumThreads(threads);
  const n = ADAM_PARAMS;
  const p = new Float32Array(n);
  const g = new Float32Array(n);
  fillRandom(p, 3);
  fillRandom(g, 4);
  const param = new nn.Parameter(fromFloat32Array(p, [n]));
  param.grad = fromFloat32Array(g, [n]) as Tensor;
  const opt = cpuAdam([param], { lr: 1e-3, weightDecay: 0.01 });
  const { times } = timeCalls(() => opt.step(), 2, maxReps, budgetMs);
  const best = Math.min(...times);
  const paramsPerS = n / (best * 1e-3);
  const gbs = (paramsPerS * ADAM_BYTES_PER_PARAM) / 1e9;
  const triad = HARDWARE.streamTriadGBs[threads >= 2 ? 2 : 1];
  const torch = BASELINES.filter((b) => b.suite === 'adam' && b.threads === threads && b.what.startsWith('torch.optim.Adam'))
    .map((b) => ({ env: b.env, what: b.what, mParamsPerS: round(b.value * 1e3, 1) }));
  const context = {
    params: n, threads: kernels().getNumThreads(), kernels: kernels().name, simd: kernels().simd(), path: 'cpuAdam(...).step()',
    reps: times.length, bestMs: round(best), medianMs: round(median(times)), bytesPerParam: ADAM_BYTES_PER_PARAM,
  };
  return [
    { suite: 'zero', name: `cpu_adam_50M_${threads}t_params_per_s`, value: paramsPerS, unit: 'params/s', context: { ...context, pytorchAdam: torch } },
    {
      suite: 'zero', name: `cpu_adam_50M_${threads}t_bandwidth`, value: gbs, unit: 'GB/s',
      context: { ...context, streamTriadGBs: triad, fractionOfTriad: round(gbs / triad, 3), note: 'read p, g, m, v; write p, m, v' },
    },
  ];
}

export async function runZeroSuite(o: { quick: boolean; script: string; onRecord: (r: BenchRecord) => void }): Promise<void> {
  const steps = o.quick ? 3 : 8;
  const warmup = 1;
  for (const c of CONFIGS) {
    note(`zero: GPT-2 small, 2 ranks x 1 thread, fp32, ${label(c)}`);
    const results = await runRanks(o.script, 2, { ...c, steps, warmup });
    for (const r of stepRecords({ ...c, steps, warmup }, results)) o.onRecord(r);
  }
  const before = kernels().getNumThreads();
  for (const threads of [1, 2]) {
    note(`zero: fused CPU Adam (offload's optimizer) on ${ADAM_PARAMS / 1e6} M params, ${threads} thread(s)`);
    for (const r of measureCpuAdam(threads, o.quick ? 2000 : 5000, o.quick ? 8 : 20)) o.onRecord(r);
  }
  setNumThreads(before);
}
