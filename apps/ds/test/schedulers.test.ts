import { describe, expect, it } from 'vitest';
import { buildMpirunCommand, rankFromOpenMpi } from '../src/run/mpi.js';
import { buildSrunCommand, expandNodelist, expandTasksPerNode, rankFromSlurm } from '../src/run/slurm.js';
import { buildPdshCommand, buildSshCommands, remoteCommand, shellQuote, splitArgs } from '../src/run/ssh.js';

const cmd = ['node', '/opt/ds/cli.js', 'run', '--rank_env=openmpi', '--', 'train.js', '--lr', '0.1'];

describe('buildMpirunCommand', () => {
  it("matches DeepSpeed's OpenMPIRunner layout", () => {
    const argv = buildMpirunCommand({
      total: 4, hostfile: '/job/hostfile', launcherArgs: [], exports: new Map([['DS_X', '1']]), command: cmd, tcpInterface: 'eth0',
    });
    expect(argv[0]).toBe('mpirun');
    expect(argv).toEqual([
      'mpirun', '-n', '4', '-hostfile', '/job/hostfile', '--mca', 'btl', '^openib', '--mca', 'btl_tcp_if_include', 'eth0',
      '-x', 'UCX_TLS=tcp', '-x', 'DS_X=1', ...cmd,
    ]);
  });

  it('leaves the interface to --launcher_args when they choose one (-mca or --mca)', () => {
    for (const flag of ['-mca', '--mca']) {
      const argv = buildMpirunCommand({
        total: 2, launcherArgs: [flag, 'btl_tcp_if_include', 'eth1'], exports: new Map(), command: cmd, tcpInterface: 'eth0',
      });
      expect(argv).not.toContain('eth0');
      expect(argv.join(' ')).toContain(`${flag} btl_tcp_if_include eth1`);
    }
  });

  it('omits -hostfile for a local run and the interface where there is no eth0', () => {
    const argv = buildMpirunCommand({ total: 2, launcherArgs: ['--allow-run-as-root'], exports: new Map(), command: cmd });
    expect(argv.slice(0, 7)).toEqual(['mpirun', '-n', '2', '--mca', 'btl', '^openib', '--allow-run-as-root']);
    expect(argv).not.toContain('-hostfile');
    expect(argv).not.toContain('btl_tcp_if_include');
  });
});

describe('rankFromOpenMpi', () => {
  it('copies OMPI_COMM_WORLD_{LOCAL_RANK,RANK,SIZE} (DeepSpeed test vector 0,1,2)', () => {
    const r = rankFromOpenMpi({ OMPI_COMM_WORLD_LOCAL_RANK: '0', OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2' });
    expect(r).toMatchObject({ localRank: 0, rank: 1, worldSize: 2 });
  });

  it('derives the node from the local size, and is null outside mpirun', () => {
    const r = rankFromOpenMpi({ OMPI_COMM_WORLD_RANK: '5', OMPI_COMM_WORLD_SIZE: '8', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_COMM_WORLD_LOCAL_SIZE: '4' });
    expect(r).toEqual({ rank: 5, worldSize: 8, localRank: 1, localWorldSize: 4, nodeRank: 1, nodes: 2 });
    expect(rankFromOpenMpi({})).toBeNull();
    expect(() => rankFromOpenMpi({ OMPI_COMM_WORLD_RANK: 'x', OMPI_COMM_WORLD_SIZE: '2' })).toThrow('OMPI_COMM_WORLD_RANK=x is not a non-negative integer');
  });
});

describe('buildSrunCommand', () => {
  it('builds srun with node selection, tasks and exports', () => {
    const { argv, skipped } = buildSrunCommand({
      ntasks: 8, nodes: 2, ntasksPerNode: 4, nodelist: ['a', 'b'], launcherArgs: ['--partition', 'gpu'],
      exports: new Map([['DS_X', '1'], ['NODE_OPTIONS', '--a,--b']]), command: cmd,
    });
    expect(argv).toEqual([
      'srun', '-n', '8', '--nodes', '2', '--ntasks-per-node', '4', '--nodelist=a,b', '--partition', 'gpu', '--export=ALL,DS_X=1', ...cmd,
    ]);
    expect(skipped).toEqual(['NODE_OPTIONS']);
  });

  it('passes --exclude and leaves the counts to the allocation when not given', () => {
    const { argv } = buildSrunCommand({ exclude: ['bad1', 'bad2'], launcherArgs: [], exports: new Map(), command: ['x'] });
    expect(argv).toEqual(['srun', '--exclude=bad1,bad2', '--export=ALL', 'x']);
  });
});

describe('Slurm variables', () => {
  it('expands hostlists and tasks-per-node', () => {
    expect(expandNodelist('node[01-03,7],gpu5')).toEqual(['node01', 'node02', 'node03', 'node7', 'gpu5']);
    expect(expandNodelist('r[1-2]-n[1-2]')).toEqual(['r1-n1', 'r1-n2', 'r2-n1', 'r2-n2']);
    expect(expandTasksPerNode('2(x3),1')).toEqual([2, 2, 2, 1]);
  });

  it('reads a task of an srun step', () => {
    const r = rankFromSlurm({
      SLURM_PROCID: '3', SLURM_NTASKS: '4', SLURM_LOCALID: '1', SLURM_NODEID: '1', SLURM_STEP_NUM_NODES: '2',
      SLURM_STEP_TASKS_PER_NODE: '2(x2)', SLURM_STEP_NODELIST: 'node[07-08]',
    });
    expect(r).toEqual({ rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2, nodeRank: 1, nodes: 2, masterAddr: 'node07' });
    expect(rankFromSlurm({})).toBeNull();
  });
});

describe('ssh and pdsh', () => {
  it('quotes and splits like a shell', () => {
    expect(shellQuote('abc-1.2/x=y')).toBe('abc-1.2/x=y');
    expect(shellQuote("it's here")).toBe(`'it'\\''s here'`);
    expect(shellQuote('')).toBe("''");
    expect(splitArgs(`-o "Strict HostKeyChecking=no" -i ~/k\\ ey 'a b'`)).toEqual(['-o', 'Strict HostKeyChecking=no', '-i', '~/k ey', 'a b']);
    expect(() => splitArgs('"open')).toThrow(/unterminated/);
  });

  it('builds one ssh per host, node rank = host position', () => {
    const cmds = buildSshCommands({
      hosts: ['h1', 'h2'], sshPort: 2222, launcherArgs: ['-o', 'BatchMode=yes'],
      remote: (i) => remoteCommand('/work dir', new Map([['DS_A', 'x y']]), ['node', 'cli.js', 'run', `--node_rank=${i}`, 'train.js']),
    });
    expect(cmds).toEqual([
      ['ssh', '-p', '2222', '-o', 'BatchMode=yes', 'h1', `cd '/work dir' && env 'DS_A=x y' node cli.js run --node_rank=0 train.js`],
      ['ssh', '-p', '2222', '-o', 'BatchMode=yes', 'h2', `cd '/work dir' && env 'DS_A=x y' node cli.js run --node_rank=1 train.js`],
    ]);
  });

  it("builds DeepSpeed's pdsh command", () => {
    const { argv, env } = buildPdshCommand({ hosts: ['h1', 'h2'], launcherArgs: [], remote: 'cd /w && node cli.js run --node_rank=%n x.js' });
    expect(argv[0]).toBe('pdsh');
    expect(argv).toEqual(['pdsh', '-S', '-f', '1024', '-w', 'h1,h2', 'cd /w && node cli.js run --node_rank=%n x.js']);
    expect(env.PDSH_RCMD_TYPE).toBe('ssh');
  });
});
