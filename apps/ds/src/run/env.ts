// The environment each worker starts with (torchrun/DeepSpeed names), the variables exported
// to remote nodes, and the master-port check.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ActiveResources } from './resources.js';

export const DEFAULT_MASTER_PORT = 29500;

/** Collective backends `ds run` knows; DS_BACKEND tells @ds/comm which one to use. */
export const BACKENDS = ['gloo', 'inproc'] as const;
export type Backend = (typeof BACKENDS)[number];

/** Every variable `ds run` sets for a rank (anything inherited with these names is replaced). */
export const RANK_ENV_KEYS = [
  'RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'LOCAL_SIZE', 'GROUP_RANK', 'NODE_RANK',
  'GROUP_WORLD_SIZE', 'CROSS_RANK', 'CROSS_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'DS_BACKEND',
  'DS_INPROC_WORLD_SIZE',
] as const;

export interface NodeLayout {
  /** All hosts of the job in rank order, with their slots. */
  hosts: ActiveResources;
  /** Index of this node in `hosts`. */
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  backend: Backend;
}

export interface RankEnv {
  rank: number;
  localRank: number;
  /** Only the variables ds sets (merge over the inherited environment). */
  env: Record<string, string>;
}

/** Where one rank sits in the job. */
export interface RankCoords {
  rank: number;
  localRank: number;
  worldSize: number;
  localWorldSize: number;
  nodeRank: number;
  nodes: number;
  masterAddr: string;
  masterPort: number;
  backend: Backend;
}

/** The variables ds sets for one rank (torchrun's names plus DeepSpeed's LOCAL_SIZE/CROSS_*). */
export function rankEnv(c: RankCoords): Record<string, string> {
  return {
    RANK: String(c.rank),
    LOCAL_RANK: String(c.localRank),
    WORLD_SIZE: String(c.worldSize),
    LOCAL_WORLD_SIZE: String(c.localWorldSize),
    LOCAL_SIZE: String(c.localWorldSize),
    GROUP_RANK: String(c.nodeRank),
    NODE_RANK: String(c.nodeRank),
    GROUP_WORLD_SIZE: String(c.nodes),
    CROSS_RANK: String(c.nodeRank),
    CROSS_SIZE: String(c.nodes),
    MASTER_ADDR: c.masterAddr,
    MASTER_PORT: String(c.masterPort),
    DS_BACKEND: c.backend,
  };
}

/**
 * The environment of every process this node starts. Global ranks walk the hosts in order and
 * each host's slots in order (DeepSpeed's launch.py); CUDA_VISIBLE_DEVICES lists this node's slots.
 *
 * NOTE: DeepSpeed computes LOCAL_RANK as `rank % num_local_procs`, which is wrong when nodes
 * have different slot counts (3 + 2 slots gives node 1 the local ranks 1, 0). Here LOCAL_RANK
 * is the position of the process on its node.
 */
export function rankEnvs(layout: NodeLayout): RankEnv[] {
  const entries = [...layout.hosts];
  const node = entries[layout.nodeRank];
  if (!node) throw new RangeError(`node rank ${layout.nodeRank} is out of range: the job has ${entries.length} node(s)`);
  const [, slots] = node;
  let base = 0;
  for (let i = 0; i < layout.nodeRank; i++) base += entries[i]![1].length;
  const worldSize = entries.reduce((n, [, s]) => n + s.length, 0);
  return slots.map((_, i) => ({
    rank: base + i,
    localRank: i,
    env: {
      ...rankEnv({
        rank: base + i, localRank: i, worldSize, localWorldSize: slots.length, nodeRank: layout.nodeRank,
        nodes: entries.length, masterAddr: layout.masterAddr, masterPort: layout.masterPort, backend: layout.backend,
      }),
      CUDA_VISIBLE_DEVICES: slots.join(','),
    },
  }));
}

/**
 * The in-process backend: one process whose @ds/comm spawns `worldSize` worker threads.
 * No RANK/WORLD_SIZE/MASTER_* (a rank is a thread there, not a process).
 */
export function inprocEnv(worldSize: number): Record<string, string> {
  return { DS_BACKEND: 'inproc', DS_INPROC_WORLD_SIZE: String(worldSize) };
}

/** `base` with ds's variables removed and `set` applied (inherited torchrun variables never leak). */
export function mergeEnv(base: NodeJS.ProcessEnv, set: Record<string, string>, drop: readonly string[] = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const k of RANK_ENV_KEYS) delete env[k];
  for (const k of drop) delete env[k];
  return Object.assign(env, set);
}

// Variables DeepSpeed exports to the other nodes (plus ds's own and the thread/BLAS knobs).
const EXPORT_PREFIXES = ['NCCL', 'PYTHON', 'MV2', 'UCX', 'MLFLOW', 'GLOO', 'DS_', 'OMP_', 'OPENBLAS_', 'NODE_OPTIONS', 'NODE_PATH'];

/**
 * Variables a multi-node launch forwards to every node: those with DeepSpeed's prefixes (and
 * DS_, OMP_, OPENBLAS_, GLOO, NODE_OPTIONS, NODE_PATH), then `KEY=VALUE` lines of
 * `~/.deepspeed_env` and `./.deepspeed_env` (file name from DS_ENV_FILE), later ones winning.
 */
export function exportedEnv(env: NodeJS.ProcessEnv, cwd = process.cwd(), home = os.homedir()): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (EXPORT_PREFIXES.some((p) => k.startsWith(p))) out.set(k, v);
  }
  const name = env.DS_ENV_FILE || '.deepspeed_env';
  for (const dir of [home, cwd]) {
    const file = path.resolve(dir, name);
    if (!existsSync(file)) continue;
    for (const [k, v] of parseEnvFile(readFileSync(file, 'utf8'))) out.set(k, v);
  }
  return out;
}

/** `KEY=VALUE` lines; blank lines and `#` comments skipped. */
export function parseEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return out;
}

/** GPUs visible to the OS (NVIDIA device nodes), ignoring CUDA_VISIBLE_DEVICES. */
export function countGpus(): number {
  try {
    return readdirSync('/dev').filter((n) => /^nvidia\d+$/.test(n)).length;
  } catch {
    return 0;
  }
}

/** Local slots when nothing says how many: one per GPU, else one CPU process. */
export function defaultLocalSlots(): number {
  return Math.max(1, countGpus());
}

/** True if nothing listens on `port` (checked by binding it on all interfaces). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the OS says is free right now. */
export function pickFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, exclusive: true }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
