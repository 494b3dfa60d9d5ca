// Collective bandwidth in the style of nccl-tests: for each op and size, the mean time per call
// (slowest rank), algbw = bytes / time and busbw = algbw x the op's bus factor, so numbers
// compare across rank counts and with nccl-tests / torch's gloo.
//   size  = the bytes of the largest buffer (allReduce: the tensor; allGather: the output;
//           reduceScatter: the input; allToAll: the input; broadcast: the tensor)
//   busbw = algbw x 2(n-1)/n (allReduce), (n-1)/n (allGather, reduceScatter, allToAll), 1 (broadcast)
import { Tensor } from '@ds/core';
import { busFactor, type ProcessGroup } from '@ds/comm';

export type BenchOp = 'allReduce' | 'allGather' | 'reduceScatter' | 'allToAll' | 'broadcast';

export interface BenchOptions {
  ops?: readonly BenchOp[];
  /** Smallest and largest size in bytes (default 4 KiB .. 64 MiB), stepping by `factor` (default 4). */
  minBytes?: number;
  maxBytes?: number;
  factor?: number;
  /** Timed calls per size: enough to move about this many bytes, within [minIters, maxIters]. */
  targetBytes?: number;
  minIters?: number;
  maxIters?: number;
  warmup?: number;
}

export interface BenchRow {
  op: BenchOp;
  bytes: number;
  iters: number;
  /** Mean time per call (slowest rank), microseconds. */
  timeUs: number;
  /** GB/s (1e9 bytes per second). */
  algbw: number;
  busbw: number;
}

function f32(n: number): Tensor {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (i % 7) * 0.5;
  return new Tensor(a, [n], 'float32');
}

/** Runs the sweep on every rank of `group` (collective); every rank returns the same rows. */
export async function benchCollectives(group: ProcessGroup, opts: BenchOptions = {}): Promise<BenchRow[]> {
  const ops = opts.ops ?? ['allReduce', 'allGather', 'reduceScatter', 'allToAll'];
  const minBytes = opts.minBytes ?? 4 << 10;
  const maxBytes = opts.maxBytes ?? 64 << 20;
  const factor = opts.factor ?? 4;
  const targetBytes = opts.targetBytes ?? 512 << 20;
  const minIters = opts.minIters ?? 5;
  const maxIters = opts.maxIters ?? 200;
  const n = group.size;
  const rows: BenchRow[] = [];
  const timing = new Tensor(new Float32Array(1), [1], 'float32');

  for (const op of ops) {
    for (let bytes = minBytes; bytes <= maxBytes; bytes *= factor) {
      // Elements of the "size" buffer, rounded so it splits evenly over the ranks.
      const elems = Math.max(n, Math.floor(bytes / 4 / n) * n);
      const big = f32(elems);
      const small = f32(elems / n);
      const call = (): Promise<void> => {
        switch (op) {
          case 'allReduce':
            return group.allReduce(big, 'sum');
          case 'broadcast':
            return group.broadcast(big, 0);
          case 'allGather':
            return group.allGatherInto(big, small);
          case 'reduceScatter':
            return group.reduceScatter(small, big, 'sum');
          case 'allToAll':
            return group.allToAll(big2(big), big);
        }
      };
      const iters = Math.min(maxIters, Math.max(minIters, Math.ceil(targetBytes / (elems * 4))));
      // A quarter of the timed calls (2-50) first: the sweep's first op otherwise times cold code.
      const warmup = opts.warmup ?? Math.max(2, Math.min(50, iters >> 2));
      for (let i = 0; i < warmup; i++) await call();
      await group.barrier();
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) await call();
      const ms = (performance.now() - t0) / iters;
      timing.data<'float32'>()[0] = ms;
      await group.allReduce(timing, 'max');
      const sec = timing.data<'float32'>()[0]! / 1000;
      const algbw = (elems * 4) / sec / 1e9;
      rows.push({ op, bytes: elems * 4, iters, timeUs: sec * 1e6, algbw, busbw: algbw * busFactor(op, n) });
    }
  }
  return rows;
}

// allToAll reads one buffer and writes another of the same size.
const scratch = new WeakMap<Tensor, Tensor>();
function big2(t: Tensor): Tensor {
  let s = scratch.get(t);
  if (!s) scratch.set(t, (s = f32(t.numel)));
  return s;
}

function human(bytes: number): string {
  if (bytes >= 1 << 20) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1 << 10) return `${bytes / (1 << 10)} KiB`;
  return `${bytes} B`;
}

/** The rows as an nccl-tests-like table. */
export function formatBenchTable(rows: readonly BenchRow[], ranks?: number): string {
  const lines = [
    `${'op'.padEnd(14)}${'size'.padStart(10)}${'iters'.padStart(7)}${'time (us)'.padStart(12)}${'algbw GB/s'.padStart(12)}${'busbw GB/s'.padStart(12)}` +
      (ranks ? `   (${ranks} ranks)` : ''),
  ];
  for (const r of rows) {
    lines.push(
      `${r.op.padEnd(14)}${human(r.bytes).padStart(10)}${String(r.iters).padStart(7)}${r.timeUs.toFixed(1).padStart(12)}` +
        `${r.algbw.toFixed(3).padStart(12)}${r.busbw.toFixed(3).padStart(12)}`,
    );
  }
  return lines.join('\n');
}
