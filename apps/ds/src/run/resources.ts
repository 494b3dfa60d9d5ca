// Which hosts and slots a launch uses: DeepSpeed's include/exclude/num_nodes/num_gpus rules (§7.3).
import type { ResourcePool } from './hostfile.js';

/** Hosts in rank order, each with the slot ids (local ranks / device ids) it runs. */
export type ActiveResources = Map<string, number[]>;

/** Bad resource selection; the message names the flag, the host or slot, and what is valid. */
export class ResourceError extends Error {
  override name = 'ResourceError';
}

const NODE_SEP = '@';
const SLOT_LIST_START = ':';
const SLOT_SEP = ',';

/** Every host with slots `0..slots-1`. */
export function poolToResources(pool: ResourcePool): ActiveResources {
  const out: ActiveResources = new Map();
  for (const [host, slots] of pool) out.set(host, range(slots));
  return out;
}

/**
 * Applies `--include` or `--exclude` (`host[:slot[,slot…]][@host…]`) to `hosts`.
 * Include builds a new selection (a bare host means all its slots); exclude removes slots (a
 * bare host removes the host). Duplicates are dropped, hosts left without slots are removed,
 * and the hostfile's host order is kept (it defines rank order).
 *
 * NOTE: DeepSpeed lets a later include entry for the same host replace the earlier one
 * (`a:1@a:0` → [0]); here they are merged (→ [0, 1]), which is what the syntax suggests.
 */
export function parseResourceFilter(hosts: ActiveResources, include = '', exclude = ''): ActiveResources {
  if (include !== '' && exclude !== '') {
    throw new ResourceError('--include and --exclude are mutually exclusive: use one of them');
  }
  if (include === '' && exclude === '') return hosts;
  const flag = include !== '' ? '--include' : '--exclude';
  const spec = include !== '' ? include : exclude;

  const filtered = new Map<string, Set<number>>();
  if (exclude !== '') for (const [h, s] of hosts) filtered.set(h, new Set(s));

  for (const nodeConfig of spec.split(NODE_SEP)) {
    const colon = nodeConfig.indexOf(SLOT_LIST_START);
    const hostname = colon < 0 ? nodeConfig : nodeConfig.slice(0, colon);
    if (hostname === '') {
      throw new ResourceError(`${flag} ${JSON.stringify(spec)}: empty host in ${JSON.stringify(nodeConfig)}; expected host[:slot,slot][@host…]`);
    }
    const available = hosts.get(hostname);
    if (!available) throw new ResourceError(`${flag}: ${unknownHostMessage(hostname, [...hosts.keys()])}`);

    if (colon < 0) {
      if (include !== '') filtered.set(hostname, new Set(available));
      else filtered.set(hostname, new Set());
      continue;
    }
    const slots = nodeConfig.slice(colon + 1).split(SLOT_SEP).map((s) => {
      if (!/^\d+$/.test(s)) {
        throw new ResourceError(
          `${flag}: bad slot ${JSON.stringify(s)} for host ${JSON.stringify(hostname)} in ${JSON.stringify(nodeConfig)}; ` +
            `slots are integers separated by commas, e.g. ${hostname}:0,1`,
        );
      }
      return Number(s);
    });
    for (const slot of slots) {
      if (!available.includes(slot)) {
        throw new ResourceError(
          `${flag}: host ${JSON.stringify(hostname)} has no slot ${slot} (its slots: ${available.join(', ') || 'none'})`,
        );
      }
    }
    if (include !== '') {
      const set = filtered.get(hostname) ?? new Set<number>();
      for (const s of slots) set.add(s);
      filtered.set(hostname, set);
    } else {
      const set = filtered.get(hostname)!;
      for (const s of slots) set.delete(s);
    }
  }

  const out: ActiveResources = new Map();
  for (const host of hosts.keys()) {
    const set = filtered.get(host);
    if (set && set.size > 0) out.set(host, [...set].sort((a, b) => a - b));
  }
  return out;
}

export interface ResourceRequest {
  /** The parsed hostfile, or null when there is none (local machine only). */
  pool: ResourcePool | null;
  include?: string;
  exclude?: string;
  /** `--num_nodes`: use the first N hosts. */
  numNodes?: number;
  /** `--num_gpus` / `--num_accelerators` / `--nproc`: use slots 0..N-1 on every host. */
  numGpus?: number;
  /** Slots of the local machine when there is no hostfile (accelerators, or 1 for a CPU). */
  localSlots: () => number;
  /** GPUs on this machine, counted without CUDA_VISIBLE_DEVICES (0 on a CPU-only machine). */
  gpuCount?: () => number;
  /** The launcher's CUDA_VISIBLE_DEVICES, if set. */
  cudaVisibleDevices?: string;
}

export interface ResolvedResources {
  hosts: ActiveResources;
  /** True when the hosts come from a hostfile (DeepSpeed's multi-node candidate). */
  fromHostfile: boolean;
  /** Informational messages for the user (what was inferred or ignored). */
  notes: string[];
  /** CUDA_VISIBLE_DEVICES was consumed (turned into --include or ignored) and must not reach the workers as-is. */
  consumedCudaVisibleDevices: boolean;
}

/** DeepSpeed's resource selection (runner.py `main`), with errors that say what is valid. */
export function resolveResources(req: ResourceRequest): ResolvedResources {
  let include = req.include ?? '';
  const exclude = req.exclude ?? '';
  const notes: string[] = [];
  let consumed = false;
  if (include !== '' && exclude !== '') {
    throw new ResourceError('--include and --exclude are mutually exclusive: use one of them');
  }

  // 1. CUDA_VISIBLE_DEVICES without a hostfile and without explicit selection becomes --include.
  const cvd = req.cudaVisibleDevices ?? '';
  if (!req.pool && cvd !== '' && (req.gpuCount?.() ?? 0) > 0) {
    consumed = true;
    const detected = `detected CUDA_VISIBLE_DEVICES=${cvd}`;
    if (include !== '' || exclude !== '' || req.numNodes !== undefined || req.numGpus !== undefined) {
      notes.push(`${detected} but ignoring it because --include/--exclude/--num_gpus/--num_nodes/--nproc was given`);
    } else if (/^\d+(,\d+)*$/.test(cvd)) {
      include = `localhost:${cvd}`;
      notes.push(`${detected}: setting --include=${include}`);
    } else {
      throw new ResourceError(`CUDA_VISIBLE_DEVICES=${cvd} is not a comma-separated list of device ids; unset it or pass --include`);
    }
  }

  // 2. Counts and filters do not mix.
  if ((req.numNodes !== undefined || req.numGpus !== undefined) && (include !== '' || exclude !== '')) {
    throw new ResourceError(
      'cannot combine --num_nodes/--num_gpus/--nproc with --include/--exclude: select hosts and slots with one or the other',
    );
  }

  // 3. No hostfile: the local machine only.
  let hosts: ActiveResources;
  if (!req.pool) {
    if (req.numNodes !== undefined && req.numNodes > 1) {
      throw new ResourceError(`--num_nodes ${req.numNodes} needs a hostfile that lists the nodes (-H/--hostfile); without one only this machine is used`);
    }
    hosts = new Map([['localhost', range(req.numGpus ?? req.localSlots())]]);
  } else {
    hosts = poolToResources(req.pool);
  }

  // 4. include / exclude.
  hosts = parseResourceFilter(hosts, include, exclude);

  // 5. --num_nodes keeps the first N hosts, --num_gpus uses slots 0..N-1 on each.
  if (req.numNodes !== undefined) {
    if (req.numNodes > hosts.size) {
      throw new ResourceError(
        `--num_nodes ${req.numNodes} but only ${hosts.size} host${hosts.size === 1 ? '' : 's'} available: ${[...hosts.keys()].join(', ')}`,
      );
    }
    hosts = new Map([...hosts].slice(0, req.numNodes));
  }
  if (req.numGpus !== undefined) {
    const n = req.numGpus;
    for (const [host, slots] of hosts) {
      if (req.pool && n > slots.length) {
        notes.push(`--num_gpus/--nproc ${n} is more than the ${slots.length} slot${slots.length === 1 ? '' : 's'} the hostfile gives ${host}; starting ${n} there anyway`);
      }
      hosts.set(host, range(n));
    }
  }
  if (hosts.size === 0) throw new ResourceError('no hosts left to run on after --include/--exclude');
  return { hosts, fromHostfile: req.pool !== null, notes, consumedCudaVisibleDevices: consumed };
}

/** Total number of ranks. */
export function worldSize(hosts: ActiveResources): number {
  let n = 0;
  for (const s of hosts.values()) n += s.length;
  return n;
}

/** DeepSpeed's `world_info`: URL-safe base64 of `{"host": [slots]}` (host order = rank order). */
export function encodeWorldInfo(hosts: ActiveResources): string {
  return Buffer.from(JSON.stringify(Object.fromEntries(hosts)), 'utf8').toString('base64url');
}

export function decodeWorldInfo(text: string): ActiveResources {
  let obj: unknown;
  try {
    obj = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new ResourceError(`--world_info is not base64url-encoded JSON: ${JSON.stringify(text.slice(0, 40))}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new ResourceError('--world_info must encode an object {"host": [slot, …]}');
  }
  const out: ActiveResources = new Map();
  for (const [host, slots] of Object.entries(obj)) {
    if (!Array.isArray(slots) || !slots.every((s) => Number.isInteger(s) && s >= 0)) {
      throw new ResourceError(`--world_info: slots of ${JSON.stringify(host)} must be a list of non-negative integers`);
    }
    out.set(host, slots as number[]);
  }
  if (out.size === 0) throw new ResourceError('--world_info lists no hosts');
  return out;
}

/** "host X is not in the hostfile (hosts: …); did you mean Y?" */
export function unknownHostMessage(host: string, known: string[]): string {
  const guess = didYouMean(host, known);
  return (
    `host ${JSON.stringify(host)} is not in the hostfile (hosts: ${known.join(', ')})` +
    (guess ? `; did you mean ${JSON.stringify(guess)}?` : '')
  );
}

/** The closest candidate within a small edit distance, if any. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return bestDist <= limit && bestDist < word.length ? best : undefined;
}

function editDistance(a: string, b: string): number {
  // Damerau-Levenshtein (optimal string alignment): a swap of two letters counts once.
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
