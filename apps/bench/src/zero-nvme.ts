// ZeRO-Infinity's optimizer offload on one machine: GPT-2-shaped models of growing size train
// one rank through @ds/engine with bf16 weights and `offload_optimizer: { device: "nvme" }`,
// so the fp32 masters and Adam moments (12 bytes per parameter) live in swap files. Each size
// runs in a fresh process (its peak RSS is its own) and reports parameters, step times, peak
// RSS and the bytes the step read and wrote; a size whose swap files would not fit in half the
// free disk space is skipped and said so.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initDistributed } from '@ds/comm';
import { Generator, randint } from '@ds/core';
import { initialize } from '@ds/engine';
import { GPT2LMHeadModel } from '@ds/models';
import { nvmeOffloadOf } from '@ds/zero';
import { round } from './gemm.js';
import { emit, isBenchRecord, note, type BenchRecord } from './report.js';

export const ZERO_NVME_CHILD_FLAG = '--zero-nvme-child';

/** GPT-2's own shapes (vocabulary 50257, 4x MLP, tied embeddings), smallest first. */
export const NVME_SIZES = {
  'gpt2-124m': { n_layer: 12, n_embd: 768, n_head: 12 },
  'gpt2-355m': { n_layer: 24, n_embd: 1024, n_head: 16 },
  'gpt2-774m': { n_layer: 36, n_embd: 1280, n_head: 20 },
  'gpt2-1.5b': { n_layer: 48, n_embd: 1600, n_head: 25 },
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
}

/** Parameters of a GPT-2 shape: embeddings (tied head), per-layer attention, MLP and norms, final norm. */
export function gpt2ParamCount(size: NvmeSize): number {
  const { n_layer: l, n_embd: d } = NVME_SIZES[size];
  const perLayer = 4 * d * d + 4 * d + 8 * d * d + 5 * d + 4 * d;
  return VOCAB * d + SEQ * d + l * perLayer + 2 * d;
}

/** One size in this process (the hidden --zero-nvme-child flag): prints JSON records on stdout. */
export async function runZeroNvmeChild(spec: ChildSpec): Promise<void> {
  await initDistributed();
  const shape = NVME_SIZES[spec.size];
  const t0 = performance.now();
  const model = new GPT2LMHeadModel(
    { vocab_size: VOCAB, n_positions: SEQ, ...shape, activation_function: 'gelu_new', resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0 },
    { seed: 0 },
  );
  const config = {
    train_micro_batch_size_per_gpu: BATCH,
    gradient_accumulation_steps: 1,
    optimizer: { type: 'AdamW', params: { lr: 1e-4 } },
    bf16: { enabled: true },
    zero_optimization: {
      stage: 2,
      sub_group_size: spec.subGroupSize,
      offload_optimizer: { device: 'nvme', nvme_path: spec.nvmePath, buffer_count: spec.bufferCount },
    },
  };
  const { engine } = await initialize({ model, config, log: () => {} });
  const setupS = (performance.now() - t0) / 1000;
  const nvme = nvmeOffloadOf(engine.parts);
  if (!nvme) throw new Error('zero-nvme: the engine did not attach the NVMe optimizer');
  const gen = new Generator(7);
  const params = model.parameters().reduce((a, p) => a + p.numel, 0);
  const stepMs: number[] = [];
  const optMs: number[] = [];
  let loss = 0;
  for (let i = 0; i < spec.steps; i++) {
    const ids = randint(0, VOCAB, [BATCH, SEQ], { generator: gen, dtype: 'int64' });
    const targets = randint(0, VOCAB, [BATCH, SEQ], { generator: gen, dtype: 'int64' });
    const a = performance.now();
    const l = model.loss(ids, targets);
    loss = l.item();
    engine.backward(l);
    const b = performance.now();
    await engine.step();
    const c = performance.now();
    stepMs.push(c - a);
    optMs.push(c - b);
  }
  const s = nvme.stats;
  const context = {
    size: spec.size, params, seq: SEQ, batch: BATCH, dtype: 'bf16', zero_stage: 2, sub_group_size: spec.subGroupSize, buffer_count: spec.bufferCount,
    disk_state_bytes: s.stateBytes, resident_capacity_bytes: s.capacityBytes, peak_resident_bytes: s.peakResidentBytes,
    bytes_read: s.bytesRead, bytes_written: s.bytesWritten, setup_s: round(setupS, 1), last_loss: round(loss, 4),
    step_ms: stepMs.map((x) => round(x, 0)), optimizer_step_ms: optMs.map((x) => round(x, 0)),
  };
  const rec = (name: string, value: number, unit: string): BenchRecord => ({ suite: 'zero-nvme', name: `${spec.size} ${name}`, value, unit, context });
  const last = stepMs.length - 1;
  emit(rec('parameters', params, 'params'));
  emit(rec('train step', round(stepMs[last]! / 1000, 2), 's'));
  emit(rec('optimizer step (nvme)', round(optMs[last]! / 1000, 2), 's'));
  emit(rec('peak RSS', round(process.resourceUsage().maxRSS / (1024 * 1024), 2), 'GiB'));
  emit(rec('read per step', round(s.bytesRead / spec.steps / 2 ** 30, 2), 'GiB'));
  emit(rec('written per step', round((s.bytesWritten - s.stateBytes) / spec.steps / 2 ** 30, 2), 'GiB'));
  await engine.close();
  await nvme.close();
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
}

export async function runZeroNvmeSuite(o: ZeroNvmeSuiteOptions): Promise<void> {
  const base = o.nvmePath ?? os.tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'ds-zero-nvme-'));
  const sizes = o.sizes ?? (o.quick ? ['gpt2-124m', 'gpt2-355m'] : ['gpt2-124m', 'gpt2-355m', 'gpt2-774m']);
  try {
    for (const size of sizes) {
      const fs = statfsSync(dir);
      const free = fs.bavail * fs.bsize;
      const need = gpt2ParamCount(size) * 12;
      if (need > free / 2) {
        note(`zero-nvme: skipping ${size}: ${(need / 2 ** 30).toFixed(1)} GiB of swap files, ${(free / 2 ** 30).toFixed(1)} GiB free under ${dir} (the limit is half)`);
        continue;
      }
      note(`zero-nvme: ${size} (${(gpt2ParamCount(size) / 1e6).toFixed(0)} M parameters, ${(need / 2 ** 30).toFixed(1)} GiB on disk under ${dir})`);
      try {
        await runChild(o.script, { size, nvmePath: dir, steps: o.quick ? 1 : 2, subGroupSize: 50_000_000, bufferCount: 4 }, o.onRecord);
      } catch (e) {
        // The largest size that completes is the result; a bigger one failing (out of memory) ends the search.
        note(`zero-nvme: ${size} did not complete (${(e as Error).message}); larger sizes not tried`);
        break;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
