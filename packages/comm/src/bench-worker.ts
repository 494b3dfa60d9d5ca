// The rank script of runCommBench (a separate build entry: it runs inside each worker).
import { Tensor } from '@ds/core';
import { initDistributed } from './init.js';
import { allocShared } from './inproc/shared.js';
import type { BenchOp } from './bench.js';

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
      for (let k = 0; k < 2; k++) await run();
      let t0 = performance.now();
      await run();
      const one = await maxAcross(performance.now() - t0);
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
