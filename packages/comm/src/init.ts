// initDistributed(): join the job this process (or thread) belongs to and return the world
// group, like deepspeed.init_distributed / torch.distributed.init_process_group.
//
//  * inside launchInProcess: the in-process world (threads sharing memory);
//  * a process started by `ds run`, torchrun, mpirun or srun: a process backend ('gloo' by
//    default; DS_BACKEND or `backend` picks another), whose package is imported on demand and
//    whose ranks meet through a TCPStore served by rank 0 at MASTER_ADDR:MASTER_PORT;
//  * a process started with DS_INPROC_WORLD_SIZE=N as `node script.js` (`ds run --backend
//    inproc` starts @ds/comm/inproc-host instead, which runs the script only as the ranks): it
//    re-runs its own entry script as N in-process ranks (threads) and exits with their
//    outcome, so initDistributed never returns in it (like torch.multiprocessing.spawn, code
//    before initDistributed runs once more in every rank);
//  * a lone process: a world of one (in-process backend).
import { pathToFileURL } from 'node:url';
import { loadBackend } from './backend.js';
import { LaunchError, launchInProcess } from './inproc/launch.js';
import { readLaunchEnv, type LaunchEnv } from './env.js';
import { StoreTimeoutError } from './errors.js';
import { defaultTimeoutMs } from './group.js';
import { createSoloWorld } from './inproc/group.js';
import { inprocRuntime, setInprocRuntime, workerPayload } from './inproc/worker.js';
import { TCPStore } from './store/tcp.js';
import type { ProcessGroup, RankInfo, Store } from './types.js';
import { checkTimeout } from './validate.js';

export interface InitOptions {
  /** 'inproc' | 'gloo' | 'mpi' | 'nccl' | a package name; default DS_BACKEND, else 'gloo' for several processes. */
  backend?: string;
  /** Default collective timeout of the world group (ms; default DS_COMM_TIMEOUT_MS or 5 minutes). */
  timeoutMs?: number;
  /** Override what the environment says. */
  rank?: number;
  worldSize?: number;
  localRank?: number;
  localWorldSize?: number;
  masterAddr?: string;
  masterPort?: number;
  /** Use this store for the rendezvous instead of a TCPStore. */
  store?: Store;
  /** Read launcher variables from here instead of process.env. */
  env?: Record<string, string | undefined>;
}

interface DistState {
  world: ProcessGroup;
  info: RankInfo;
  store: Store | null;
  ownsStore: boolean;
  /** The world group's own destroy (process backends wrap `world.destroy` to end everything). */
  destroyWorld?: () => Promise<void>;
}

const STATE_KEY = Symbol.for('@ds/comm.distState');
const slot = globalThis as { [STATE_KEY]?: DistState };

export function isInitialized(): boolean {
  return slot[STATE_KEY] !== undefined;
}

function state(what: string): DistState {
  const s = slot[STATE_KEY];
  if (!s) throw new Error(`${what}: the distributed backend is not initialised; call await initDistributed() first`);
  return s;
}

/** Join the job and return the world group (idempotent: later calls return the same group). */
export async function initDistributed(opts: InitOptions = {}): Promise<ProcessGroup> {
  const existing = slot[STATE_KEY];
  if (existing) return existing.world;
  const env = opts.env ?? process.env;
  const timeoutMs = opts.timeoutMs !== undefined ? checkTimeout('initDistributed', opts.timeoutMs) : defaultTimeoutMs();

  const rt = inprocRuntime();
  if (rt) {
    const requested = opts.backend ?? env.DS_BACKEND;
    if (requested && requested !== 'inproc') {
      throw new Error(`initDistributed: this rank is a thread started by launchInProcess, which only runs the 'inproc' backend (asked for '${requested}')`);
    }
    if (opts.timeoutMs !== undefined) rt.world.timeoutMs = timeoutMs;
    const info = { rank: rt.info.rank, worldSize: rt.info.worldSize, localRank: rt.info.rank, localWorldSize: rt.info.worldSize };
    slot[STATE_KEY] = { world: rt.world, info, store: null, ownsStore: false };
    return rt.world;
  }

  const le: LaunchEnv = readLaunchEnv(env);
  const info: RankInfo = {
    rank: opts.rank ?? le.rank,
    worldSize: opts.worldSize ?? le.worldSize,
    localRank: opts.localRank ?? le.localRank,
    localWorldSize: opts.localWorldSize ?? le.localWorldSize,
  };
  const backend = opts.backend ?? (env.DS_BACKEND || (info.worldSize > 1 ? 'gloo' : 'inproc'));

  if (backend === 'inproc') {
    const threads = Number(env.DS_INPROC_WORLD_SIZE ?? 1);
    if (threads > 1 && info.worldSize === 1 && process.argv[1]) return runAsThreads(threads, process.argv[1], timeoutMs);
    if (info.worldSize > 1) {
      throw new Error(
        `initDistributed: backend 'inproc' runs ranks as threads of one process (start them with launchInProcess({ nprocs, script })), ` +
          `but this process is rank ${info.rank} of ${info.worldSize} processes (from the ${le.source} environment); use a process backend such as 'gloo'`,
      );
    }
    const solo = createSoloWorld(timeoutMs);
    setInprocRuntime(solo);
    slot[STATE_KEY] = { world: solo.world, info, store: null, ownsStore: false };
    return solo.world;
  }

  const factory = await loadBackend(backend);
  const masterAddr = opts.masterAddr ?? le.masterAddr ?? (info.localWorldSize === info.worldSize ? '127.0.0.1' : undefined);
  const masterPort = opts.masterPort ?? le.masterPort ?? 29500;
  if (!masterAddr) {
    throw new Error(`initDistributed: MASTER_ADDR is not set; with ${info.worldSize} ranks over several nodes every rank needs the address of rank 0 (MASTER_ADDR, MASTER_PORT)`);
  }
  let store = opts.store ?? null;
  const ownsStore = !store;
  store ??= await TCPStore.create({ host: masterAddr, port: masterPort, isServer: info.rank === 0, timeoutMs });
  try {
    await rendezvous(store, info, timeoutMs);
    const world = await factory({ ...info, masterAddr, masterPort, store, timeoutMs });
    slot[STATE_KEY] = { world, info, store, ownsStore, destroyWorld: world.destroy.bind(world) };
    // Destroying the world group directly ends the whole distributed state, store included:
    // otherwise the store's sockets would keep the process alive after `world.destroy()`.
    world.destroy = () => (slot[STATE_KEY]?.world === world ? destroyProcessGroup() : Promise.resolve());
    return world;
  } catch (e) {
    if (ownsStore) await store.close();
    throw e;
  }
}

/**
 * Every rank announces itself under `rdzv/<rank>` and waits for the others; a timeout names
 * the ranks that never joined.
 */
export async function rendezvous(store: Store, info: RankInfo, timeoutMs: number, prefix = 'ds/rdzv'): Promise<void> {
  await store.set(`${prefix}/${info.rank}`, JSON.stringify({ pid: process.pid, localRank: info.localRank }));
  const keys = Array.from({ length: info.worldSize }, (_, r) => `${prefix}/${r}`);
  try {
    await store.wait(keys, timeoutMs);
  } catch (e) {
    if (e instanceof StoreTimeoutError) {
      const missing = e.missingKeys.map((k) => k.slice(prefix.length + 1));
      throw new Error(`initDistributed: rank(s) ${missing.join(', ')} of ${info.worldSize} did not join within ${timeoutMs} ms`, { cause: e });
    }
    throw e;
  }
}

/** This rank in the world group (or in `group`). */
export function getRank(group?: ProcessGroup): number {
  return group ? group.rank : state('getRank').world.rank;
}
export function getWorldSize(group?: ProcessGroup): number {
  return group ? group.size : state('getWorldSize').world.size;
}
/** LOCAL_RANK (then OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID; 0), or the thread's rank in-process. */
export function getLocalRank(): number {
  const s = slot[STATE_KEY];
  if (s) return s.info.localRank;
  return readLaunchEnv().localRank;
}
export function getWorldGroup(): ProcessGroup {
  return state('getWorldGroup').world;
}
/** The rendezvous store of a process backend (null in-process). */
export function getStore(): Store | null {
  return state('getStore').store;
}

/** Destroy `group`, or (no argument) the world group and the whole distributed state. */
export async function destroyProcessGroup(group?: ProcessGroup): Promise<void> {
  const s = slot[STATE_KEY];
  if (group && group !== s?.world) {
    await group.destroy();
    return;
  }
  if (!s) return;
  delete slot[STATE_KEY];
  await (s.destroyWorld ?? (() => s.world.destroy()))();
  if (s.ownsStore && s.store) await s.store.close();
  // a solo world can be created afresh; a launched rank's thread keeps its runtime (its peers do)
  if (!workerPayload()) setInprocRuntime(null);
}

/** This process becomes the launcher of `n` in-process ranks running `script`; it exits with their outcome. */
async function runAsThreads(n: number, script: string, timeoutMs: number): Promise<never> {
  if (!Number.isInteger(n)) throw new RangeError(`DS_INPROC_WORLD_SIZE must be a positive integer, got ${JSON.stringify(process.env.DS_INPROC_WORLD_SIZE)}`);
  try {
    await launchInProcess({ nprocs: n, script: pathToFileURL(script), timeoutMs, argv: process.argv });
    process.exit(0);
  } catch (err) {
    process.stderr.write(`${err instanceof LaunchError ? err.message : err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  }
}
