// `ds run`: picks the launch mode (local processes, one node of a multi-node job, ssh/pdsh
// across the hostfile, mpirun, srun, or one rank under mpirun/srun) and runs it.
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rankNodeFlags } from '@ds/comm';
import { inprocHostPath, scriptCommand } from './command.js';
import {
  DEFAULT_MASTER_PORT, defaultLocalSlots, countGpus, exportedEnv, inprocEnv, isPortFree, mergeEnv, pickFreePort,
  rankEnv, rankEnvs, type Backend,
} from './env.js';
import { DEFAULT_HOSTFILE, HostfileError, readHostfile } from './hostfile.js';
import { buildMpirunCommand, rankFromOpenMpi, type SchedulerRank } from './mpi.js';
import { rankPrefix } from './prefix.js';
import {
  decodeWorldInfo, encodeWorldInfo, ResourceError, resolveResources, worldSize, type ActiveResources,
} from './resources.js';
import { buildSrunCommand, rankFromSlurm } from './slurm.js';
import { supervise, type WorkerSpec } from './spawn.js';
import { buildPdshCommand, buildSshCommands, checkSsh, detectMasterAddr, remoteCommand, shellJoin, splitArgs } from './ssh.js';

export const LAUNCHERS = ['ssh', 'pdsh', 'openmpi', 'slurm'] as const;
export type Launcher = (typeof LAUNCHERS)[number];

/** `ds run`'s options (see README.md and `ds run --help`). */
export interface RunOptions {
  script: string;
  scriptArgs: string[];
  nproc?: number;
  numGpus?: number;
  numNodes?: number;
  /** -H/--hostfile when given (else DeepSpeed's /job/hostfile, used only if it exists). */
  hostfile?: string;
  include: string;
  exclude: string;
  masterAddr?: string;
  masterPort?: number;
  nodeRank?: number;
  launcher: Launcher;
  launcherArgs: string;
  noSsh: boolean;
  noSshCheck: boolean;
  forceMulti: boolean;
  sshPort?: number;
  eachRankLog?: string;
  localRankArg: boolean;
  backend: Backend;
  dev: boolean;
  noNode: boolean;
  nodeArgs: string;
  dryRun: boolean;
  /** Internal: this is one node of a multi-node job (base64url `{host: [slots]}`). */
  worldInfo?: string;
  /** Internal: stop when stdin closes (set on nodes started over ssh). */
  watchStdin: boolean;
  /** Take this rank's place from mpirun's or srun's variables (auto-detected when absent). */
  rankEnv?: 'openmpi' | 'slurm';
  /** SIGTERM → SIGKILL grace when stopping workers, ms. */
  graceMs?: number;
}

export interface RunContext {
  /** How to start this CLI again (node, its flags, the script): used for remote nodes and mpirun/srun ranks. */
  self: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Forward the launcher's SIGINT/SIGTERM/SIGHUP to the workers (the CLI does; tests don't). */
  handleSignals: boolean;
  /** MASTER_PORT when --master_port is not given (default 29500; tests use another). */
  defaultMasterPort?: number;
  /**
   * Width of the terminal the launcher's stderr is (absent when it is not one). Local workers
   * then get DS_TTY=1 and COLUMNS (the width left after their prefix) so they may draw progress
   * bars, and their redraws are passed through live.
   */
  terminalColumns?: number;
}

/** A command line that cannot run; reported as `ds run: error: …` with exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Runs `ds run` and returns its exit code (bad arguments: 2, after printing why). */
export async function runCommand(o: RunOptions, ctx: RunContext): Promise<number> {
  try {
    return await dispatch(o, ctx);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ResourceError || e instanceof HostfileError) {
      ctx.stderr(`ds run: error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

async function dispatch(o: RunOptions, ctx: RunContext): Promise<number> {
  if (o.nproc !== undefined && o.numGpus !== undefined && o.nproc !== o.numGpus) {
    throw new UsageError(`--nproc ${o.nproc} and --num_gpus ${o.numGpus} disagree; they are the same setting (processes per node)`);
  }
  const scheduler = o.rankEnv ?? detectScheduler(o, ctx.env);
  if (scheduler) return runSchedulerRank(scheduler, o, ctx);
  if (o.worldInfo !== undefined) {
    if (o.nodeRank === undefined) throw new UsageError('--world_info needs --node_rank');
    if (o.masterAddr === undefined) throw new UsageError('--world_info needs --master_addr');
    return runNode(decodeWorldInfo(o.worldInfo), o.nodeRank, o.masterAddr, o, ctx, { autoPort: false });
  }
  if (o.launcher === 'openmpi') return runMpirun(o, ctx);
  if (o.launcher === 'slurm') return runSrun(o, ctx);

  const pool = readHostfile(o.hostfile ?? DEFAULT_HOSTFILE, o.hostfile !== undefined);
  const resolved = resolveResources({
    pool,
    include: o.include,
    exclude: o.exclude,
    numNodes: o.numNodes,
    numGpus: o.nproc ?? o.numGpus,
    localSlots: defaultLocalSlots,
    gpuCount: countGpus,
    cudaVisibleDevices: ctx.env.CUDA_VISIBLE_DEVICES,
  });
  for (const note of resolved.notes) ctx.stderr(`ds run: ${note}\n`);
  const hosts = resolved.hosts;
  const drop = resolved.consumedCudaVisibleDevices ? ['CUDA_VISIBLE_DEVICES'] : [];
  if (o.backend === 'inproc' && (hosts.size > 1 || o.forceMulti)) {
    throw new UsageError(`--backend inproc runs every rank as a thread of one process on one machine; ${hosts.size} hosts were selected (use --backend gloo)`);
  }
  if ((o.forceMulti || hosts.size > 1) && !o.noSsh) return runMultiNode(hosts, o, ctx);
  if (hosts.size > 1) {
    // --no_ssh: this command runs on every node by hand, each with its own --node_rank.
    if (o.nodeRank === undefined) throw new UsageError(`--no_ssh with ${hosts.size} hosts needs --node_rank (0..${hosts.size - 1}) on each node`);
    if (o.masterAddr === undefined) throw new UsageError('--no_ssh with several hosts needs --master_addr (the address of the first host)');
    return runNode(hosts, o.nodeRank, o.masterAddr, o, ctx, { autoPort: false, drop });
  }
  return runNode(hosts, 0, o.masterAddr ?? '127.0.0.1', o, ctx, { autoPort: o.masterPort === undefined, drop });
}

/** Under mpirun or srun without --launcher: take the rank from their variables, if any. */
function detectScheduler(o: RunOptions, env: NodeJS.ProcessEnv): 'openmpi' | 'slurm' | undefined {
  if (o.worldInfo !== undefined || o.launcher === 'openmpi' || o.launcher === 'slurm') return undefined;
  const explicit = o.nproc ?? o.numGpus ?? o.numNodes ?? o.hostfile ?? (o.include || o.exclude || undefined);
  if (explicit !== undefined) return undefined;
  if (env.OMPI_COMM_WORLD_RANK !== undefined) return 'openmpi';
  // An sbatch script has SLURM_PROCID too; only an srun step also has SLURM_STEP_ID.
  if (env.SLURM_PROCID !== undefined && env.SLURM_STEP_ID !== undefined) return 'slurm';
  return undefined;
}

interface NodeRunOptions {
  /** Pick a free MASTER_PORT if the default one is busy. */
  autoPort: boolean;
  /** Inherited variables the workers must not see. */
  drop?: string[];
}

/** Starts this node's ranks (or the one in-process-backend process) and supervises them. */
async function runNode(
  hosts: ActiveResources, nodeRank: number, masterAddr: string, o: RunOptions, ctx: RunContext, n: NodeRunOptions,
): Promise<number> {
  const entries = [...hosts];
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= entries.length) {
    throw new UsageError(`--node_rank ${nodeRank} is out of range: the job has ${entries.length} node(s) (${entries.map(([h]) => h).join(', ')})`);
  }
  checkScript(o, ctx);
  const logDir = prepareLogDir(o, ctx);
  const stamp = timestamp();
  let specs: WorkerSpec[];
  if (o.backend === 'inproc') {
    if (o.noNode) throw new UsageError('--no_node cannot be used with --backend inproc: the ranks are threads of one node process');
    // A light host process loads only the launcher; the script is imported by the ranks alone.
    const cmd = scriptCommand({ ...scriptOpts(o, ctx, worldSize(hosts)), localRank: o.localRankArg ? 0 : undefined, host: inprocHostPath() });
    specs = [{
      label: `the process (inproc backend, ${worldSize(hosts)} ranks)`,
      ...cmd,
      env: mergeEnv(ctx.env, inprocEnv(worldSize(hosts)), n.drop),
      cwd: ctx.cwd,
      prefix: '',
      logFile: logDir && path.join(logDir, `${stamp}_rank0.log`),
    }];
  } else {
    const defaultPort = ctx.defaultMasterPort ?? DEFAULT_MASTER_PORT;
    let masterPort = o.masterPort ?? defaultPort;
    if (n.autoPort && !(await isPortFree(masterPort))) {
      masterPort = await pickFreePort();
      ctx.stderr(`ds run: port ${defaultPort} is busy; using MASTER_PORT=${masterPort}\n`);
    }
    const ranksOnHost = entries[nodeRank]![1].length;
    specs = rankEnvs({ hosts, nodeRank, masterAddr, masterPort, backend: o.backend }).map((r) => ({
      label: `rank ${r.rank}`,
      ...scriptCommand({ ...scriptOpts(o, ctx, ranksOnHost), localRank: o.localRankArg ? r.localRank : undefined }),
      env: mergeEnv(ctx.env, r.env, n.drop),
      cwd: ctx.cwd,
      prefix: rankPrefix(r.rank),
      logFile: logDir && path.join(logDir, `${stamp}_rank${r.rank}.log`),
    }));
  }
  if (ctx.terminalColumns !== undefined) specs = specs.map((s) => (s.logFile ? s : onTerminal(s, ctx.terminalColumns!)));
  if (o.dryRun) {
    for (const s of specs) ctx.stdout(`${s.label}: ${dryRunLine(s, ctx.env)}\n`);
    return 0;
  }
  return (await supervise(specs, supervisorOptions(o, ctx))).exitCode;
}

/** One rank started by mpirun or srun: read its place from their variables and run the script. */
async function runSchedulerRank(kind: 'openmpi' | 'slurm', o: RunOptions, ctx: RunContext): Promise<number> {
  const r: SchedulerRank | null = kind === 'openmpi' ? rankFromOpenMpi(ctx.env) : rankFromSlurm(ctx.env);
  if (!r) {
    throw new UsageError(kind === 'openmpi'
      ? '--rank_env openmpi but OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE are not set (is this running under mpirun?)'
      : '--rank_env slurm but SLURM_PROCID is not set (is this running under srun?)');
  }
  if (o.backend === 'inproc') throw new UsageError(`--backend inproc cannot run under ${kind === 'openmpi' ? 'mpirun' : 'srun'}: each rank is a process there`);
  const masterAddr = o.masterAddr ?? ctx.env.MASTER_ADDR ?? r.masterAddr ?? (r.nodes === 1 ? '127.0.0.1' : undefined);
  if (masterAddr === undefined) throw new UsageError(`cannot tell rank 0's address under ${kind}; pass --master_addr or set MASTER_ADDR`);
  const masterPort = o.masterPort ?? (ctx.env.MASTER_PORT ? Number(ctx.env.MASTER_PORT) : DEFAULT_MASTER_PORT);
  checkScript(o, ctx);
  const logDir = prepareLogDir(o, ctx);
  const spec: WorkerSpec = {
    label: `rank ${r.rank}`,
    ...scriptCommand({ ...scriptOpts(o, ctx, r.localWorldSize), localRank: o.localRankArg ? r.localRank : undefined }),
    env: mergeEnv(ctx.env, rankEnv({ ...r, masterAddr, masterPort, backend: o.backend })),
    cwd: ctx.cwd,
    prefix: rankPrefix(r.rank),
    logFile: logDir && path.join(logDir, `${timestamp()}_rank${r.rank}.log`),
  };
  if (o.dryRun) {
    ctx.stdout(`${spec.label}: ${dryRunLine(spec, ctx.env)}\n`);
    return 0;
  }
  return (await supervise([spec], supervisorOptions(o, ctx))).exitCode;
}

/** A local worker whose output reaches a terminal: it may draw in the columns its prefix leaves. */
function onTerminal(s: WorkerSpec, columns: number): WorkerSpec {
  return { ...s, live: true, env: { ...s.env, DS_TTY: '1', COLUMNS: String(Math.max(20, columns - s.prefix.length)) } };
}

/** ssh (default) or pdsh: one `ds run --world_info … --node_rank i` per host. */
async function runMultiNode(hosts: ActiveResources, o: RunOptions, ctx: RunContext): Promise<number> {
  const names = [...hosts.keys()];
  const first = names[0]!;
  if (!o.noSshCheck && !o.dryRun) {
    const why = checkSsh(first, o.sshPort);
    if (why) {
      throw new UsageError(
        `host ${first} (the first of ${names.length}) is not reachable with passwordless ssh: ${why}. ` +
          `Set up ssh keys, pass --no_ssh_check to skip this check, or for a single-node run drop the hostfile ` +
          `(${o.hostfile ?? DEFAULT_HOSTFILE}) or pick one host with --include`,
      );
    }
  }
  let masterAddr = o.masterAddr;
  if (masterAddr === undefined) {
    if (o.dryRun) masterAddr = first;
    else {
      try {
        masterAddr = detectMasterAddr(first, o.sshPort);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
  }
  const masterPort = o.masterPort ?? DEFAULT_MASTER_PORT;
  const worldInfo = encodeWorldInfo(hosts);
  const exports = exportedEnv(ctx.env, ctx.cwd);
  const launcherArgs = splitArgs(o.launcherArgs);
  const nodeCommand = (rank: string, watch: boolean) => [
    ...ctx.self, 'run', `--world_info=${worldInfo}`, `--node_rank=${rank}`,
    ...workerFlags(o, ctx, masterAddr, masterPort), ...(watch ? ['--watch_stdin'] : []),
    '--', o.script, ...o.scriptArgs,
  ];

  let specs: WorkerSpec[];
  if (o.launcher === 'pdsh') {
    const { argv, env } = buildPdshCommand({ hosts: names, launcherArgs, remote: remoteCommand(ctx.cwd, exports, nodeCommand('%n', false)) });
    specs = [{ label: 'pdsh', command: argv[0]!, args: argv.slice(1), env: { ...ctx.env, ...env }, cwd: ctx.cwd, prefix: '' }];
  } else {
    const cmds = buildSshCommands({
      hosts: names, sshPort: o.sshPort, launcherArgs,
      remote: (i) => remoteCommand(ctx.cwd, exports, nodeCommand(String(i), true)),
    });
    specs = cmds.map((argv, i) => ({
      label: `node ${i} (${names[i]})`, command: argv[0]!, args: argv.slice(1), env: ctx.env, cwd: ctx.cwd, prefix: '', stdin: 'pipe' as const,
    }));
  }
  if (o.dryRun) {
    for (const s of specs) ctx.stdout(`${s.label}: ${shellJoin([s.command, ...s.args])}\n`);
    return 0;
  }
  return (await supervise(specs, supervisorOptions(o, ctx))).exitCode;
}

/** `--launcher openmpi`: mpirun starts every rank as `ds run --rank_env openmpi …`. */
async function runMpirun(o: RunOptions, ctx: RunContext): Promise<number> {
  if (o.include || o.exclude) throw new UsageError('--launcher openmpi does not support --include/--exclude: list the hosts and slots in the hostfile');
  if (o.numNodes !== undefined) throw new UsageError('--launcher openmpi does not support --num_nodes: list the hosts in the hostfile');
  const pool = readHostfile(o.hostfile ?? DEFAULT_HOSTFILE, o.hostfile !== undefined);
  const perNode = o.nproc ?? o.numGpus;
  if (pool && perNode !== undefined) throw new UsageError('--launcher openmpi with a hostfile takes the process counts from its slots; drop --nproc/--num_gpus');
  if (o.backend === 'inproc') throw new UsageError('--backend inproc cannot run under mpirun: each rank is a process there');
  const total = pool ? [...pool.values()].reduce((a, b) => a + b, 0) : perNode ?? defaultLocalSlots();
  const masterAddr = o.masterAddr ?? (pool ? [...pool.keys()][0]! : '127.0.0.1');
  const masterPort = o.masterPort ?? DEFAULT_MASTER_PORT;
  const argv = buildMpirunCommand({
    total,
    hostfile: pool ? o.hostfile ?? DEFAULT_HOSTFILE : undefined,
    launcherArgs: splitArgs(o.launcherArgs),
    exports: exportedEnv(ctx.env, ctx.cwd),
    command: [...ctx.self, 'run', '--rank_env=openmpi', ...workerFlags(o, ctx, masterAddr, masterPort), '--', o.script, ...o.scriptArgs],
    tcpInterface: os.networkInterfaces().eth0 ? 'eth0' : undefined,
  });
  return runSchedulerCommand('mpirun', argv, o, ctx);
}

/** `--launcher slurm`: srun starts every rank as `ds run --rank_env slurm …`. */
async function runSrun(o: RunOptions, ctx: RunContext): Promise<number> {
  for (const [flag, spec] of [['--include', o.include], ['--exclude', o.exclude]] as const) {
    if (spec.includes(':')) throw new UsageError(`--launcher slurm selects whole nodes: ${flag} ${spec} names slots; use host@host`);
  }
  if (o.backend === 'inproc') throw new UsageError('--backend inproc cannot run under srun: each rank is a process there');
  const perNode = o.nproc ?? o.numGpus;
  const pool = o.hostfile !== undefined ? readHostfile(o.hostfile, true) : null;
  let plan: { ntasks?: number; nodes?: number; ntasksPerNode?: number; nodelist?: string[]; exclude?: string[] };
  if (pool) {
    const { hosts } = resolveResources({ pool, include: o.include, exclude: o.exclude, numNodes: o.numNodes, numGpus: perNode, localSlots: () => 1 });
    const counts = [...hosts.values()].map((s) => s.length);
    plan = {
      ntasks: worldSize(hosts),
      nodes: hosts.size,
      ntasksPerNode: counts.every((c) => c === counts[0]) ? counts[0] : undefined,
      nodelist: [...hosts.keys()],
    };
  } else {
    if ((o.include || o.exclude) && (o.numNodes !== undefined || perNode !== undefined)) {
      throw new ResourceError('cannot combine --num_nodes/--num_gpus/--nproc with --include/--exclude');
    }
    plan = {
      nodes: o.numNodes,
      ntasksPerNode: perNode,
      ntasks: o.numNodes !== undefined && perNode !== undefined ? o.numNodes * perNode : undefined,
      nodelist: o.include ? o.include.split('@') : undefined,
      exclude: o.exclude ? o.exclude.split('@') : undefined,
    };
  }
  const masterPort = o.masterPort ?? DEFAULT_MASTER_PORT;
  const { argv, skipped } = buildSrunCommand({
    ...plan,
    launcherArgs: splitArgs(o.launcherArgs),
    exports: exportedEnv(ctx.env, ctx.cwd),
    command: [...ctx.self, 'run', '--rank_env=slurm', ...workerFlags(o, ctx, o.masterAddr, masterPort), '--', o.script, ...o.scriptArgs],
  });
  if (skipped.length > 0) ctx.stderr(`ds run: not in srun --export (their values contain commas; srun's --export=ALL still passes them): ${skipped.join(', ')}\n`);
  return runSchedulerCommand('srun', argv, o, ctx);
}

async function runSchedulerCommand(label: string, argv: string[], o: RunOptions, ctx: RunContext): Promise<number> {
  if (o.dryRun) {
    ctx.stdout(`${shellJoin(argv)}\n`);
    return 0;
  }
  const spec: WorkerSpec = { label, command: argv[0]!, args: argv.slice(1), env: ctx.env, cwd: ctx.cwd, prefix: '' };
  return (await supervise([spec], supervisorOptions(o, ctx))).exitCode;
}

/** The flags every node / rank of a multi-node launch repeats. */
function workerFlags(o: RunOptions, ctx: RunContext, masterAddr: string | undefined, masterPort: number): string[] {
  return [
    `--backend=${o.backend}`,
    ...(masterAddr !== undefined ? [`--master_addr=${masterAddr}`] : []),
    `--master_port=${masterPort}`,
    ...(o.eachRankLog ? [`--enable_each_rank_log=${path.resolve(ctx.cwd, o.eachRankLog)}`] : []),
    ...(o.localRankArg ? ['--local_rank_arg'] : []),
    ...(o.dev ? ['--dev'] : []),
    ...(o.noNode ? ['--no_node'] : []),
    ...(o.nodeArgs ? [`--node_args=${o.nodeArgs}`] : []),
    ...(o.graceMs !== undefined ? [`--kill_grace=${o.graceMs / 1000}`] : []),
  ];
}

/** How to start the script; `ranksOnHost` ranks share this machine (see rankNodeFlags). */
function scriptOpts(o: RunOptions, ctx: RunContext, ranksOnHost: number) {
  const user = splitArgs(o.nodeArgs);
  const nodeArgs = [...rankNodeFlags({ ranksOnHost, userFlags: user, env: ctx.env }), ...user];
  return { script: o.script, args: o.scriptArgs, dev: o.dev, noNode: o.noNode, nodeArgs };
}

function supervisorOptions(o: RunOptions, ctx: RunContext) {
  return { stdout: ctx.stdout, stderr: ctx.stderr, handleSignals: ctx.handleSignals, watchStdin: o.watchStdin, graceMs: o.graceMs };
}

function checkScript(o: RunOptions, ctx: RunContext): void {
  if (o.noNode) return;
  if (!existsSync(path.resolve(ctx.cwd, o.script))) {
    throw new UsageError(`script not found: ${o.script} (looked in ${ctx.cwd})`);
  }
}

function prepareLogDir(o: RunOptions, ctx: RunContext): string | undefined {
  if (!o.eachRankLog) return undefined;
  const dir = path.resolve(ctx.cwd, o.eachRankLog);
  if (!o.dryRun) mkdirSync(dir, { recursive: true });
  return dir;
}

/** DeepSpeed's per-rank log name stamp: `%Y%m%d%H%M%S`. */
function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** `env K=V … command args` with only the variables ds changed. */
function dryRunLine(s: WorkerSpec, base: NodeJS.ProcessEnv): string {
  const set = Object.entries(s.env).filter(([k, v]) => v !== undefined && base[k] !== v).map(([k, v]) => `${k}=${v}`);
  const removed = Object.keys(base).filter((k) => !(k in s.env)).map((k) => `-u ${k}`);
  const log = s.logFile ? ` > ${s.logFile} 2>&1` : '';
  return `${shellJoin(['env', ...removed.flatMap((r) => r.split(' ')), ...set, s.command, ...s.args])}${log}`;
}
