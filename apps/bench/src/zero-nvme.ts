// ZeRO-Infinity on one machine: GPT-2-shaped models of growing size train one rank through
// @ds/engine with bf16 weights and `offload_optimizer: { device: "nvme" }`, so the fp32 masters
// and Adam moments (12 bytes per parameter) live in swap files. With --nvme-offload-param the
// run is ZeRO stage 3 with `offload_param: { device: "nvme" }` too: the model is built under
// zeroInit, each bf16 partition written to its swap file as it is made, so the model is never
// whole in memory, and the gradient partitions (all that stays in memory per parameter) are
// bf16 (`data_types.grad_accum_dtype`). Each size runs in a fresh process (its peak RSS is its
// own) and reports parameters, step times, peak RSS and the bytes the step read and wrote, with
// where resident memory went over the step (context.memory: RSS, V8 heap and array buffers at
// each phase and at the peak inside backward, in bytes per parameter too; exact live figures
// under node --expose-gc) and what memoryReport counts (context.zero_memory_gib); a size whose
// swap files would leave less than max(16 GiB, a fifth) of the free disk space is skipped and
// said so. The suite ends with the largest size that completed a step and its peak RSS.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initDistributed } from '@ds/comm';
import { Generator, randint, type Tensor } from '@ds/core';
import { initialize } from '@ds/engine';
import { GPT2LMHeadModel } from '@ds/models';
import { memoryReport, nvmeOffloadOf, stage3Runtime, zeroInit } from '@ds/zero';
import { round } from './gemm.js';
import { emit, isBenchRecord, note, type BenchRecord } from './report.js';

export const ZERO_NVME_CHILD_FLAG = '--zero-nvme-child';

/** GPT-2's own shapes (vocabulary 50257, 4x MLP, tied embeddings), smallest first. */
export const NVME_SIZES = {
  'gpt2-124m': { n_layer: 12, n_embd: 768, n_head: 12 },
  'gpt2-355m': { n_layer: 24, n_embd: 1024, n_head: 16 },
  'gpt2-774m': { n_layer: 36, n_embd: 1280, n_head: 20 },
  'gpt2-1.5b': { n_layer: 48, n_embd: 1600, n_head: 25 },
  // GPT-2's shape scaled past it (head size 80), toward and beyond 4 B parameters.
  'gpt2-2.7b': { n_layer: 32, n_embd: 2560, n_head: 32 },
  'gpt2-3.9b': { n_layer: 48, n_embd: 2560, n_head: 32 },
  'gpt2-4.2b': { n_layer: 52, n_embd: 2560, n_head: 32 },
} as const;
export type NvmeSize = keyof typeof NVME_SIZES;

const VOCAB = 50257;
const SEQ = 128;
const BATCH = 1;

interface ChildSpec {
  size: NvmeSize;
  nvmePath: string;
  steps: number;
  subGroupSize: number;
  bufferCount: number;
  /** ZeRO stage 3 with offload_param nvme (zeroInit construction) instead of stage 2. */
  offloadParam?: boolean;
}

/** Swap bytes per parameter: fp32 master and Adam moments (12), plus the bf16 partition with offload_param (2). */
export function swapBytesPerParam(offloadParam: boolean): number {
  return offloadParam ? 14 : 12;
}

/** Parameters of a GPT-2 shape: embeddings (tied head), per-layer attention, MLP and norms, final norm. */
export function gpt2ParamCount(size: NvmeSize): number {
  const { n_layer: l, n_embd: d } = NVME_SIZES[size];
  const perLayer = 4 * d * d + 4 * d + 8 * d * d + 5 * d + 4 * d;
  return VOCAB * d + SEQ * d + l * perLayer + 2 * d;
}

/** Resident memory at one point of the run, in bytes (memoryReport: what ZeRO says it holds). */
interface MemorySample {
  at: string;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  zeroReport?: number;
}

/**
 * Where resident memory goes over a step: RSS against V8's heap and the typed-array memory it
 * tracks outside the heap (nearly all tensor storage), sampled at the phase boundaries and, inside
 * backward (synchronous, so no timer can fire), every few parameter gradients.
 */
class MemoryTimeline {
  readonly samples: MemorySample[] = [];
  #peakBackward: MemorySample | null = null;

  sample(at: string, zeroReport?: number): MemorySample {
    // Under node --expose-gc the garbage is collected first, so the figures are what is live.
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    const s: MemorySample = { at, rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, ...(zeroReport === undefined ? {} : { zeroReport }) };
    this.samples.push(s);
    return s;
  }

  /** Sample inside backward without keeping every sample: only the one with the highest RSS. */
  sampleBackward(step: number): void {
    const m = process.memoryUsage();
    if (!this.#peakBackward || m.rss > this.#peakBackward.rss) {
      this.#peakBackward = { at: `step ${step} backward peak`, rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
    }
  }

  /** Close the step's backward: its peak sample joins the timeline. */
  endBackward(): void {
    if (this.#peakBackward) this.samples.push(this.#peakBackward);
    this.#peakBackward = null;
  }

  /** GiB (two decimals) and bytes per parameter of each sample, for the record's context. */
  summary(params: number): Record<string, unknown>[] {
    const gib = (b: number) => round(b / 2 ** 30, 2);
    return this.samples.map((s) => ({
      at: s.at, rss_gib: gib(s.rss), heap_gib: gib(s.heapUsed), external_gib: gib(s.external), array_buffers_gib: gib(s.arrayBuffers),
      ...(s.zeroReport === undefined ? {} : { zero_report_gib: gib(s.zeroReport) }),
      rss_bytes_per_param: round(s.rss / params, 2),
    }));
  }
}

/** One size in this process (the hidden --zero-nvme-child flag): prints JSON records on stdout. */
export async function runZeroNvmeChild(spec: ChildSpec): Promise<void> {
  const world = await initDistributed();
  const shape = NVME_SIZES[spec.size];
  const mem = new MemoryTimeline();
  mem.sample('start');
  const t0 = performance.now();
  const gptConfig = { vocab_size: VOCAB, n_positions: SEQ, ...shape, activation_function: 'gelu_new' as const, resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0 };
  // One buffer holds the largest partition (the tied embedding, one rank).
  const offloadParam = { device: 'nvme' as const, nvme_path: spec.nvmePath, buffer_count: 3, buffer_size: VOCAB * shape.n_embd };
  const model = spec.offloadParam
    ? await zeroInit(() => new GPT2LMHeadModel(gptConfig, { seed: 0 }), { group: world, offloadParam: { ...offloadParam, dtype: 'bfloat16' } })
    : new GPT2LMHeadModel(gptConfig, { seed: 0 });
  const config = {
    train_micro_batch_size_per_gpu: BATCH,
    gradient_accumulation_steps: 1,
    optimizer: { type: 'AdamW', params: { lr: 1e-4 } },
    bf16: { enabled: true },
    // Stage 3 keeps the gradient partitions in memory: in bf16 (DeepSpeed's default
    // gradient-accumulation dtype under ZeRO), 2 bytes per parameter instead of fp32's 4.
    ...(spec.offloadParam ? { data_types: { grad_accum_dtype: 'bf16' } } : {}),
    zero_optimization: {
      stage: spec.offloadParam ? 3 : 2,
      sub_group_size: spec.subGroupSize,
      offload_optimizer: { device: 'nvme', nvme_path: spec.nvmePath, buffer_count: spec.bufferCount },
      // Around them the gathered weights are kept few: prefetch stops at max_live_parameters and
      // a parameter is kept gathered for its next use only when that comes within
      // max_reuse_distance elements (DeepSpeed's 1e9 would keep ~2 GB of bf16 weights from forward into backward).
      ...(spec.offloadParam
        ? { offload_param: offloadParam, reduce_bucket_size: 50_000_000, max_live_parameters: 300_000_000, max_reuse_distance: 50_000_000 }
        : {}),
    },
  };
  mem.sample('model built');
  const { engine } = await initialize({ model, config, log: () => {} });
  mem.sample('engine initialized', memoryReport(engine.parts).total);
  const setupS = (performance.now() - t0) / 1000;
  const nvme = nvmeOffloadOf(engine.parts);
  if (!nvme) throw new Error('zero-nvme: the engine did not attach the NVMe optimizer');
  const paramSwap = spec.offloadParam ? stage3Runtime(engine.parts)?.paramSwap ?? null : null;
  if (spec.offloadParam && !paramSwap) throw new Error('zero-nvme: the engine did not put the parameters on NVMe');
  const swapStart = paramSwap ? { read: paramSwap.stats.bytesRead, written: paramSwap.stats.bytesWritten } : { read: 0, written: 0 };
  const gen = new Generator(7);
  const params = spec.offloadParam ? gpt2ParamCount(spec.size) : model.parameters().reduce((a, p) => a + p.numel, 0);
  const stepMs: number[] = [];
  const optMs: number[] = [];
  let loss = 0;
  let step = 0;
  let hooked = 0;
  const hooks = model.parameters().map((p) =>
    p.registerPostAccumulateGradHook(() => {
      if (++hooked % 4 === 0) mem.sampleBackward(step);
    }),
  );
  // Forward and backward in their own scope: nothing holds the loss, and through it the graph's
  // saved activations, while the optimizer steps.
  const forwardBackward = (ids: Tensor, targets: Tensor): number => {
    const l = model.loss(ids, targets);
    mem.sample(`step ${step} forward`);
    engine.backward(l);
    mem.endBackward();
    return l.item();
  };
  for (let i = 0; i < spec.steps; i++) {
    step = i + 1;
    const ids = randint(0, VOCAB, [BATCH, SEQ], { generator: gen, dtype: 'int64' });
    const targets = randint(0, VOCAB, [BATCH, SEQ], { generator: gen, dtype: 'int64' });
    const a = performance.now();
    loss = forwardBackward(ids, targets);
    mem.sample(`step ${step} backward`, memoryReport(engine.parts).total);
    const b = performance.now();
    await engine.step();
    const c = performance.now();
    mem.sample(`step ${step} optimizer`, memoryReport(engine.parts).total);
    stepMs.push(c - a);
    optMs.push(c - b);
  }
  for (const h of hooks) h.remove();
  const s = nvme.stats;
  const p = paramSwap?.stats ?? null;
  const paramRead = p ? p.bytesRead - swapStart.read : 0;
  const paramWritten = p ? p.bytesWritten - swapStart.written : 0;
  const context = {
    size: spec.size, params, seq: SEQ, batch: BATCH, dtype: 'bf16', zero_stage: spec.offloadParam ? 3 : 2, offload_param: spec.offloadParam ? 'nvme' : 'none',
    sub_group_size: spec.subGroupSize, buffer_count: spec.bufferCount,
    disk_state_bytes: s.stateBytes, resident_capacity_bytes: s.capacityBytes, peak_resident_bytes: s.peakResidentBytes,
    bytes_read: s.bytesRead, bytes_written: s.bytesWritten, setup_s: round(setupS, 1), last_loss: round(loss, 4),
    step_ms: stepMs.map((x) => round(x, 0)), optimizer_step_ms: optMs.map((x) => round(x, 0)),
    memory: mem.summary(params),
    zero_memory_gib: Object.fromEntries(memoryReport(engine.parts).entries.map((e) => [e.what, round(e.bytes / 2 ** 30, 3)])),
    ...(p
      ? { param_disk_bytes: p.swappedBytes, param_capacity_bytes: p.capacityBytes, param_peak_resident_bytes: p.peakResidentBytes, param_bytes_read: paramRead, param_bytes_written: paramWritten }
      : {}),
  };
  const label = spec.offloadParam ? `${spec.size} +param` : spec.size;
  const rec = (name: string, value: number, unit: string): BenchRecord => ({ suite: 'zero-nvme', name: `${label} ${name}`, value, unit, context });
  const last = stepMs.length - 1;
  emit(rec('parameters', params, 'params'));
  emit(rec('train step', round(stepMs[last]! / 1000, 2), 's'));
  emit(rec('optimizer step (nvme)', round(optMs[last]! / 1000, 2), 's'));
  emit(rec('peak RSS', round(process.resourceUsage().maxRSS / (1024 * 1024), 2), 'GiB'));
  emit(rec('read per step', round(s.bytesRead / spec.steps / 2 ** 30, 2), 'GiB'));
  emit(rec('written per step', round((s.bytesWritten - s.stateBytes) / spec.steps / 2 ** 30, 2), 'GiB'));
  if (p) {
    emit(rec('param read per step', round(paramRead / spec.steps / 2 ** 30, 2), 'GiB'));
    emit(rec('param written per step', round(paramWritten / spec.steps / 2 ** 30, 2), 'GiB'));
  }
  await engine.close();
  await nvme.close();
  await paramSwap?.close();
}

function runChild(script: string, spec: ChildSpec, onRecord: (r: BenchRecord) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, ZERO_NVME_CHILD_FLAG, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const r: unknown = JSON.parse(line);
          if (isBenchRecord(r)) onRecord(r);
        } catch {
          note(line);
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`zero-nvme ${spec.size}: child exited with ${signal ?? code}`))));
  });
}

export interface ZeroNvmeSuiteOptions {
  quick: boolean;
  script: string;
  onRecord(r: BenchRecord): void;
  /** Directory for the swap files (default: a fresh one under the OS temp dir). */
  nvmePath?: string;
  /** Sizes to try, smallest first (default: 124m and 355m with --quick, else up to 774m). */
  sizes?: NvmeSize[];
  /** Also put the parameters on NVMe (stage 3, offload_param nvme, zeroInit). */
  offloadParam?: boolean;
}

export async function runZeroNvmeSuite(o: ZeroNvmeSuiteOptions): Promise<void> {
  const base = o.nvmePath ?? os.tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'ds-zero-nvme-'));
  const sizes = o.sizes ?? (o.quick ? ['gpt2-124m', 'gpt2-355m'] : ['gpt2-124m', 'gpt2-355m', 'gpt2-774m']);
  const offloadParam = o.offloadParam ?? false;
  let largest: { size: NvmeSize; params: number; rssGiB: number } | null = null;
  const onRecord = (r: BenchRecord): void => {
    if (r.name.endsWith(' peak RSS')) {
      const size = (r.context as { size?: NvmeSize } | undefined)?.size;
      if (size) largest = { size, params: gpt2ParamCount(size), rssGiB: r.value };
    }
    o.onRecord(r);
  };
  try {
    for (const size of sizes) {
      const fs = statfsSync(dir);
      const free = fs.bavail * fs.bsize;
      const need = gpt2ParamCount(size) * swapBytesPerParam(offloadParam);
      // Leave the larger of 16 GiB and a fifth of the free space to everything else on the disk.
      const headroom = Math.max(16 * 2 ** 30, free / 5);
      if (need + headroom > free) {
        note(`zero-nvme: skipping ${size}: ${(need / 2 ** 30).toFixed(1)} GiB of swap files, ${(free / 2 ** 30).toFixed(1)} GiB free under ${dir} (${(headroom / 2 ** 30).toFixed(1)} GiB are left free)`);
        continue;
      }
      note(`zero-nvme: ${size} (${(gpt2ParamCount(size) / 1e6).toFixed(0)} M parameters, ${(need / 2 ** 30).toFixed(1)} GiB on disk under ${dir})`);
      try {
        await runChild(o.script, { size, nvmePath: dir, steps: o.quick ? 1 : 2, subGroupSize: 50_000_000, bufferCount: 4, offloadParam }, onRecord);
      } catch (e) {
        // The largest size that completes is the result; a bigger one failing (out of memory) ends the search.
        note(`zero-nvme: ${size} did not complete (${(e as Error).message}); larger sizes not tried`);
        break;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const best = largest as { size: NvmeSize; params: number; rssGiB: number } | null;
  if (best) {
    o.onRecord({
      suite: 'zero-nvme',
      name: `largest completed${offloadParam ? ' (+param)' : ''}`,
      value: best.params,
      unit: 'params',
      context: { size: best.size, peak_rss_gib: best.rssGiB, offload_param: offloadParam ? 'nvme' : 'none' },
    });
  } else {
    note('zero-nvme: no size completed a step');
  }
}
