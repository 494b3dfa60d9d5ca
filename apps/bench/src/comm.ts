// Collective bandwidth (nccl-tests formulas: all-reduce busbw = algbw*2(n-1)/n; all-gather,
// reduce-scatter and all-to-all = algbw*(n-1)/n) for each backend at 2 and 4 ranks:
//  * inproc: ranks as threads of this process (@ds/comm's runCommBench);
//  * gloo: ranks as processes on this machine, each re-running this CLI with a hidden flag and
//    meeting through MASTER_ADDR/MASTER_PORT; rank 0 prints the rows.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { runCommBench } from '@ds/comm';
import { note, type BenchRecord } from './report.js';

export const COMM_RANK_FLAG = '--comm-gloo-rank';
const MiB = 1 << 20;

export interface CommSuiteOptions {
  quick: boolean;
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
  for (const ranks of [2, 4]) {
    note(`comm inproc: ${ranks} ranks, ${sizes.length} sizes`);
    const recs = await runCommBench({ ranks: [ranks], sizes, targetMs: o.quick ? 100 : 200 });
    for (const r of recs) for (const x of record('inproc', r.ranks, r.op, r.bytes, r.latencyUs, r.algbwGBps, r.busbwGBps)) o.onRecord(x);
  }
  for (const ranks of [2, 4]) {
    note(`comm gloo: ${ranks} processes`);
    const rows = await glooRanks(ranks, o.script, o.quick ? 16 * MiB : 64 * MiB);
    for (const r of rows) for (const x of record('gloo', ranks, r.op, r.bytes, r.timeUs, r.algbw, r.busbw)) o.onRecord(x);
  }
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

async function glooRanks(n: number, script: string, maxBytes: number): Promise<GlooRow[]> {
  const port = await freePort();
  const outs = await Promise.all(Array.from({ length: n }, (_, rank) => new Promise<{ code: number | null; out: string }>((resolve) => {
    const env = { ...process.env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(n), LOCAL_WORLD_SIZE: String(n),
      MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), DS_BACKEND: 'gloo', DS_NUM_THREADS: '1' };
    const child = spawn(process.execPath, [...process.execArgv, script, COMM_RANK_FLAG, String(maxBytes)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  })));
  const bad = outs.findIndex((o) => o.code !== 0);
  if (bad >= 0) throw new Error(`comm gloo: rank ${bad} of ${n} exited with ${outs[bad]!.code}`);
  const line = outs[0]!.out.split('\n').find((l) => l.startsWith('['));
  if (!line) throw new Error('comm gloo: rank 0 printed no results');
  return JSON.parse(line) as GlooRow[];
}

/** One gloo rank (a child of runCommSuite): join, sweep, rank 0 prints the rows as JSON. */
export async function runGlooRank(maxBytes: number): Promise<void> {
  const { initDistributed, destroyProcessGroup } = await import('@ds/comm');
  const { benchCollectives } = await import('@ds/comm-gloo');
  const world = await initDistributed({ backend: 'gloo' });
  const rows = await benchCollectives(world, { maxBytes });
  if (world.rank === 0) process.stdout.write(`${JSON.stringify(rows)}\n`);
  // The whole teardown (world group and rendezvous store), so the process can exit.
  await destroyProcessGroup();
}
