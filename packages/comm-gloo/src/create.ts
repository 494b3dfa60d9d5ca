// Creating the world group: where the options come from (arguments, then torchrun-style
// environment), which store the ranks meet through, and which address each rank listens on.
import { defaultTimeoutMs, TCPStore, type BackendInitOptions, type ProcessGroup } from '@ds/comm';
import { GlooProcessGroup, type GroupConfig } from './group.js';
import { glooLoadError, loadGlooNative } from './native.js';
import { localAddressFor, type StoreLike } from './rendezvous.js';

export interface GlooGroupOptions {
  /** This process's rank (default: env RANK, else 0). */
  rank?: number;
  /** Number of processes (default: env WORLD_SIZE, else 1). */
  size?: number;
  /** A store every rank can reach (e.g. @ds/comm's TCPStore or MemoryStore). Without it, rank 0 serves a TCPStore on masterAddr:masterPort. */
  store?: StoreLike;
  /** Rendezvous host (default: env MASTER_ADDR, else 127.0.0.1). */
  masterAddr?: string;
  /** Rendezvous port (default: env MASTER_PORT, else 29500). */
  masterPort?: number;
  /** Single host only: rendezvous through files in this shared directory (Gloo's FileStore) instead of TCP. */
  storePath?: string;
  /** Default collective timeout in ms (default: @ds/comm's: env DS_COMM_TIMEOUT_MS, else 5 minutes). */
  timeoutMs?: number;
  /** Timeout of the rendezvous (connecting all ranks and every newGroup), in ms (default: max(timeoutMs, 300 s)). */
  initTimeoutMs?: number;
  /** The address peers reach this rank on (default: env DS_GLOO_IFADDR, else the local address routing to masterAddr). */
  hostname?: string;
  /** Take the address from this network interface instead (default: env DS_GLOO_IFNAME or GLOO_SOCKET_IFNAME). */
  iface?: string;
  /** Exchange a 64-byte call descriptor before each collective to detect mismatched calls and name stragglers (default: on; env DS_COMM_CHECK=0 turns it off). */
  check?: boolean;
  /** Key prefix of this group's rendezvous (default 'gloo'); lets several jobs share one store. */
  prefix?: string;
}

const DEFAULT_PORT = 29500;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new RangeError(`gloo: environment variable ${name}=${JSON.stringify(v)} is not an integer`);
  return n;
}

/** The gloo binding, or an error that says why it is missing and how to build it. */
export function requireGlooNative() {
  const lib = loadGlooNative();
  if (!lib) {
    const err = new Error(
      `the 'gloo' backend needs @ds/comm-gloo-native, which is not available: ${glooLoadError()}\n` +
        'Install Gloo (`apt-get install -y libgloo-dev`) and run `pnpm --filter @ds/comm-gloo-native build`.',
    );
    (err as Error & { code: string }).code = 'DS_GLOO_UNAVAILABLE';
    throw err;
  }
  return lib;
}

/**
 * Connects this process to the others and returns the world group (collective: every rank
 * calls it). Options not given come from the torchrun-style environment.
 */
export async function createGlooGroup(opts: GlooGroupOptions = {}): Promise<GlooProcessGroup> {
  const lib = requireGlooNative();
  const rank = opts.rank ?? envInt('RANK') ?? 0;
  const size = opts.size ?? envInt('WORLD_SIZE') ?? 1;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`gloo: world size must be a positive integer, got ${size}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) throw new RangeError(`gloo: rank ${rank} is not in 0..${size - 1}`);
  const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs();
  if (!(timeoutMs > 0)) throw new RangeError(`gloo: timeoutMs must be positive, got ${timeoutMs}`);
  const initTimeoutMs = opts.initTimeoutMs ?? Math.max(timeoutMs, 300_000);
  const masterAddr = opts.masterAddr ?? process.env.MASTER_ADDR ?? '127.0.0.1';
  const masterPort = opts.masterPort ?? envInt('MASTER_PORT') ?? DEFAULT_PORT;
  const iface = opts.iface ?? (process.env.DS_GLOO_IFNAME || process.env.GLOO_SOCKET_IFNAME || undefined);
  let hostname = opts.hostname ?? (process.env.DS_GLOO_IFADDR || undefined);
  const check = opts.check ?? process.env.DS_COMM_CHECK !== '0';
  const prefix = opts.prefix ?? 'gloo';

  let store: StoreLike | null = opts.store ?? null;
  const cleanup: Array<() => Promise<void> | void> = [];
  if (size > 1 && !store && !opts.storePath) {
    const tcp = await TCPStore.create({ host: masterAddr, port: masterPort, isServer: rank === 0, timeoutMs: initTimeoutMs });
    cleanup.push(() => tcp.close());
    store = tcp;
  }
  if (size > 1 && !hostname && !iface) hostname = await localAddressFor(masterAddr, masterPort);

  const cfg: GroupConfig = { lib, store, storePath: opts.storePath, hostname, iface, check, timeoutMs, initTimeoutMs };
  let group: GlooProcessGroup;
  try {
    group = await GlooProcessGroup.connect(cfg, rank, Array.from({ length: size }, (_, i) => i), prefix);
  } catch (err) {
    for (const fn of cleanup) await fn();
    throw err;
  }
  for (const fn of cleanup) group.onDestroy(fn);
  return group;
}

/** @ds/comm's backend factory for 'gloo' (initDistributed calls it with its store and environment). */
export async function createWorldGroup(opts: BackendInitOptions): Promise<ProcessGroup> {
  return createGlooGroup({
    rank: opts.rank,
    size: opts.worldSize,
    store: opts.store,
    masterAddr: opts.masterAddr,
    masterPort: opts.masterPort,
    timeoutMs: opts.timeoutMs,
  });
}
