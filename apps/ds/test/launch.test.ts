import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand, type RunOptions } from '../src/run/launch.js';
import { capture, FIXTURES, WORKER } from './helpers.js';

const SELF = ['/usr/bin/node', '/opt/ds/dist/cli.js'];

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function opts(over: Partial<RunOptions>): RunOptions {
  return {
    script: WORKER, scriptArgs: [], include: '', exclude: '', launcher: 'ssh', launcherArgs: '', noSsh: false,
    noSshCheck: false, forceMulti: false, localRankArg: false, backend: 'gloo', dev: false, noNode: false,
    nodeArgs: '', dryRun: false, watchStdin: false, ...over,
  };
}

async function run(o: Partial<RunOptions>, env: NodeJS.ProcessEnv = { PATH: process.env.PATH }) {
  const io = capture();
  const code = await runCommand(opts(o), { self: SELF, env, cwd: process.cwd(), stdout: io.stdout, stderr: io.stderr, handleSignals: false });
  return { code, out: io.out(), err: io.err() };
}

/** A fresh hostfile with `text`. */
function hostfile(text: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'ds-hf-')), 'hostfile');
  writeFileSync(file, text);
  return file;
}

describe('ds run (in process)', () => {
  it('--dry_run prints each rank with the variables ds sets', async () => {
    const r = await run({ hostfile: undefined, nproc: 2, dryRun: true, masterPort: 4321, scriptArgs: ['x'] });
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^rank 1: env RANK=1 LOCAL_RANK=1 WORLD_SIZE=2 .*MASTER_ADDR=127\.0\.0\.1 MASTER_PORT=4321 DS_BACKEND=gloo/);
    expect(lines[1]).toMatch(new RegExp(` ${escape(process.execPath)} (--single-threaded-gc )?${escape(WORKER)} x$`));
  });

  it('keeps V8\'s collector on each rank\'s thread when the ranks fill the cores, unless the user chose', async () => {
    const cores = os.availableParallelism();
    const env = (threads: number, extra: NodeJS.ProcessEnv = {}) => ({ PATH: process.env.PATH, DS_NUM_THREADS: String(threads), ...extra });
    const full = await run({ nproc: 2, dryRun: true, masterPort: 1 }, env(cores));
    expect(full.out.trim().split('\n').every((l) => l.includes(` ${process.execPath} --single-threaded-gc ${WORKER}`))).toBe(true);
    const inproc = await run({ nproc: 2, dryRun: true, backend: 'inproc' }, env(cores));
    expect(inproc.out).toContain(`${process.execPath} --single-threaded-gc `);
    const chosen = await run({ nproc: 2, dryRun: true, masterPort: 1, nodeArgs: '--no-concurrent-marking' }, env(cores));
    expect(chosen.out).not.toContain('--single-threaded-gc');
    expect(chosen.out).toContain(`${process.execPath} --no-concurrent-marking ${WORKER}`);
    const viaEnv = await run({ nproc: 2, dryRun: true, masterPort: 1 }, env(cores, { NODE_OPTIONS: '--single-threaded-gc' }));
    expect(viaEnv.out).not.toContain(`${process.execPath} --single-threaded-gc`);
    if (cores >= 4) {
      // one kernel thread each for 2 ranks leaves cores to V8's helpers
      const spare = await run({ nproc: 2, dryRun: true, masterPort: 1 }, env(1));
      expect(spare.out).not.toContain('--single-threaded-gc');
    }
  });

  it('--dev resolves @ds/* to source through tsx; --node_args go before the script', async () => {
    const r = await run({ nproc: 1, dryRun: true, dev: true, nodeArgs: '--max-old-space-size=512 --trace-warnings', masterPort: 1 });
    expect(r.out).toMatch(/ --max-old-space-size=512 --trace-warnings --conditions=@ds\/source --import file:\/\/\S+\/tsx\/dist\/loader\.mjs \S+worker\.mjs\n$/);
    const js = await run({ nproc: 1, dryRun: true, masterPort: 1 });
    expect(js.out).not.toContain('tsx');
  });

  it('on a terminal: workers get DS_TTY and the columns their prefix leaves; bar redraws pass through live', async () => {
    const io = capture();
    const ctx = { self: SELF, env: { PATH: process.env.PATH }, cwd: process.cwd(), stdout: io.stdout, stderr: io.stderr, handleSignals: false };
    const code = await runCommand(opts({ nproc: 1, scriptArgs: ['bar'], masterPort: 29556 }), { ...ctx, terminalColumns: 80 });
    expect(code).toBe(0);
    // 80 - '[rank 0] '.length columns; every redraw starts the line again with the prefix, and the
    // finished line is not repeated when its newline comes
    expect(io.err()).toBe(
      '[rank 0] cols=71 tty=1\n' +
        '[rank 0] \x1b[1G[rank 0] # 1/3\x1b[0K\x1b[1G[rank 0] ## 2/3\x1b[0K\x1b[1G[rank 0] ### 3/3\x1b[0K\n' +
        '[rank 0] done\n',
    );
    // without a terminal nothing is live: the redraws arrive as one finished line
    const plain = await run({ nproc: 1, scriptArgs: ['bar'], masterPort: 29557 });
    expect(plain.err).toContain('[rank 0] cols=undefined tty=undefined\n');
    expect(plain.err).toContain('[rank 0] \x1b[1G# 1/3\x1b[0K\x1b[1G## 2/3');
  });

  it('--backend inproc runs one process with DS_INPROC_WORLD_SIZE', async () => {
    const r = await run({ nproc: 4, backend: 'inproc', dryRun: true });
    expect(r.out.trim().split('\n')).toHaveLength(1);
    expect(r.out).toMatch(/inproc backend, 4 ranks\): env DS_BACKEND=inproc DS_INPROC_WORLD_SIZE=4 /);
    expect(r.out).not.toMatch(/ RANK=/);
  });

  it('runs real ranks and appends --local_rank only with --local_rank_arg', async () => {
    const r = await run({ nproc: 2, scriptArgs: ['env'], localRankArg: true, masterPort: 29555 });
    expect(r.code).toBe(0);
    const byRank = new Map(r.out.trim().split('\n').map((l) => {
      const m = /^\[rank (\d)\] (.*)$/.exec(l)!;
      return [Number(m[1]), JSON.parse(m[2]!)] as const;
    }));
    expect(byRank.get(1).argv).toEqual(['--local_rank=1', 'env']);
    expect(byRank.get(1).env).toMatchObject({ RANK: '1', LOCAL_RANK: '1', WORLD_SIZE: '2', MASTER_PORT: '29555' });
    const plain = await run({ nproc: 1, scriptArgs: ['env'], masterPort: 29555 });
    expect(JSON.parse(plain.out.slice('[rank 0] '.length)).argv).toEqual(['env']);
  });

  it('2 ranks rendezvous at MASTER_ADDR:MASTER_PORT and finish a (TCP) all-reduce', async () => {
    const { pickFreePort } = await import('../src/run/env.js');
    const r = await run({ nproc: 2, script: path.join(FIXTURES, 'tcp-allreduce.mjs'), masterPort: await pickFreePort() });
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n').map((l) => l.replace(/ \(.*$/, '')).sort()).toEqual([
      '[rank 0] allreduce -> 3,3,3,3', '[rank 1] allreduce -> 3,3,3,3',
    ]);
  });

  it('picks a free port when the default one is busy (only when --master_port is not given)', async () => {
    // A port of our own stands in for 29500, so other suites using 29500 are not disturbed.
    const { isPortFree, pickFreePort } = await import('../src/run/env.js');
    const net = await import('node:net');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, () => resolve()));
    const busy = (server.address() as import('node:net').AddressInfo).port;
    try {
      expect(await isPortFree(busy)).toBe(false);
      expect(await isPortFree(await pickFreePort())).toBe(true);
      const io = capture();
      const ctx = { self: SELF, env: { PATH: process.env.PATH }, cwd: process.cwd(), stdout: io.stdout, stderr: io.stderr, handleSignals: false };
      expect(await runCommand(opts({ nproc: 1, dryRun: true }), { ...ctx, defaultMasterPort: busy })).toBe(0);
      expect(io.err()).toMatch(new RegExp(`port ${busy} is busy; using MASTER_PORT=\\d+`));
      expect(io.out()).not.toContain(`MASTER_PORT=${busy} `);
      const explicit = capture();
      await runCommand(opts({ nproc: 1, dryRun: true, masterPort: busy }), { ...ctx, ...explicit, defaultMasterPort: busy });
      expect(explicit.out()).toContain(`MASTER_PORT=${busy} `);
    } finally {
      server.close();
    }
  });

  it('writes each rank to <dir>/<timestamp>_rank<N>.log with --enable_each_rank_log', async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'ds-logs-')), 'logs');
    const r = await run({ nproc: 2, scriptArgs: ['hello'], eachRankLog: dir, masterPort: 29556 });
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(2);
    expect(files[1]).toMatch(/^\d{14}_rank1\.log$/);
    expect(readFileSync(path.join(dir, files[1]!), 'utf8')).toBe('hello from rank 1 of 2\nstderr of rank 1\n');
  });

  it('multi-node over ssh: one ssh per host running ds run --world_info --node_rank', async () => {
    const hf = hostfile('worker-0 slots=2\nworker-1 slots=1\n');
    const r = await run({ hostfile: hf, dryRun: true, masterAddr: '10.1.1.1', sshPort: 2200 }, { PATH: '/bin', DS_FOO: 'bar', HOME: '/nonexistent' });
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^node 0 \(worker-0\): ssh -p 2200 worker-0 'cd .* && env DS_FOO=bar \/usr\/bin\/node \/opt\/ds\/dist\/cli.js run --world_info=[\w-]+ --node_rank=0 --backend=gloo --master_addr=10\.1\.1\.1 --master_port=29500 --watch_stdin -- /);
    expect(lines[1]).toContain('--node_rank=1');
  });

  it('multi-node over pdsh', async () => {
    const hf = hostfile('a slots=1\nb slots=1\n');
    const r = await run({ hostfile: hf, dryRun: true, masterAddr: 'a', launcher: 'pdsh' });
    expect(r.out).toMatch(/^pdsh: pdsh -S -f 1024 -w a,b 'cd .* run --world_info=[\w-]+ --node_rank=%n /);
  });

  it('--launcher openmpi --dry_run prints the mpirun command', async () => {
    const hf = hostfile('a slots=2\nb slots=2\n');
    const r = await run({ hostfile: hf, dryRun: true, launcher: 'openmpi', scriptArgs: ['--lr', '1'] });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^mpirun -n 4 -hostfile ${hf} --mca btl '\\^openib' .*-x UCX_TLS=tcp .*/usr/bin/node /opt/ds/dist/cli.js run --rank_env=openmpi --backend=gloo --master_addr=a --master_port=29500 -- ${WORKER} --lr 1\\n$`));
    const bad = await run({ hostfile: hf, launcher: 'openmpi', include: 'a' });
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--launcher openmpi does not support --include\/--exclude/);
  });

  it('--launcher slurm --dry_run prints the srun command', async () => {
    const r = await run({ hostfile: undefined, dryRun: true, launcher: 'slurm', numNodes: 2, nproc: 4 });
    expect(r.out).toMatch(/^srun -n 8 --nodes 2 --ntasks-per-node 4 --export=ALL .*cli.js run --rank_env=slurm --backend=gloo --master_port=29500 -- /);
    const bad = await run({ dryRun: true, launcher: 'slurm', include: 'a:0' });
    expect(bad.err).toMatch(/--launcher slurm selects whole nodes/);
  });

  it('runs one rank from the OMPI_COMM_WORLD_* variables under mpirun', async () => {
    const env = { PATH: process.env.PATH, OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_LOCAL_RANK: '0', OMPI_COMM_WORLD_LOCAL_SIZE: '1' };
    const r = await run({ hostfile: undefined, scriptArgs: ['env'], masterAddr: 'head' }, env);
    expect(r.code).toBe(0);
    expect(r.out.startsWith('[rank 1] ')).toBe(true);
    expect(JSON.parse(r.out.slice(9)).env).toMatchObject({ RANK: '1', WORLD_SIZE: '2', LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '1', NODE_RANK: '1', MASTER_ADDR: 'head' });
  });

  it('reports bad arguments with exit code 2', async () => {
    const cases: [Partial<RunOptions>, RegExp][] = [
      [{ hostfile: hostfile('a slots=1\n\nb slot=2\n') }, /hostfile:3: bad entry "b slot=2"/],
      [{ hostfile: hostfile('worker-0 slots=2\nworker-1 slots=2\n'), include: 'worker-2' }, /host "worker-2" is not in the hostfile \(hosts: worker-0, worker-1\); did you mean "worker-0"\?/],
      [{ include: 'localhost', exclude: 'localhost:0' }, /mutually exclusive/],
      [{ nproc: 2, include: 'localhost:0' }, /cannot combine --num_nodes\/--num_gpus\/--nproc with --include\/--exclude/],
      [{ numNodes: 2 }, /--num_nodes 2 needs a hostfile/],
      [{ nproc: 2, script: 'missing.js' }, /script not found: missing\.js/],
      [{ nproc: 2, numGpus: 3 }, /--nproc 2 and --num_gpus 3 disagree/],
      [{ hostfile: hostfile('a slots=1\nb slots=1\n'), backend: 'inproc' }, /--backend inproc runs every rank as a thread of one process on one machine/],
      [{ hostfile: hostfile('a slots=1\nb slots=1\n'), noSsh: true }, /--no_ssh with 2 hosts needs --node_rank/],
    ];
    for (const [o, msg] of cases) {
      const r = await run(o);
      expect(r.code, String(msg)).toBe(2);
      expect(r.err).toMatch(/^ds run: error: /);
      expect(r.err).toMatch(msg);
    }
  });
});
