// Node flags for the processes that run ranks.
//
// V8 does much of its garbage collection (marking, scavenging, sweeping) on helper threads.
// A lone process gets that work done on cores it would leave idle. When every core already
// runs a rank's compute thread, the helpers preempt a peer rank instead, and since ranks meet
// at every collective the whole job waits for whichever rank was preempted. A training step
// allocates hundreds of megabytes of tensors, so V8 collects many times per step and the
// helpers use ~25 % of a core per rank (GPT-2 'small', 2 ranks on 2 cores: ~3,500 tokens/s
// with the helpers, ~4,000 with each rank's collector on its own thread). This is the same
// oversubscription DeepSpeed's launcher avoids by setting OMP_NUM_THREADS.
import os from 'node:os';

/** The V8 flag that keeps all garbage-collection work on the thread that allocates. */
export const SINGLE_THREADED_GC = '--single-threaded-gc';

// Flags through which a user has already chosen how V8 collects; we then add nothing.
const GC_CHOICE = /^--(no-)?(single-threaded-gc|concurrent-marking|parallel-marking|parallel-scavenge|concurrent-sweeping|parallel-compaction|v8-pool-size)\b/;

export interface RankNodeFlagsOptions {
  /** Ranks this machine runs (processes, or threads of the in-process backend). */
  ranksOnHost: number;
  /** Kernel threads per rank; default DS_NUM_THREADS, else the cores shared among the ranks. */
  threadsPerRank?: number;
  /** Cores this launcher may use; default os.availableParallelism(). */
  cores?: number;
  /** Node flags the user gave (the launcher's --node_args and NODE_OPTIONS). */
  userFlags?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * The flags a launcher adds to `node` for each rank process: `--single-threaded-gc` when the
 * ranks' compute threads fill every core, none when cores are left over (V8's helpers then use
 * them) or when the user already chose a GC flag.
 */
export function rankNodeFlags(o: RankNodeFlagsOptions): string[] {
  const env = o.env ?? process.env;
  const cores = Math.max(1, o.cores ?? os.availableParallelism());
  const userFlags = [...(o.userFlags ?? []), ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (userFlags.some((f) => GC_CHOICE.test(f))) return [];
  const ranks = Math.max(1, o.ranksOnHost);
  const fromEnv = Number(env.DS_NUM_THREADS);
  const threads = o.threadsPerRank ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.max(1, Math.floor(cores / ranks)));
  return ranks * threads >= cores ? [SINGLE_THREADED_GC] : [];
}
