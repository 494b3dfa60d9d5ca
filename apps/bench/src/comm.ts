// Collective bandwidth (nccl-tests formulas: all-reduce busbw = algbw*2(n-1)/n; all-gather,
// reduce-scatter and all-to-all = algbw*(n-1)/n) for each backend at 2 and 4 ranks:
//  * inproc: ranks as threads of this process (@ds/comm's runCommBench), once with ordinary
//    tensors (copied through shared memory) and once with allocShared tensors (what the engine's
//    gradient buckets and ZeRO's flat buffers are: peers read and write them in place);
//  * gloo: ranks as processes on this machine, each re-running this CLI with a hidden flag and
//    meeting through MASTER_ADDR/MASTER_PORT; rank 0 prints the rows. Once as it runs by
//    default on one host (collectives in shared memory), once with DS_GLOO_SHM_BYTES=0
//    (collectives over Gloo's TCP pairs, as between hosts): 'gloo' and 'gloo-tcp' records.
// Then start-up: `ds run --nproc 2` of a minimal script (first-collective.ts) to its first
// completed all-reduce, for each backend.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { runCommBench } from '@ds/comm';
import { runPytorchComm, type PytorchCommRow } from './pytorch.js';
import { note, type BenchRecord } from './report.js';
import { rankProcessArgs } from './env.js';

export const COMM_RANK_FLAG = '--comm-gloo-rank';
const MiB = 1 << 20;
const ROWS_PREFIX = 'comm-gloo-rows ';

export interface CommSuiteOptions {
  quick: boolean;
  /** Also measure torch.distributed's gloo at the same sizes right after ours, and report the ratios. */
  pytorch?: boolean;
  onRecord: (r: BenchRecord) => void;
  script: string;
}

const record = (backend: string, ranks: number, op: string, bytes: number, latencyUs: number, algbw: number, busbw: number): BenchRecord[] => {
  const size = bytes >= MiB ? `${bytes / MiB}MiB` : `${bytes / 1024}KiB`;
  const context = { backend, ranks, op, bytes, dtype: 'float32', algbwGBps: algbw, latencyUs };
  return [
    { suite: 'comm', name: `${backend}_${op}_${size}_${ranks}r_busbw`, value: busbw, unit: 'GB/s', context },
    { suite: 'comm', name: `${backend}_${op}_${size}_${ranks}r_latency`, value: latencyUs, unit: 'us', context },
  ];
};

export async function runCommSuite(o: CommSuiteOptions): Promise<void> {
  const maxBytes = o.quick ? 64 * MiB : 256 * MiB;
  const sizes: number[] = [];
  for (let b = 4096; b <= maxBytes; b *= 4) sizes.push(b);
  for (const shared of [false, true]) {
    const backend = shared ? 'inproc-shared' : 'inproc';
    for (const ranks of [2, 4]) {
      note(`comm ${backend}: ${ranks} ranks, ${sizes.length} sizes`);
      const recs = await runCommBench({ ranks: [ranks], sizes, shared, targetMs: o.quick ? 100 : 200 });
      for (const r of recs) for (const x of record(backend, r.ranks, r.op, r.bytes, r.latencyUs, r.algbwGBps, r.busbwGBps)) o.onRecord(x);
    }
  }
  const transports = [
    { backend: 'gloo', env: {} },
    { backend: 'gloo-tcp', env: { DS_GLOO_SHM_BYTES: '0' } },
  ] as const;
  for (const ranks of [2, 4]) {
    // Beside PyTorch, each side runs twice, alternating, and keeps its faster pass per op and
    // size: on a shared 2-core machine one noisy pass moves a sub-millisecond figure 2-4x.
    const passes = o.pytorch && !o.quick ? 2 : 1;
    const results = new Map<string, { rows: GlooRow[]; transport: unknown }>();
    let theirs: PytorchCommRow[] | null = o.pytorch ? [] : null;
    for (let pass = 1; pass <= passes; pass++) {
      for (const t of transports) {
        note(`comm ${t.backend}: ${ranks} processes${passes > 1 ? `, pass ${pass} of ${passes}` : ''}`);
        const got = await glooRanks(ranks, o.script, o.quick ? 16 * MiB : maxBytes, t.env);
        results.set(t.backend, { rows: faster(results.get(t.backend)?.rows ?? [], got.rows, (r) => r.timeUs), transport: got.transport });
      }
      if (theirs) {
        const sizes = [4096, 64 * 1024, MiB, 16 * MiB, 64 * MiB].filter((b) => results.get('gloo')!.rows.some((r) => r.bytes === b));
        note(`comm: PyTorch gloo, ${ranks} processes, ${sizes.length} sizes`);
        const t = runPytorchComm(ranks, sizes, o.quick ? 100 : 300);
        theirs = t ? faster(theirs, t, (r) => r.latencyUs) : null;
      }
    }
    for (const t of transports) {
      const { rows, transport } = results.get(t.backend)!;
      for (const r of rows) {
        for (const x of record(t.backend, ranks, r.op, r.bytes, r.timeUs, r.algbw, r.busbw)) o.onRecord({ ...x, context: { ...x.context, transport } });
      }
      if (theirs) comparePytorchGloo(t.backend, ranks, rows, theirs, passes, o);
    }
    if (theirs) for (const p of theirs) for (const x of record('pytorch-gloo', ranks, p.op, p.bytes, p.latencyUs, p.algbwGBps, p.busbwGBps)) o.onRecord({ ...x, context: { ...x.context, torch: p.torch } });
  }
  const runs = o.quick ? 3 : 7;
  for (const backend of ['inproc', 'gloo'] as const) {
    note(`comm start-up: ds run --nproc 2 --backend ${backend}, ${runs} runs`);
    const times: { first: number; exit: number }[] = [];
    for (let i = 0; i < runs; i++) times.push(await firstCollective(backend));
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const context = { backend, ranks: 2, runs, exitMs: median(times.map((t) => t.exit)), pytorchMs: '2200-2900 (spawn + import + init + one all_reduce + destroy)' };
    o.onRecord({ suite: 'comm', name: `${backend}_startup_first_collective_2r`, value: median(times.map((t) => t.first)), unit: 'ms', context });
  }
}

/** Run `ds run --nproc 2` on the minimal first-collective script: ms to rank 0's first all-reduce, and to exit. */
async function firstCollective(backend: 'inproc' | 'gloo'): Promise<{ first: number; exit: number }> {
  const cli = fileURLToPath(new URL('../../ds/dist/cli.js', import.meta.url));
  const script = fileURLToPath(new URL('./first-collective.js', import.meta.url));
  if (!existsSync(cli)) throw new Error(`comm start-up: the ds CLI is not built (${cli}); run \`pnpm build\` first`);
  const t0 = Date.now();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'run', '--nproc', '2', '--backend', backend, script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`comm start-up: ds run exited with ${code}`))));
  });
  const exit = Date.now() - t0;
  const m = /first-collective (\d+)/.exec(out);
  if (!m) throw new Error(`comm start-up: rank 0 printed no time: ${out.slice(0, 200)}`);
  return { first: Number(m[1]) - t0, exit };
}

interface GlooRow { op: string; bytes: number; timeUs: number; algbw: number; busbw: number }

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function glooRanks(n: number, script: string, maxBytes: number, extraEnv: Record<string, string>): Promise<{ rows: GlooRow[]; transport: unknown }> {
  const port = await freePort();
  const outs = await Promise.all(Array.from({ length: n }, (_, rank) => new Promise<{ code: number | null; out: string }>((resolve) => {
    const env = { ...process.env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(n), LOCAL_WORLD_SIZE: String(n),
      MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), DS_BACKEND: 'gloo', DS_NUM_THREADS: '1', ...extraEnv };
    const child = spawn(process.execPath, [...rankProcessArgs(n), script, COMM_RANK_FLAG, String(maxBytes)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  })));
  const bad = outs.findIndex((o) => o.code !== 0);
  if (bad >= 0) throw new Error(`comm gloo: rank ${bad} of ${n} exited with ${outs[bad]!.code}`);
  const line = outs[0]!.out.split('\n').find((l) => l.startsWith(ROWS_PREFIX));
  if (!line) throw new Error('comm gloo: rank 0 printed no results');
  return JSON.parse(line.slice(ROWS_PREFIX.length)) as { rows: GlooRow[]; transport: unknown };
}

/** One gloo rank (a child of runCommSuite): join, sweep, rank 0 prints the rows as JSON. */
export async function runGlooRank(maxBytes: number): Promise<void> {
  const { initDistributed, destroyProcessGroup } = await import('@ds/comm');
  const { benchCollectives, GlooProcessGroup } = await import('@ds/comm-gloo');
  const world = await initDistributed({ backend: 'gloo' });
  const rows = await benchCollectives(world, { maxBytes });
  const transport = world instanceof GlooProcessGroup ? world.transport : null;
  if (world.rank === 0) process.stdout.write(`${ROWS_PREFIX}${JSON.stringify({ rows, transport })}\n`);
  // The whole teardown (world group and rendezvous store), so the process can exit.
  await destroyProcessGroup();
}

/** Per op and size, the faster of two sets of rows. */
function faster<T extends { op: string; bytes: number }>(a: T[], b: T[], time: (r: T) => number): T[] {
  const out = [...a];
  for (const r of b) {
    const i = out.findIndex((x) => x.op === r.op && x.bytes === r.bytes);
    if (i < 0) out.push(r);
    else if (time(r) < time(out[i]!)) out[i] = r;
  }
  return out;
}

/** Ours beside torch.distributed gloo at the sizes PyTorch's baselines quote (same run). */
function comparePytorchGloo(backend: string, ranks: number, ours: GlooRow[], rows: PytorchCommRow[], passes: number, o: CommSuiteOptions): void {
  for (const p of rows) {
    const mine = ours.find((r) => r.op === p.op && r.bytes === p.bytes);
    if (!mine) continue;
    const size = p.bytes >= MiB ? `${p.bytes / MiB}MiB` : `${p.bytes / 1024}KiB`;
    o.onRecord({
      suite: 'comm', name: `${backend}_${p.op}_${size}_${ranks}r_ratio_vs_pytorch`, value: p.latencyUs / mine.timeUs, unit: 'x',
      context: {
        oursUs: mine.timeUs, pytorchUs: p.latencyUs, passes,
        note: `PyTorch time over ours (>1: ours faster), alternating in this run; each side's faster of ${passes} pass(es)`,
      },
    });
  }
}
