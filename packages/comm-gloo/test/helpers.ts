// Spawning ranks for the multi-process tests: each rank is a Node process running
// fixtures/worker.ts (through tsx, against the packages' TypeScript sources) with the
// torchrun-style environment. Every child is tracked so afterAll can kill what is left.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { glooAvailable, glooLoadError } from '../src/native.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const WORKER = path.join(here, 'fixtures', 'worker.ts');
const NODE_ARGS = ['--conditions=@ds/source', '--import', 'tsx'];

/** Why the multi-process tests cannot run here, or null. */
export function skipReason(): string | null {
  return glooAvailable() ? null : `@ds/comm-gloo-native is not built: ${glooLoadError()}`;
}

const children = new Set<ChildProcess>();

/** SIGKILLs every child still running (afterAll). */
export function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  children.clear();
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RankOutcome {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  result?: any;
  error?: any;
  stderr: string;
}

export interface Launch {
  children: ChildProcess[];
  /** Resolves when every rank has exited (or was killed at the deadline). */
  done: Promise<RankOutcome[]>;
  /** Resolves with the message of the given kind from each listed rank. */
  waitFor(kind: string, ranks: readonly number[]): Promise<void>;
}

export interface LaunchOptions {
  env?: Record<string, string>;
  /** Per-rank extra environment. */
  rankEnv?: (rank: number) => Record<string, string>;
  /** Kill everything still running after this long (ms). */
  deadlineMs?: number;
  masterAddr?: string;
  /** Per-rank command prefix (e.g. ['ip', 'netns', 'exec', 'nsA']). */
  prefix?: (rank: number) => string[] | null;
  /** Script to run instead of fixtures/worker.ts. */
  script?: string;
}

export async function launch(size: number, scenario: string, opts: LaunchOptions = {}): Promise<Launch> {
  const port = await freePort();
  const outcomes: RankOutcome[] = [];
  const procs: ChildProcess[] = [];
  const listeners: Array<(rank: number, msg: any) => void> = [];
  const exits: Promise<void>[] = [];
  for (let rank = 0; rank < size; rank++) {
    const env = {
      ...process.env,
      RANK: String(rank),
      LOCAL_RANK: String(rank),
      WORLD_SIZE: String(size),
      MASTER_ADDR: opts.masterAddr ?? '127.0.0.1',
      MASTER_PORT: String(port),
      SCENARIO: scenario,
      ...opts.env,
      ...(opts.rankEnv?.(rank) ?? {}),
    };
    const prefix = opts.prefix?.(rank) ?? null;
    const script = opts.script ?? WORKER;
    const child = prefix
      ? spawn(prefix[0]!, [...prefix.slice(1), process.execPath, ...NODE_ARGS, script], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
      : fork(script, [], { env, execArgv: NODE_ARGS, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    children.add(child);
    procs.push(child);
    const out: RankOutcome = { rank, code: null, signal: null, stderr: '' };
    outcomes.push(out);
    child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => (out.stderr += d.toString()));
    child.on('message', (m: any) => {
      if (m?.kind === 'result') out.result = m.data;
      else if (m?.kind === 'error') out.error = m;
      for (const l of listeners) l(rank, m);
    });
    child.on('error', (err) => (out.stderr += `spawn error: ${err.message}\n`));
    exits.push(
      new Promise((resolve) =>
        child.on('exit', (code, signal) => {
          out.code = code;
          out.signal = signal;
          children.delete(child);
          resolve();
        }),
      ),
    );
  }
  const deadline = setTimeout(() => procs.forEach((p) => p.exitCode === null && p.kill('SIGKILL')), opts.deadlineMs ?? 60_000);
  const done = Promise.all(exits).then(() => {
    clearTimeout(deadline);
    return outcomes;
  });
  const waitFor = (kind: string, ranks: readonly number[]): Promise<void> =>
    new Promise((resolve, reject) => {
      const pending = new Set(ranks);
      listeners.push((rank, m) => {
        if (m?.kind === kind && pending.delete(rank) && pending.size === 0) resolve();
      });
      void done.then(() => pending.size && reject(new Error(`ranks ${[...pending]} exited before sending '${kind}'`)));
    });
  return { children: procs, done, waitFor };
}

/** Runs a scenario to the end and returns each rank's outcome. */
export async function run(size: number, scenario: string, opts: LaunchOptions = {}): Promise<RankOutcome[]> {
  return (await launch(size, scenario, opts)).done;
}

/** Formats what went wrong on each rank, for assertion messages. */
export function explain(outs: RankOutcome[]): string {
  return outs
    .map((o) => `rank ${o.rank}: exit ${o.code ?? o.signal}${o.error ? ` error ${JSON.stringify(o.error.error)}` : ''}\n${o.stderr.slice(-2000)}`)
    .join('\n');
}
