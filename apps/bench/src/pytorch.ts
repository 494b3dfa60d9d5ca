// Side-by-side PyTorch measurement: runs pytorch/gpt2_baseline.py (the same model, sizes and
// step as gpt2.ts) with a Python that has torch, right after our own run, so the ratio
// compares like with like on the same machine at the same moment.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Gpt2Size } from './baselines.js';
import { note, type BenchRecord } from './report.js';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../pytorch');
const SCRIPT = path.join(DIR, 'gpt2_baseline.py');
const DDP_SCRIPT = path.join(DIR, 'ddp_baseline.py');
const COMM_SCRIPT = path.join(DIR, 'comm_baseline.py');

/** A Python interpreter that imports torch: DS_BENCH_PYTHON, else Debian's, else PATH's. */
export function findTorchPython(): string | null {
  const candidates = [process.env.DS_BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

/** Measure PyTorch at `size` and emit its tokens/s and our ratio against it. */
export function runPytorchGpt2(size: Gpt2Size, ours: number | null, o: { threads?: number; onRecord: (r: BenchRecord) => void }): void {
  const py = findTorchPython();
  if (!py) {
    note('--pytorch: no Python with torch found (set DS_BENCH_PYTHON, or apt-get install python3-torch); skipped');
    return;
  }
  if (!existsSync(SCRIPT)) throw new Error(`--pytorch: ${SCRIPT} is missing`);
  const threads = o.threads ?? 1;
  const r = spawnSync(py, [SCRIPT, size, '--threads', String(threads)], { encoding: 'utf8', env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) throw new Error(`--pytorch ${size}: ${py} exited with ${r.status ?? r.signal}`);
  const res = JSON.parse(line) as { tokens_per_s: number; median_step_ms: number; peak_rss_gib: number; torch: string };
  const context = { size, python: py, torch: res.torch, threads, medianStepMs: res.median_step_ms, peakRssGiB: res.peak_rss_gib,
    env: { OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? null, GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? null } };
  o.onRecord({ suite: 'gpt2', name: `${size}_pytorch_tokens_per_s`, value: res.tokens_per_s, unit: 'tokens/s', context });
  o.onRecord({ suite: 'gpt2', name: `${size}_pytorch_peak_rss`, value: res.peak_rss_gib, unit: 'GiB', context });
  if (ours !== null) {
    o.onRecord({ suite: 'gpt2', name: `${size}_ratio_vs_pytorch_same_run`, value: ours / res.tokens_per_s, unit: 'x',
      context: { ...context, ours, note: 'ds tokens/s over PyTorch tokens/s, measured one after the other in this run' } });
  }
}

/**
 * How many threads OpenBLAS runs per PyTorch process: torch.set_num_threads does not cap
 * OpenBLAS's own pool, so PyTorch's "1 thread" runs its GEMMs on every core unless
 * OPENBLAS_NUM_THREADS says otherwise. 'library' leaves the pool as the library sizes it.
 */
export type PytorchBlasThreads = 'one' | 'library';

/**
 * PyTorch DDP (gloo) on GPT-2 'small', `ranks` processes x 1 intra-op thread, fp32: the
 * same shape as the engine suite. Returns tokens/s (all ranks), or null when no torch is found.
 */
export function runPytorchDdp(ranks: number, blas: PytorchBlasThreads, o: { quick: boolean }): { tokensPerS: number; medianStepMs: number; torch: string } | null {
  const py = findTorchPython();
  if (!py) {
    note('--pytorch: no Python with torch found (set DS_BENCH_PYTHON, or apt-get install python3-torch); skipped');
    return null;
  }
  const env = { ...process.env };
  if (blas === 'one') env.OPENBLAS_NUM_THREADS = '1';
  else delete env.OPENBLAS_NUM_THREADS;
  const script = ranks === 1 ? SCRIPT : DDP_SCRIPT;
  const args = ranks === 1 ? [script, 'small', '--threads', '1', '--warmup', '3', '--steps', o.quick ? '4' : '10'] : [script, '--ranks', String(ranks), '--warmup', '3', '--steps', o.quick ? '4' : '10'];
  const r = spawnSync(py, args, { encoding: 'utf8', env, cwd: DIR, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) throw new Error(`--pytorch: ${py} ${path.basename(script)} exited with ${r.status ?? r.signal}`);
  const res = JSON.parse(line) as { tokens_per_s: number; median_step_ms: number; torch: string };
  return { tokensPerS: res.tokens_per_s, medianStepMs: res.median_step_ms, torch: res.torch };
}

export interface PytorchCommRow { op: string; bytes: number; latencyUs: number; algbwGBps: number; busbwGBps: number; torch: string }

/** torch.distributed gloo collectives between `ranks` processes (pytorch/comm_baseline.py); null when no torch is found. */
export function runPytorchComm(ranks: number, sizes: number[], targetMs: number): PytorchCommRow[] | null {
  const py = findTorchPython();
  if (!py) {
    note('--pytorch: no Python with torch found (set DS_BENCH_PYTHON, or apt-get install python3-torch); skipped');
    return null;
  }
  const r = spawnSync(py, [COMM_SCRIPT, '--ranks', String(ranks), '--sizes', sizes.join(','), '--target-ms', String(targetMs)],
    { encoding: 'utf8', cwd: DIR, stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
  if (r.status !== 0) throw new Error(`--pytorch: ${py} comm_baseline.py exited with ${r.status ?? r.signal}`);
  const rows: PytorchCommRow[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const j = JSON.parse(line) as { op: string; bytes: number; latency_us?: number; algbw_gbps?: number; busbw_gbps?: number; torch?: string; error?: string };
    if (j.error || j.latency_us === undefined) continue;
    rows.push({ op: j.op, bytes: j.bytes, latencyUs: j.latency_us, algbwGBps: j.algbw_gbps!, busbwGBps: j.busbw_gbps!, torch: j.torch ?? '' });
  }
  return rows;
}
