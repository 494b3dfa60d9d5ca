// runCommBench: algbw / busbw of the in-process collectives (nccl-tests conventions: the size
// is the full buffer — the all-reduce tensor, the gathered output, the scattered input, the
// all-to-all input — and busbw = algbw x the op's bus factor).
import { launchInProcess } from './inproc/launch.js';
import type { BenchRankArgs, BenchRankResult } from './bench-worker.js';
import { busFactor, convertSize } from './logger.js';

export type BenchOp = 'allReduce' | 'allGather' | 'reduceScatter' | 'allToAll';
export const BENCH_OPS: readonly BenchOp[] = ['allReduce', 'allGather', 'reduceScatter', 'allToAll'];

export interface CommBenchOptions {
  /** World sizes to run (default [2, 4]). */
  ranks?: number[];
  ops?: BenchOp[];
  /** Message sizes in bytes (default 4 KiB, 16 KiB, ... 256 MiB: powers of 4). */
  sizes?: number[];
  /** Time to spend per measurement (default 200 ms; at least `minIters` ops). */
  targetMs?: number;
  minIters?: number;
  maxIters?: number;
  /** Allocate the tensors with allocShared (collectives read them in place instead of copying them). */
  shared?: boolean;
  /** Called with each record as soon as it is measured. */
  onRecord?: (r: CommBenchRecord) => void;
}

export interface CommBenchRecord {
  suite: 'comm';
  backend: 'inproc';
  op: BenchOp;
  ranks: number;
  dtype: 'float32';
  /** 'shared': tensors from allocShared; 'private': ordinary typed arrays (copied into shared memory) */
  tensors: 'private' | 'shared';
  bytes: number;
  size: string;
  iters: number;
  latencyUs: number;
  algbwGBps: number;
  busbwGBps: number;
}

export const DEFAULT_BENCH_SIZES: readonly number[] = Array.from({ length: 9 }, (_, i) => 4096 * 4 ** i);

function benchScript(): URL {
  const fromSource = /\.ts$/.test(new URL(import.meta.url).pathname);
  return new URL(fromSource ? './bench-worker.ts' : './bench-worker.js', import.meta.url);
}

/** Measure the collectives at each world size; returns one JSON-ready record per (ranks, op, size). */
export async function runCommBench(opts: CommBenchOptions = {}): Promise<CommBenchRecord[]> {
  const records: CommBenchRecord[] = [];
  for (const nprocs of opts.ranks ?? [2, 4]) {
    const args: BenchRankArgs = {
      ops: [...(opts.ops ?? BENCH_OPS)],
      sizes: [...(opts.sizes ?? DEFAULT_BENCH_SIZES)],
      targetMs: opts.targetMs ?? 200,
      minIters: opts.minIters ?? 3,
      maxIters: opts.maxIters ?? 100_000,
      shared: !!opts.shared,
    };
    const results = await launchInProcess<BenchRankResult[], BenchRankArgs>({ nprocs, script: benchScript(), args, timeoutMs: 120_000 });
    for (const r of results[0]!) {
      const algbw = r.bytes / (r.ms * 1e6);
      const rec: CommBenchRecord = {
        suite: 'comm',
        backend: 'inproc',
        op: r.op,
        ranks: nprocs,
        dtype: 'float32',
        tensors: opts.shared ? 'shared' : 'private',
        bytes: r.bytes,
        size: convertSize(r.bytes),
        iters: r.iters,
        latencyUs: r.ms * 1000,
        algbwGBps: algbw,
        busbwGBps: algbw * busFactor(r.op === 'allGather' ? 'allGatherInto' : r.op, nprocs),
      };
      records.push(rec);
      opts.onRecord?.(rec);
    }
  }
  return records;
}
