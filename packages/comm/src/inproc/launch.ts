// launchInProcess / spawnInProcess: start N ranks as worker threads of this process, sharing
// one control block and their data zones (SharedArrayBuffers). Each worker imports `script`
// and calls its default export (or `exportName`) with `args`; inside, initDistributed()
// returns the world group. Every worker is gone when the returned promise settles.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { deserializeError, type SerializedError } from '../errors.js';
import { defaultTimeoutMs } from '../group.js';
import { checkTimeout } from '../validate.js';
import { createControl, RANK_FAILED, RANK_FINISHED } from './control.js';
import { createSlabs } from './slab.js';
import { BOOTSTRAP, WORKER_KEY, type WorkerPayload } from './worker.js';

export interface LaunchOptions<A = unknown> {
  /** Number of ranks (worker threads). */
  nprocs: number;
  /** The module each rank runs (path or file: URL; .js, or .ts when tsx is installed). */
  script: string | URL;
  /** Structured-cloneable value passed to the export. */
  args?: A;
  /** Export to call (default 'default'); a module without it just runs its top level. */
  exportName?: string;
  /** Default collective timeout of the world group (default DS_COMM_TIMEOUT_MS or 5 minutes). */
  timeoutMs?: number;
  /** `process.argv` inside each rank (default: [node, the script's path]); `ds run` passes its script's arguments through it. */
  argv?: readonly string[];
  /** Extra environment variables for the ranks (each also gets RANK, LOCAL_RANK, WORLD_SIZE, ...). */
  env?: Record<string, string>;
  /** After the first rank fails, how long the others may run before they are terminated (default timeoutMs + 2 s). */
  graceMs?: number;
  /** Size of each rank's two small buffers (default 256 KiB). */
  smallZoneBytes?: number;
  /** Cap on each rank's large buffer and send heap (default 4 GiB). */
  maxBytes?: number;
  /** Most process groups the world may create (default 1024). */
  maxGroups?: number;
}

export interface RankOutcome<R> {
  rank: number;
  ok: boolean;
  /** What the rank's function returned (when ok). */
  value?: R;
  /** Why it failed (with its original class for @ds/comm errors). */
  error?: Error;
}

/** Thrown by launchInProcess when a rank failed; `outcomes` holds every rank's result. */
export class LaunchError<R = unknown> extends Error {
  readonly outcomes: RankOutcome<R>[];
  constructor(outcomes: RankOutcome<R>[]) {
    const failed = outcomes.filter((o) => !o.ok);
    super(
      `${failed.length} of ${outcomes.length} ranks failed:\n` +
        failed.map((o) => `  rank ${o.rank}: ${o.error?.name ?? 'Error'}: ${o.error?.message ?? 'unknown'}`).join('\n'),
    );
    this.name = 'LaunchError';
    this.outcomes = outcomes;
  }
  /** Each rank's error (null for ranks that succeeded). */
  get errors(): (Error | null)[] {
    return this.outcomes.map((o) => o.error ?? null);
  }
}

const TS_EXT = /\.[cm]?tsx?$/;

function scriptUrl(script: string | URL): string {
  if (script instanceof URL) return script.href;
  if (script.startsWith('file:')) return script;
  return pathToFileURL(path.resolve(script)).href;
}

/** Where tsx's ESM API is, when TypeScript must be loadable in the workers ('' when not needed). */
function tsxApi(url: string): string {
  const fromSource = TS_EXT.test(new URL(import.meta.url).pathname);
  if (!fromSource && !TS_EXT.test(new URL(url).pathname)) return '';
  for (const base of [import.meta.url, pathToFileURL(path.join(process.cwd(), 'noop.js')).href]) {
    try {
      // the ESM build of tsx's API (resolving through `require` would give the CJS one)
      const pkg = createRequire(base).resolve('tsx/package.json');
      const exp = (JSON.parse(readFileSync(pkg, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports['./esm/api'];
      return pathToFileURL(path.join(path.dirname(pkg), exp!.import.default)).href;
    } catch {
      // try the next base
    }
  }
  throw new Error(`launchInProcess: ${url} is TypeScript, and running it in worker threads needs tsx: pnpm add -D tsx`);
}

function execArgv(): string[] {
  const fromSource = TS_EXT.test(new URL(import.meta.url).pathname);
  const args = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  if (fromSource && !args.some((a) => a.includes('@ds/source'))) args.push('--conditions=@ds/source');
  return args;
}

function startWorker(payload: WorkerPayload, env: Record<string, string | undefined>): Worker {
  const options = { eval: true, workerData: { [WORKER_KEY]: payload }, env };
  try {
    return new Worker(BOOTSTRAP, { ...options, execArgv: execArgv() });
  } catch (e) {
    // a flag of this process that worker threads do not accept: keep only what the ranks need
    if ((e as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw e;
    const minimal = TS_EXT.test(new URL(import.meta.url).pathname) ? ['--conditions=@ds/source'] : [];
    return new Worker(BOOTSTRAP, { ...options, execArgv: minimal });
  }
}

/** Start `nprocs` ranks and collect each one's outcome (never throws for a failed rank). */
export async function spawnInProcess<R = unknown, A = unknown>(
  nprocs: number,
  script: string | URL,
  args?: A,
  opts: Omit<LaunchOptions<A>, 'nprocs' | 'script' | 'args'> = {},
): Promise<RankOutcome<R>[]> {
  if (!Number.isInteger(nprocs) || nprocs < 1) throw new RangeError(`launchInProcess: nprocs must be a positive integer, got ${nprocs}`);
  const timeoutMs = opts.timeoutMs !== undefined ? checkTimeout('launchInProcess', opts.timeoutMs) : defaultTimeoutMs();
  const graceMs = opts.graceMs ?? timeoutMs + 2000;
  const url = scriptUrl(script);
  const tsx = tsxApi(url);
  const control = createControl({ worldSize: nprocs, maxGroups: opts.maxGroups });
  const slabs = createSlabs(nprocs, { smallZoneBytes: opts.smallZoneBytes, maxBytes: opts.maxBytes });
  const outcomes: (RankOutcome<R> | null)[] = new Array(nprocs).fill(null);
  const workers: Worker[] = [];
  let graceTimer: NodeJS.Timeout | null = null;
  let terminating = false;

  const failed = (rank: number, error: Error): void => {
    outcomes[rank] ??= { rank, ok: false, error };
    control.setRankState(rank, RANK_FAILED, `threw ${error.name}: ${error.message}`);
    if (!graceTimer && !terminating) {
      graceTimer = setTimeout(() => {
        terminating = true;
        workers.forEach((w, r) => {
          if (!outcomes[r]) {
            outcomes[r] = { rank: r, ok: false, error: new Error(`rank ${r} was terminated: it had not finished ${graceMs} ms after rank ${rank} failed`) };
            control.setRankState(r, RANK_FAILED, 'terminated by the launcher');
          }
          void w.terminate();
        });
      }, graceMs);
      graceTimer.unref();
    }
  };

  const exits: Promise<void>[] = [];
  for (let rank = 0; rank < nprocs; rank++) {
    const payload: WorkerPayload = {
      world: { rank, worldSize: nprocs, control: control.sab, slabs, timeoutMs },
      script: url,
      exportName: opts.exportName ?? 'default',
      args,
      tsx,
      argv: [...(opts.argv ?? [process.execPath, url.startsWith('file:') ? fileURLToPath(url) : url])],
    };
    const env = {
      ...process.env,
      ...opts.env,
      RANK: String(rank),
      LOCAL_RANK: String(rank),
      WORLD_SIZE: String(nprocs),
      LOCAL_WORLD_SIZE: String(nprocs),
      DS_BACKEND: 'inproc',
    };
    let w: Worker;
    try {
      w = startWorker(payload, env);
    } catch (e) {
      await Promise.all(workers.map((x) => x.terminate()));
      throw e;
    }
    workers.push(w);
    exits.push(
      new Promise<void>((resolve) => {
        let linger: NodeJS.Timeout | null = null;
        let script = false;
        w.on('message', (m: { type: 'done'; value: R } | { type: 'error'; error: SerializedError } | { type: 'script' }) => {
          if (m.type === 'script') {
            script = true;
            return;
          }
          if (m.type === 'done') {
            outcomes[rank] ??= { rank, ok: true, value: m.value };
            control.setRankState(rank, RANK_FINISHED, 'its script returned');
          } else failed(rank, deserializeError(m.error));
          // a rank whose script left handles open (timers, sockets) is stopped after a moment
          linger = setTimeout(() => void w.terminate(), 1000);
          linger.unref();
        });
        w.on('error', (e: Error) => failed(rank, e));
        w.on('exit', (code) => {
          if (linger) clearTimeout(linger);
          if (!outcomes[rank]) {
            if (code === 0 && (script || control.rankState(rank) === RANK_FINISHED)) {
              // a script that ended with process.exit(0), as a process may
              outcomes[rank] = { rank, ok: true, value: undefined as R };
              control.setRankState(rank, RANK_FINISHED, 'its script exited with code 0');
            } else failed(rank, new Error(`rank ${rank} exited with code ${code} before finishing`));
          }
          resolve();
        });
      }),
    );
  }
  try {
    await Promise.all(exits);
  } finally {
    if (graceTimer) clearTimeout(graceTimer);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return outcomes.map((o, rank) => o ?? { rank, ok: false, error: new Error(`rank ${rank} reported nothing`) });
}

/** Start `nprocs` ranks running `script`; resolves with each rank's return value, or throws LaunchError. */
export async function launchInProcess<R = unknown, A = unknown>(opts: LaunchOptions<A>): Promise<R[]> {
  const { nprocs, script, args, ...rest } = opts;
  const outcomes = await spawnInProcess<R, A>(nprocs, script, args, rest);
  if (outcomes.some((o) => !o.ok)) throw new LaunchError(outcomes);
  return outcomes.map((o) => o.value as R);
}
