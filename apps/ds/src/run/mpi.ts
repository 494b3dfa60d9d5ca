// Open MPI: the `mpirun` command line of `--launcher openmpi`, and a rank's place read from
// the OMPI_COMM_WORLD_* variables mpirun gives each process.

export interface MpirunPlan {
  /** Processes in total (`-n`). */
  total: number;
  /** MPI hostfile (DeepSpeed's format is also Open MPI's); omitted for a local run. */
  hostfile?: string;
  launcherArgs: readonly string[];
  /** Exported with `-x K=V`. */
  exports: ReadonlyMap<string, string>;
  /** What every rank runs. */
  command: readonly string[];
  /**
   * The TCP interface for `--mca btl_tcp_if_include` when --launcher_args does not choose one.
   * DeepSpeed always passes eth0, which breaks on machines without it; pass undefined to let
   * Open MPI choose.
   */
  tcpInterface?: string;
}

/**
 * DeepSpeed's OpenMPIRunner: `mpirun -n N -hostfile F --mca btl ^openib
 * [--mca btl_tcp_if_include eth0] <launcher args> -x UCX_TLS=tcp -x K=V … <command>`.
 */
export function buildMpirunCommand(p: MpirunPlan): string[] {
  const args = p.launcherArgs;
  let chosesIf = false;
  for (let i = 0; i + 1 < args.length; i++) {
    if ((args[i] === '-mca' || args[i] === '--mca') && args[i + 1] === 'btl_tcp_if_include') chosesIf = true;
  }
  const btlTcp = !chosesIf && p.tcpInterface ? ['--mca', 'btl_tcp_if_include', p.tcpInterface] : [];
  const exports = new Map<string, string>([['UCX_TLS', 'tcp'], ...p.exports]);
  return [
    'mpirun',
    '-n', String(p.total),
    ...(p.hostfile ? ['-hostfile', p.hostfile] : []),
    '--mca', 'btl', '^openib',
    ...btlTcp,
    ...args,
    ...[...exports].flatMap(([k, v]) => ['-x', `${k}=${v}`]),
    ...p.command,
  ];
}

/** A rank's place in the job as a scheduler (mpirun, srun) reports it. */
export interface SchedulerRank {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  nodeRank: number;
  nodes: number;
  /** Rank 0's host, when the scheduler tells. */
  masterAddr?: string;
}

/**
 * Reads OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}; null when they are absent.
 * NOTE: Open MPI does not give a node index; it is derived as rank / local size, which holds
 * for mpirun's default by-slot mapping with the same number of ranks on every node.
 */
export function rankFromOpenMpi(env: NodeJS.ProcessEnv): SchedulerRank | null {
  if (env.OMPI_COMM_WORLD_RANK === undefined || env.OMPI_COMM_WORLD_SIZE === undefined) return null;
  const rank = int(env, 'OMPI_COMM_WORLD_RANK');
  const worldSize = int(env, 'OMPI_COMM_WORLD_SIZE');
  const localRank = env.OMPI_COMM_WORLD_LOCAL_RANK !== undefined ? int(env, 'OMPI_COMM_WORLD_LOCAL_RANK') : 0;
  const localWorldSize = env.OMPI_COMM_WORLD_LOCAL_SIZE !== undefined ? int(env, 'OMPI_COMM_WORLD_LOCAL_SIZE') : 1;
  return {
    rank,
    worldSize,
    localRank,
    localWorldSize,
    nodeRank: Math.floor(rank / localWorldSize),
    nodes: Math.ceil(worldSize / localWorldSize),
  };
}

export function int(env: NodeJS.ProcessEnv, key: string): number {
  const v = env[key];
  const n = Number(v);
  if (v === undefined || v.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new Error(`${key}=${v ?? ''} is not a non-negative integer`);
  }
  return n;
}
