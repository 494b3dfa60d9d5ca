// The rank script of runCommBench (a separate build entry: it runs inside each worker).
import { Tensor } from '@ds/core';
import { initDistributed } from './init.js';
import { allocShared } from './inproc/shared.js';
import type { BenchOp } from './bench.js';

/** Calls a small op (under SMALL_OP_MS each) makes before it is timed. */
const WARM_CALLS = 30_000;
const SMALL_OP_MS = 0.2;

export interface BenchRankArgs {
  ops: BenchOp[];
  sizes: number[];
  targetMs: number;
  minIters: number;
  maxIters: number;
  /** allocate the tensors with allocShared (collectives read them in place) */
  shared: boolean;
}

export interface BenchRankResult {
  op: BenchOp;
  bytes: number;
  iters: number;
  /** slowest rank's mean time per op, ms */
  ms: number;
}


export default async function benchRank(args: BenchRankArgs): Promise<BenchRankResult[]> {
  const world = await initDistributed();
  const n = world.size;
  const out: BenchRankResult[] = [];
  const f32 = (len: number, shape: number[] = [len]): Tensor => {
    const t = args.shared ? allocShared(shape) : new Tensor(new Float32Array(len), shape, 'float32');
    (t.data() as Float32Array).fill(1);
    return t;
  };
  const probe = new Tensor(new Float32Array(1), [1], 'float32');
  const maxAcross = async (v: number): Promise<number> => {
    (probe.data() as Float32Array)[0] = v;
    await world.allReduce(probe, 'max');
    return (probe.data() as Float32Array)[0]!;
  };
  for (const op of args.ops) {
    for (const bytes of args.sizes) {
      const total = Math.floor(bytes / 4 / n) * n; // elements, divisible by n
      let run: () => Promise<void>;
      if (op === 'allReduce') {
        const t = f32(total);
        run = () => world.allReduce(t);
      } else if (op === 'allGather') {
        const o = f32(total);
        const i = f32(total / n);
        run = () => world.allGatherInto(o, i);
      } else if (op === 'reduceScatter') {
        const o = f32(total / n);
        const i = f32(total);
        run = () => world.reduceScatter(o, i);
      } else {
        const o = f32(total, [n, total / n]);
        const i = f32(total, [n, total / n]);
        run = () => world.allToAll(o, i);
      }
      // Warm up in doubling batches for at least a fifth of the budget and, for small ops, at
      // least WARM_CALLS calls (capped at ten budgets): a small op needs tens of thousands of
      // calls before its JavaScript is optimised and the ranks' threads have settled on their
      // cores (4 KiB all-reduce, 2 ranks: 40-100 us over the first 10 000 calls, 5-7 us from
      // 30 000 on); a large one only has to touch its pages once. Every rank must call the same
      // number of collectives, so the decision is taken on values agreed across ranks (maxima).
      const warmStart = performance.now();
      let calls = 0;
      for (let batch = 1; batch <= args.maxIters; batch *= 2) {
        const b0 = performance.now();
        for (let k = 0; k < batch; k++) await run();
        calls += batch;
        const perCall = (await maxAcross(performance.now() - b0)) / batch;
        const elapsed = await maxAcross(performance.now() - warmStart);
        if (elapsed >= args.targetMs * 10) break;
        if (elapsed >= args.targetMs / 5 && (calls >= Math.min(WARM_CALLS, args.maxIters) || perCall >= SMALL_OP_MS)) break;
      }
      let t0 = performance.now();
      const probeIters = 8;
      for (let k = 0; k < probeIters; k++) await run();
      const one = (await maxAcross(performance.now() - t0)) / probeIters;
      const iters = Math.max(args.minIters, Math.min(args.maxIters, Math.ceil(args.targetMs / Math.max(one, 1e-3))));
      await world.barrier();
      t0 = performance.now();
      for (let k = 0; k < iters; k++) await run();
      const ms = (await maxAcross(performance.now() - t0)) / iters;
      out.push({ op, bytes: total * 4, iters, ms });
    }
  }
  return out;
}
