// Collective bandwidth of the gloo backend between processes on this machine, nccl-tests style.
//   node --conditions=@ds/source --import tsx packages/comm-gloo/scripts/bench.ts [ranks] [--max=64M] [--ops=allReduce,allGather]
// (or `pnpm --filter @ds/comm-gloo bench`). Spawns the ranks with the torchrun-style
// environment; each runs benchCollectives() on the world group; rank 0's rows are printed.
import { formatBenchTable, type BenchOp, type BenchRow } from '../src/bench.js';
import { explain, run, skipReason } from '../test/helpers.js';

const args = process.argv.slice(2);
const ranks = Number(args.find((a) => /^\d+$/.test(a)) ?? 2);
const opt = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const bytes = (s: string | undefined, d: number): number => {
  if (!s) return d;
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) throw new Error(`bad size ${s} (e.g. 4K, 64M)`);
  return Number(m[1]) * { '': 1, K: 1 << 10, M: 1 << 20, G: 1 << 30 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
};

const reason = skipReason();
if (reason) {
  console.error(`cannot run the gloo benchmark: ${reason}`);
  process.exit(1);
}
const benchOpts = {
  minBytes: bytes(opt('min'), 4 << 10),
  maxBytes: bytes(opt('max'), 64 << 20),
  ops: (opt('ops')?.split(',') as BenchOp[] | undefined) ?? ['allReduce', 'allGather', 'reduceScatter', 'allToAll', 'broadcast'],
};
const outs = await run(ranks, 'bench', { env: { BENCH_OPTS: JSON.stringify(benchOpts), TEST_TIMEOUT_MS: '120000' }, deadlineMs: 600_000 });
if (outs.some((o) => o.code !== 0)) {
  console.error(explain(outs));
  process.exit(1);
}
console.log(formatBenchTable(outs[0]!.result as BenchRow[], ranks));
