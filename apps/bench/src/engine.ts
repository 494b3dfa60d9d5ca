// Data-parallel GPT-2 training through @ds/engine, set beside PyTorch DDP (baselines.md):
// 'small' at 1 and 2 ranks (one kernel thread each; at 2 ranks both as processes over Gloo and
// as threads of one process on the in-process backend), fp32 and bf16, and the engine's own
// overhead (engine.backward/step against the bare optimizer loop). Each configuration runs in
// fresh processes; rank 0 prints the JSON records.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { destroyProcessGroup, initDistributed } from '@ds/comm';
import { Generator, kernels, optim, randint, type Tensor } from '@ds/core';
import { initialize } from '@ds/engine';
import { GPT2LMHeadModel } from '@ds/models';
import { GPT2_SIZES } from './baselines.js';
import { median, round } from './gemm.js';
import { gpt2Config } from './gpt2.js';
import { runPytorchDdp } from './pytorch.js';
import { emit, isBenchRecord, note, type BenchRecord } from './report.js';
import { rankProcessArgs } from './env.js';

export const ENGINE_RANK_FLAG = '--engine-rank';

interface RankSpec {
  dtype: 'fp32' | 'bf16';
  steps: number;
  warmup: number;
  /** Also time the bare optimizer loop, alternating with the engine (1 rank only). */
  overhead: boolean;
}

function batches(n: number): { ids: Tensor; targets: Tensor }[] {
  const s = GPT2_SIZES.small;
  const gen = new Generator(99);
  return Array.from({ length: n }, () => ({
    ids: randint(0, s.vocab_size, [s.batch, s.seq], { generator: gen, dtype: 'int64' }),
    targets: randint(0, s.vocab_size, [s.batch, s.seq], { generator: gen, dtype: 'int64' }),
  }));
}

/** One rank of one configuration (the hidden --engine-rank flag). */
export async function runEngineRank(spec: RankSpec): Promise<void> {
  const world = await initDistributed();
  const s = GPT2_SIZES.small;
  const model = new GPT2LMHeadModel(gpt2Config('small'), { seed: 0 });
  const config = {
    train_micro_batch_size_per_gpu: s.batch,
    gradient_accumulation_steps: 1,
    optimizer: { type: 'AdamW', params: { lr: 1e-4 } },
    bf16: { enabled: spec.dtype === 'bf16' },
  };
  const { engine } = await initialize({ model, config, log: () => {} });
  const data = batches(4);
  const engineMs: number[] = [];
  const phases = { forward: [] as number[], backward: [] as number[], step: [] as number[] };
  const bareMs: number[] = [];
  let bare: { model: GPT2LMHeadModel; opt: optim.Optimizer<object> } | null = null;
  if (spec.overhead) {
    const m = new GPT2LMHeadModel(gpt2Config('small'), { seed: 0 });
    bare = { model: m, opt: new optim.AdamW(m.parameters(), { lr: 1e-4 }) };
  }
  let loss = 0;
  for (let i = 0; i < spec.warmup + spec.steps; i++) {
    const { ids, targets } = data[i % data.length]!;
    const t0 = performance.now();
    const l = model.loss(ids, targets);
    const ta = performance.now();
    engine.backward(l);
    const tb = performance.now();
    await engine.step();
    const t1 = performance.now();
    loss = l.item();
    if (i >= spec.warmup) {
      engineMs.push(t1 - t0);
      phases.forward.push(ta - t0);
      phases.backward.push(tb - ta);
      phases.step.push(t1 - tb);
    }
    if (bare) {
      const t2 = performance.now();
      const lb = bare.model.loss(ids, targets);
      lb.backward();
      bare.opt.step();
      bare.opt.zeroGrad();
      const t3 = performance.now();
      if (i >= spec.warmup) bareMs.push(t3 - t2);
    }
  }
  await engine.close();
  if (world.rank === 0) {
    const stepMs = median(engineMs);
    const tokens = world.size * s.batch * s.seq;
    const context = {
      size: 'small', ranks: world.size, threadsPerRank: kernels().getNumThreads(), dtype: spec.dtype, backend: world.size > 1 ? `${world.backend} (${world.backend === 'inproc' ? 'threads of one process' : 'processes'})` : 'one process',
      microBatch: s.batch, seq: s.seq, tokensPerStep: tokens, steps: engineMs.length, stepMs: engineMs.map((x) => round(x, 1)), lossLast: round(loss, 4),
      medianMs: { forwardLoss: round(median(phases.forward), 1), backward: round(median(phases.backward), 1), reduceAndStep: round(median(phases.step), 1) },
      kernels: kernels().name, simd: kernels().simd(), blas: kernels().blasInfo(), nodeFlags: process.execArgv.join(' '),
    };
    emit({ suite: 'engine', name: recordName(world.size, world.backend, spec.dtype), value: tokens / (stepMs * 1e-3), unit: 'tokens/s', context });
    if (bare) {
      const b = median(bareMs);
      emit({
        suite: 'engine', name: 'small_engine_overhead', value: (stepMs / b - 1) * 100, unit: '%',
        context: { engineMedianMs: round(stepMs, 1), bareMedianMs: round(b, 1), note: 'engine.backward+step vs loss.backward+opt.step+zeroGrad, alternating, 1 rank fp32' },
      });
    }
  }
  await destroyProcessGroup();
}

/** A TCP port free right now on 127.0.0.1, for a run's rendezvous. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The throughput record's name: gloo (processes) keeps the plain name the baselines compare with. */
function recordName(ranks: number, backend: string, dtype: string): string {
  return `small_dp${ranks}${ranks > 1 && backend === 'inproc' ? '_inproc' : ''}_${dtype}_tokens_per_s`;
}

type Backend = 'gloo' | 'inproc';

/** One configuration: `ranks` gloo processes, or one process whose in-process backend runs `ranks` threads. */
async function runConfig(script: string, ranks: number, backend: Backend, spec: RankSpec, onRecord: (r: BenchRecord) => void): Promise<void> {
  const port = await freePort();
  const base = { ...process.env, DS_NUM_THREADS: '1' };
  const envs = backend === 'inproc'
    ? [{ ...base, DS_INPROC_WORLD_SIZE: String(ranks) }]
    : Array.from({ length: ranks }, (_, rank) => ({
        ...base, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(ranks), LOCAL_WORLD_SIZE: String(ranks),
        MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), DS_BACKEND: 'gloo',
      }));
  const outputs = await Promise.all(envs.map((env, i) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [...rankProcessArgs(ranks), script, ENGINE_RANK_FLAG, JSON.stringify(spec)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`engine bench ${backend} process ${i} exited with ${code}`))));
    })));
  for (const line of outputs[0]!.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as unknown;
    if (isBenchRecord(r)) onRecord(r);
  }
}

export async function runEngineSuite(o: { quick: boolean; pytorch: boolean; script: string; onRecord: (r: BenchRecord) => void }): Promise<void> {
  const steps = o.quick ? 4 : 10;
  // Our caching allocator settles over the first steps (their fresh pages fault); 3 covers it.
  const warmup = 3;
  for (const dtype of ['fp32', 'bf16'] as const) {
    for (const ranks of [1, 2]) {
      note(`engine: GPT-2 small, ${ranks} rank(s) x 1 thread, ${dtype}${ranks > 1 ? ', gloo processes' : ''}`);
      let ours: number | null = null;
      await runConfig(o.script, ranks, 'gloo', { dtype, steps, warmup, overhead: ranks === 1 && dtype === 'fp32' }, (r) => {
        if (r.name === recordName(ranks, 'gloo', dtype)) ours = r.value;
        o.onRecord(r);
      });
      if (o.pytorch && dtype === 'fp32') comparePytorch(ranks, ours, o);
      if (ranks > 1) {
        // ds's default on one machine: the ranks as threads sharing memory, gradients reduced in place
        note(`engine: GPT-2 small, ${ranks} ranks x 1 thread, ${dtype}, in-process backend`);
        await runConfig(o.script, ranks, 'inproc', { dtype, steps, warmup, overhead: false }, o.onRecord);
      }
    }
  }
}

/** PyTorch (DDP at 2 ranks) right after our run, with its GEMMs on 1 thread and as the library sizes them. */
function comparePytorch(ranks: number, ours: number | null, o: { quick: boolean; onRecord: (r: BenchRecord) => void }): void {
  for (const blas of ['one', 'library'] as const) {
    note(`engine: PyTorch ${ranks > 1 ? 'DDP ' : ''}GPT-2 small, ${ranks} process(es), OpenBLAS threads: ${blas === 'one' ? '1' : 'library default'}`);
    const res = runPytorchDdp(ranks, blas, o);
    if (!res) return;
    const context = {
      ranks, torch: res.torch, medianStepMs: round(res.medianStepMs, 1), intraOpThreads: 1,
      openblasThreads: blas === 'one' ? 1 : 'library default (every core: torch.set_num_threads does not cap it)',
    };
    const tag = blas === 'one' ? 'blas1' : 'blasdefault';
    o.onRecord({ suite: 'engine', name: `small_dp${ranks}_fp32_pytorch_${tag}_tokens_per_s`, value: res.tokensPerS, unit: 'tokens/s', context });
    if (ours !== null) {
      o.onRecord({ suite: 'engine', name: `small_dp${ranks}_fp32_ratio_vs_pytorch_${tag}`, value: ours / res.tokensPerS, unit: 'x',
        context: { ...context, ours: round(ours, 0), note: 'ds tokens/s over PyTorch tokens/s, measured one after the other in this run' } });
    }
  }
}
