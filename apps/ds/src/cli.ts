// The `ds` command: commander wiring only; each subcommand loads its module when it runs.
import { createRequire } from 'node:module';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Launcher, RunOptions } from './run/launch.js';
import type { EstimateFlags } from './estimate-command.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const int = (flag: string, min: number) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
};
const port = (flag: string) => (v: string): number => {
  const n = int(flag, 1)(v);
  if (n > 65535) throw new InvalidArgumentError(`${flag} must be a TCP port (1-65535), got ${v}`);
  return n;
};
const seconds = (flag: string) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a number of seconds >= 0, got ${JSON.stringify(v)}`);
  return n;
};
const LAUNCHERS = ['ssh', 'pdsh', 'openmpi', 'slurm'];
const launcher = (v: string): Launcher => {
  const l = v.toLowerCase();
  if (LAUNCHERS.includes(l)) return l as Launcher;
  if (['mpich', 'impi', 'mvapich'].includes(l)) throw new InvalidArgumentError(`${v} is a DeepSpeed launcher ds does not support yet; use one of ${LAUNCHERS.join(', ')}`);
  throw new InvalidArgumentError(`expected one of ${LAUNCHERS.join(', ')}, got ${JSON.stringify(v)}`);
};

const program = new Command('ds')
  .description('ds: DeepSpeed for TypeScript. Launch distributed jobs and inspect the environment.')
  .version(version, '-v, --version', 'print the ds version')
  .enablePositionalOptions()
  .showHelpAfterError('(ds run --help lists every flag)');

const run = program
  .command('run')
  .summary('launch a script on N processes, or across the hosts of a hostfile')
  .description(
    'Start <script> once per rank with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ' +
      'GROUP_RANK/NODE_RANK, CROSS_RANK, CROSS_SIZE and DS_BACKEND set (DeepSpeed launcher semantics). ' +
      'Output lines are prefixed with "[rank N] "; when a rank fails the others are stopped and ds exits with ' +
      "the first failing rank's code. .ts scripts run through tsx.",
  )
  .argument('<script>', 'the script to run (.js, .mjs, .cjs, .ts, .mts, .cts), or a program with --no_node')
  .argument('[args...]', "the script's own arguments")
  .passThroughOptions()
  // Resource selection (DeepSpeed's rules)
  .addOption(new Option('--nproc <n>', 'processes on this machine (with a hostfile: on every host); same as --num_gpus').argParser(int('--nproc', 1)))
  .addOption(new Option('--nproc_per_node <n>').argParser(int('--nproc_per_node', 1)).hideHelp())
  .addOption(new Option('--nproc-per-node <n>').argParser(int('--nproc-per-node', 1)).hideHelp())
  .addOption(new Option('--num_gpus <n>', 'use slots 0..n-1 on every host (alias --num_accelerators)').argParser(int('--num_gpus', 1)))
  .addOption(new Option('--num_accelerators <n>').argParser(int('--num_accelerators', 1)).hideHelp())
  .addOption(new Option('--num_nodes <n>', 'use the first n hosts of the hostfile').argParser(int('--num_nodes', 1)))
  .addOption(new Option('-H, --hostfile <path>', 'hostfile with lines "<host> slots=<n>" (default: /job/hostfile if it exists, else this machine only)'))
  .addOption(new Option('-i, --include <spec>', 'only these hosts/slots: host[:slot,slot][@host...] (e.g. worker-0:0,1@worker-1)'))
  .addOption(new Option('-e, --exclude <spec>', 'all but these hosts/slots, same syntax as --include'))
  // Rendezvous
  .addOption(new Option('--master_addr <addr>', "rank 0's address (default: 127.0.0.1 on one machine, else `hostname -I` of the first host)"))
  .addOption(new Option('--master_port <port>', 'rendezvous port (default 29500; on one machine a free port is picked if 29500 is busy)').argParser(port('--master_port')))
  .addOption(new Option('--node_rank <n>', "this node's index in the hostfile (with --no_ssh, where each node is started by hand)").argParser(int('--node_rank', 0)))
  // Multi-node
  .addOption(new Option('--launcher <name>', 'multi-node runner: ssh, pdsh, openmpi (mpirun), slurm (srun)').argParser(launcher).default('ssh'))
  .addOption(new Option('--launcher_args <args>', 'extra arguments for ssh/pdsh/mpirun/srun (one quoted string)'))
  .addOption(new Option('--no_ssh', 'do not start the other nodes; run this node only (needs --node_rank, --master_addr)'))
  .addOption(new Option('--no_ssh_check', 'skip the passwordless-ssh check of the first host'))
  .addOption(new Option('--force_multi', 'use the multi-node runner even for one host'))
  .addOption(new Option('--ssh_port <port>', 'ssh port for the ssh runner and the checks').argParser(port('--ssh_port')))
  // Workers
  .addOption(new Option('--backend <name>', 'DS_BACKEND for the ranks: gloo (a process per rank), inproc (one process, ranks as threads)').choices(['gloo', 'inproc']).default('gloo'))
  .addOption(new Option('--dev', 'resolve workspace @ds/* packages to their TypeScript source (--conditions=@ds/source, through tsx)'))
  .addOption(new Option('--node_args <args>', 'extra node flags for every rank, e.g. "--max-old-space-size=8192"'))
  .addOption(new Option('--no_node', "run <script> as a program, not through node (DeepSpeed's --no_python)"))
  .addOption(new Option('--no_python').hideHelp())
  .addOption(new Option('--local_rank_arg', 'append --local_rank=<LOCAL_RANK> to the script arguments, as DeepSpeed does (off: ds scripts read LOCAL_RANK)'))
  .addOption(new Option('--no_local_rank', 'do not append --local_rank (the default; accepted for DeepSpeed compatibility)'))
  .addOption(new Option('--enable_each_rank_log <dir>', 'write each rank\'s stdout+stderr to <dir>/<timestamp>_rank<N>.log instead of the console'))
  .addOption(new Option('--kill_grace <seconds>', 'when stopping ranks, seconds between SIGTERM and SIGKILL (default 3)').argParser(seconds('--kill_grace')))
  .addOption(new Option('--dry_run', 'print the commands (and per-rank environment) instead of running them'))
  // Set by ds itself on the processes it starts
  .addOption(new Option('--rank_env <kind>', 'take this rank from mpirun (openmpi) or srun (slurm) variables; auto-detected').choices(['openmpi', 'slurm']))
  .addOption(new Option('--world_info <b64>').hideHelp())
  .addOption(new Option('--watch_stdin').hideHelp())
  .addHelpText(
    'after',
    `
Examples:
  ds run --nproc 4 train.ts --epochs 3          4 processes on this machine
  ds run --nproc 4 --backend inproc train.ts    1 process, 4 ranks as threads (DS_INPROC_WORLD_SIZE=4)
  ds run -H hostfile --num_gpus 2 train.js      2 ranks on every host of the hostfile, over ssh
  ds run -H hostfile -i worker-0:0,1@worker-1 train.js
  ds run -H hostfile --launcher openmpi --dry_run train.js
See README.md of @ds/cli for every flag and the per-rank environment.`,
  )
  .action(async (script: string, args: string[], raw: Record<string, unknown>) => {
    const o = raw as Record<string, string | number | boolean | undefined>;
    if (o.no_local_rank && o.local_rank_arg) program.error('error: --local_rank_arg and --no_local_rank contradict each other');
    const opts: RunOptions = {
      script,
      scriptArgs: args,
      nproc: (o.nproc ?? o.nproc_per_node ?? o.nprocPerNode) as number | undefined,
      numGpus: (o.num_gpus ?? o.num_accelerators) as number | undefined,
      numNodes: o.num_nodes as number | undefined,
      hostfile: o.hostfile as string | undefined,
      include: (o.include as string | undefined) ?? '',
      exclude: (o.exclude as string | undefined) ?? '',
      masterAddr: o.master_addr as string | undefined,
      masterPort: o.master_port as number | undefined,
      nodeRank: o.node_rank as number | undefined,
      launcher: o.launcher as Launcher,
      launcherArgs: (o.launcher_args as string | undefined) ?? '',
      noSsh: o.no_ssh === true,
      noSshCheck: o.no_ssh_check === true,
      forceMulti: o.force_multi === true,
      sshPort: o.ssh_port as number | undefined,
      eachRankLog: o.enable_each_rank_log as string | undefined,
      localRankArg: o.local_rank_arg === true,
      backend: o.backend as RunOptions['backend'],
      dev: o.dev === true,
      noNode: o.no_node === true || o.no_python === true,
      nodeArgs: (o.node_args as string | undefined) ?? '',
      dryRun: o.dry_run === true,
      worldInfo: o.world_info as string | undefined,
      watchStdin: o.watch_stdin === true,
      rankEnv: o.rank_env as RunOptions['rankEnv'],
      graceMs: o.kill_grace === undefined ? undefined : (o.kill_grace as number) * 1000,
    };
    const { runCommand } = await import('./run/launch.js');
    const code = await runCommand(opts, {
      self: [process.execPath, ...process.execArgv, process.argv[1]!],
      env: process.env,
      cwd: process.cwd(),
      stdout: (s) => void process.stdout.write(s),
      stderr: (s) => void process.stderr.write(s),
      handleSignals: true,
      terminalColumns: process.stderr.isTTY ? process.stderr.columns : undefined,
    });
    process.exit(code);
  });

program
  .command('env')
  .summary('print the environment report (node, CPU, BLAS, kernels, launcher variables)')
  .option('--json', 'print JSON instead of text', false)
  .action(async (o: { json: boolean }) => {
    const { environmentReport, formatReport } = await import('./env-report.js');
    const report = await environmentReport(version);
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  });

const configCommand = program.command('config').summary('check DeepSpeed JSON configs');
configCommand
  .command('check')
  .summary('resolve a DeepSpeed config (batch sizes, defaults, derived values) and print it, or every problem in it')
  .argument('<file>', 'the DeepSpeed JSON config (comments and trailing commas allowed)')
  .addOption(new Option('--world-size <n>', 'data-parallel world size to resolve the batch sizes for').argParser(int('--world-size', 1)).default(1))
  .option('--json', 'print JSON ({ok, config, warnings, requiredPackages} or {ok: false, issues})', false)
  .action(async (file: string, o: { worldSize: number; json: boolean }) => {
    const { configCheck } = await import('./config-command.js');
    const io = { stdout: (s: string) => void process.stdout.write(s), stderr: (s: string) => void process.stderr.write(s) };
    process.exitCode = configCheck({ file, worldSize: o.worldSize, json: o.json }, io);
  });

program
  .command('estimate')
  .summary("per-rank and per-node memory for the model states under ZeRO (DeepSpeed's estimators and the ZeRO paper's breakdown)")
  .addOption(new Option('--params <count>', 'total parameters, e.g. 1.5e9, 1500000000, 1.5B, 350M'))
  .addOption(new Option('--largest-layer <count>', "the largest single module's own parameters (for the ZeRO-3 table)"))
  .addOption(new Option('--model <name|config.json>', 'count a GPT-2 instead: gpt2, gpt2-medium, gpt2-large, gpt2-xl, or a config.json (or its directory)'))
  .addOption(new Option('--n-embd <n>', 'with --model: hidden size').argParser(int('--n-embd', 1)))
  .addOption(new Option('--n-layer <n>', 'with --model: transformer blocks').argParser(int('--n-layer', 1)))
  .addOption(new Option('--vocab <n>', 'with --model: vocabulary size').argParser(int('--vocab', 1)))
  .addOption(new Option('--n-positions <n>', 'with --model: context length').argParser(int('--n-positions', 1)))
  .addOption(new Option('--n-inner <n>', 'with --model: MLP width (default 4 x n-embd)').argParser(int('--n-inner', 1)))
  .addOption(new Option('--nodes <n>', 'nodes').argParser(int('--nodes', 1)).default(1))
  .addOption(new Option('--gpus-per-node <n>', 'ranks (GPUs) per node (default 1)').argParser(int('--gpus-per-node', 1)))
  .addOption(new Option('--ranks <n>', 'total data-parallel ranks, split evenly over --nodes').argParser(int('--ranks', 1)))
  .addOption(new Option('--stage <n>', 'only this ZeRO stage (default: all)').choices(['0', '1', '2', '3']))
  .addOption(new Option('--dtype <type>', 'training dtype for the breakdown (fp16/bf16: mixed precision with fp32 masters)').choices(['fp32', 'fp16', 'bf16']).default('fp16'))
  .addOption(new Option('--optimizer <kind>', 'optimizer for the breakdown: adam, adamw, sgd, sgd-momentum, lion, adagrad').default('adam'))
  .addOption(new Option('--buffer-factor <f>', "DeepSpeed's additional_buffer_factor for CPU memory").default('1.5'))
  .option('--json', 'print JSON (exact byte counts)', false)
  .addHelpText(
    'after',
    `
Examples:
  ds estimate --params 2.851e9 --largest-layer 32e6 --gpus-per-node 8
  ds estimate --model gpt2-xl --ranks 16 --nodes 2 --stage 3
  ds estimate --model gpt2 --n-embd 2048 --n-layer 24 --vocab 50304 --json
  ds estimate --model ./checkpoints/gpt2/config.json --ranks 4`,
  )
  .action(async (o: EstimateFlags) => {
    const { estimateCommand } = await import('./estimate-command.js');
    const io = { stdout: (s: string) => void process.stdout.write(s), stderr: (s: string) => void process.stderr.write(s) };
    process.exitCode = estimateCommand(o, io);
  });

// `ds run … | head` closes our stdout: keep running (the ranks decide), just stop writing.
process.stdout.on('error', () => {});
run.configureOutput({ outputError: (s, write) => write(s.startsWith('error:') ? `ds run: ${s}` : s) });
await program.parseAsync(process.argv);
