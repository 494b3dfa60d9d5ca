// Where this process sits in the job, from the launcher's environment: torchrun / `ds run`
// (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), Open MPI's
// mpirun (OMPI_COMM_WORLD_*) or Slurm's srun (SLURM_*), in that order of precedence.
import type { RankInfo } from './types.js';

export interface LaunchEnv extends RankInfo {
  masterAddr: string | undefined;
  masterPort: number | undefined;
  /** Which launcher's variables were found ('none': a single process started by hand). */
  source: 'torchrun' | 'openmpi' | 'slurm' | 'none';
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, min: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new RangeError(`environment variable ${name}=${JSON.stringify(v)} is not ${min === 0 ? 'a non-negative' : 'a positive'} integer`);
  }
  return n;
}

/** Slurm's "4(x2),3" task list -> tasks on node `nodeId`. */
function slurmTasksOnNode(spec: string | undefined, nodeId: number): number | undefined {
  if (!spec) return undefined;
  const counts: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?:\(x(\d+)\))?$/.exec(part.trim());
    if (!m) return undefined;
    for (let i = 0; i < Number(m[2] ?? 1); i++) counts.push(Number(m[1]));
  }
  return counts[nodeId] ?? counts[0];
}

/** Read the rank layout from the environment; throws naming the variable when one is malformed. */
export function readLaunchEnv(env: Env = process.env): LaunchEnv {
  const masterAddr = env.MASTER_ADDR || undefined;
  const masterPort = int(env, 'MASTER_PORT', 1);
  if (masterPort !== undefined && masterPort > 65535) throw new RangeError(`environment variable MASTER_PORT=${env.MASTER_PORT} is not a TCP port (1..65535)`);
  let out: LaunchEnv;
  if (env.RANK !== undefined || env.WORLD_SIZE !== undefined) {
    const rank = int(env, 'RANK', 0);
    const worldSize = int(env, 'WORLD_SIZE', 1);
    if (rank === undefined || worldSize === undefined) {
      throw new Error(`RANK and WORLD_SIZE must be set together (RANK=${env.RANK ?? 'unset'}, WORLD_SIZE=${env.WORLD_SIZE ?? 'unset'})`);
    }
    const localRank = int(env, 'LOCAL_RANK', 0) ?? int(env, 'OMPI_COMM_WORLD_LOCAL_RANK', 0) ?? 0;
    const localWorldSize = int(env, 'LOCAL_WORLD_SIZE', 1) ?? int(env, 'LOCAL_SIZE', 1) ?? worldSize;
    out = { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort, source: 'torchrun' };
  } else if (env.OMPI_COMM_WORLD_RANK !== undefined) {
    const rank = int(env, 'OMPI_COMM_WORLD_RANK', 0)!;
    const worldSize = int(env, 'OMPI_COMM_WORLD_SIZE', 1) ?? 1;
    const localRank = int(env, 'OMPI_COMM_WORLD_LOCAL_RANK', 0) ?? 0;
    const localWorldSize = int(env, 'OMPI_COMM_WORLD_LOCAL_SIZE', 1) ?? worldSize;
    out = { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort, source: 'openmpi' };
  } else if (env.SLURM_PROCID !== undefined) {
    const rank = int(env, 'SLURM_PROCID', 0)!;
    const worldSize = int(env, 'SLURM_NTASKS', 1) ?? int(env, 'SLURM_NPROCS', 1) ?? 1;
    const localRank = int(env, 'SLURM_LOCALID', 0) ?? 0;
    const nodeId = int(env, 'SLURM_NODEID', 0) ?? 0;
    const localWorldSize = slurmTasksOnNode(env.SLURM_TASKS_PER_NODE ?? env.SLURM_NTASKS_PER_NODE, nodeId) ?? worldSize;
    out = { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort, source: 'slurm' };
  } else {
    out = { rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, masterAddr, masterPort, source: 'none' };
  }
  if (out.rank >= out.worldSize) {
    throw new RangeError(`rank ${out.rank} is out of range for a world of ${out.worldSize} (from the ${out.source} environment)`);
  }
  if (out.localRank >= out.localWorldSize) {
    throw new RangeError(`local rank ${out.localRank} is out of range for ${out.localWorldSize} local ranks (from the ${out.source} environment)`);
  }
  return out;
}
