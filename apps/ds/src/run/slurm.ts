// Slurm: the `srun` command line of `--launcher slurm`, and a rank's place read from the
// SLURM_* variables srun gives each task.
import { int, type SchedulerRank } from './mpi.js';

export interface SrunPlan {
  /** `-n`: tasks in total (omitted: the allocation's). */
  ntasks?: number;
  /** `--nodes`. */
  nodes?: number;
  /** `--ntasks-per-node` (ds's --num_gpus/--nproc: processes per node). */
  ntasksPerNode?: number;
  /** `--nodelist` (from --include or the hostfile's hosts). */
  nodelist?: readonly string[];
  /** `--exclude` (from --exclude). */
  exclude?: readonly string[];
  launcherArgs: readonly string[];
  /** Added to `--export=ALL,…`. */
  exports: ReadonlyMap<string, string>;
  command: readonly string[];
}

/**
 * `srun [-n N] [--nodes N] [--ntasks-per-node G] [--nodelist …] [--exclude …] <launcher args>
 * --export=ALL,K=V,… <command>`.
 *
 * NOTE: DeepSpeed's SlurmRunner passes `--include` (srun has no such option) and `--gpus N`
 * for --num_gpus; here include becomes --nodelist and --num_gpus the tasks per node.
 * Values containing a comma cannot go through --export and are returned in `skipped`
 * (they still reach the tasks when set in the environment srun inherits, as --export=ALL does).
 */
export function buildSrunCommand(p: SrunPlan): { argv: string[]; skipped: string[] } {
  const argv = ['srun'];
  if (p.ntasks !== undefined) argv.push('-n', String(p.ntasks));
  if (p.nodes !== undefined) argv.push('--nodes', String(p.nodes));
  if (p.ntasksPerNode !== undefined) argv.push('--ntasks-per-node', String(p.ntasksPerNode));
  if (p.nodelist && p.nodelist.length > 0) argv.push(`--nodelist=${p.nodelist.join(',')}`);
  if (p.exclude && p.exclude.length > 0) argv.push(`--exclude=${p.exclude.join(',')}`);
  argv.push(...p.launcherArgs);
  const skipped: string[] = [];
  let exports = '--export=ALL';
  for (const [k, v] of p.exports) {
    if (v.includes(',')) skipped.push(k);
    else exports += `,${k}=${v}`;
  }
  argv.push(exports, ...p.command);
  return { argv, skipped };
}

/** Hosts of a Slurm hostlist: `node[01-03,7],gpu-a[1-2]-ib` → node01 node02 node03 node7 gpu-a1-ib gpu-a2-ib. */
export function expandNodelist(list: string): string[] {
  const out: string[] = [];
  for (const item of splitTopLevel(list)) if (item !== '') out.push(...expandOne(item));
  return out;
}

function splitTopLevel(list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of list) {
    if (c === '[') depth++;
    else if (c === ']') depth--;
    if (c === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts.map((s) => s.trim());
}

function expandOne(item: string): string[] {
  const open = item.indexOf('[');
  if (open < 0) return [item];
  const close = item.indexOf(']', open);
  if (close < 0) throw new Error(`bad Slurm hostlist entry ${JSON.stringify(item)}: missing ]`);
  const prefix = item.slice(0, open);
  const rest = expandOne(item.slice(close + 1));
  const out: string[] = [];
  for (const range of item.slice(open + 1, close).split(',')) {
    const [a, b] = range.split('-');
    if (b === undefined) {
      for (const r of rest) out.push(prefix + a + r);
      continue;
    }
    const width = a!.length;
    for (let n = Number(a); n <= Number(b); n++) {
      for (const r of rest) out.push(prefix + String(n).padStart(width, '0') + r);
    }
  }
  return out;
}

/** `SLURM_TASKS_PER_NODE` → per-node counts: `2(x3),1` → [2, 2, 2, 1]. */
export function expandTasksPerNode(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?:\(x(\d+)\))?$/.exec(part.trim());
    if (!m) throw new Error(`bad SLURM_TASKS_PER_NODE entry ${JSON.stringify(part)}`);
    for (let i = 0; i < Number(m[2] ?? 1); i++) out.push(Number(m[1]));
  }
  return out;
}

/** Reads SLURM_PROCID/NTASKS/LOCALID/NODEID/…; null outside an srun task. */
export function rankFromSlurm(env: NodeJS.ProcessEnv): SchedulerRank | null {
  if (env.SLURM_PROCID === undefined) return null;
  const rank = int(env, 'SLURM_PROCID');
  const worldSize = int(env, env.SLURM_NTASKS !== undefined ? 'SLURM_NTASKS' : 'SLURM_NPROCS');
  const localRank = env.SLURM_LOCALID !== undefined ? int(env, 'SLURM_LOCALID') : 0;
  const nodeRank = env.SLURM_NODEID !== undefined ? int(env, 'SLURM_NODEID') : 0;
  const nodesKey = env.SLURM_STEP_NUM_NODES !== undefined ? 'SLURM_STEP_NUM_NODES' : 'SLURM_NNODES';
  const nodes = env[nodesKey] !== undefined ? int(env, nodesKey) : 1;
  const perNode = env.SLURM_STEP_TASKS_PER_NODE ?? env.SLURM_TASKS_PER_NODE;
  const localWorldSize = perNode ? expandTasksPerNode(perNode)[nodeRank] ?? 1 : Math.ceil(worldSize / nodes);
  const nodelist = env.SLURM_STEP_NODELIST ?? env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
  const masterAddr = nodelist ? expandNodelist(nodelist)[0] : undefined;
  return { rank, worldSize, localRank, localWorldSize, nodeRank, nodes, masterAddr };
}
