// End-to-end: the real `ds` CLI (from source, through tsx) in its own process.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tsxLoaderUrl } from '../src/run/command.js';
import { pickFreePort } from '../src/run/env.js';
import { allPidFiles, CLI, FIXTURES, isAlive, readPids, waitFor, WORKER } from './helpers.js';

const NODE_ARGS = ['--conditions=@ds/source', '--import', tsxLoaderUrl(), CLI];

function start(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess & { result: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> } {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (err += b));
  const result = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, out, err })),
  );
  return Object.assign(child, { result });
}

const ds = (args: string[], env?: NodeJS.ProcessEnv) => start(args, env).result;
const tmp = (name: string) => mkdtempSync(path.join(os.tmpdir(), `ds-${name}-`));
const ranksOf = (out: string) =>
  out.trim().split('\n').map((l) => {
    const m = /^\[rank (\d+)\] (.*)$/.exec(l);
    if (!m) throw new Error(`unprefixed line: ${l}`);
    return { rank: Number(m[1]), ...JSON.parse(m[2]!) } as { rank: number; argv: string[]; env: Record<string, string> };
  }).sort((a, b) => a.rank - b.rank);

describe('ds CLI', () => {
  it('--version and run --help with every flag', async () => {
    const v = await ds(['--version']);
    expect(v.out.trim()).toBe(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
    const help = await ds(['run', '--help']);
    expect(help.code).toBe(0);
    for (const flag of [
      '--nproc', '--num_gpus', '--num_nodes', '--hostfile', '--include', '--exclude', '--master_addr', '--master_port',
      '--node_rank', '--launcher', '--launcher_args', '--no_ssh', '--no_ssh_check', '--force_multi', '--ssh_port',
      '--backend', '--dev', '--node_args', '--no_node', '--local_rank_arg', '--no_local_rank', '--enable_each_rank_log',
      '--kill_grace', '--dry_run', '--rank_env',
    ]) {
      expect(help.out).toContain(flag);
    }
  });

  it('runs a TypeScript script on 2 ranks with prefixed output', async () => {
    const r = await ds(['run', '--nproc', '2', '--master_port', '29611', path.join(FIXTURES, 'hello.ts')]);
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n').sort()).toEqual(['[rank 0] ts rank 0/2 backend=gloo inproc=-', '[rank 1] ts rank 1/2 backend=gloo inproc=-']);
  });

  it('--backend inproc runs one process with DS_INPROC_WORLD_SIZE=N', async () => {
    const r = await ds(['run', '--nproc', '3', '--backend', 'inproc', path.join(FIXTURES, 'hello.ts')]);
    expect(r.code).toBe(0);
    // the host runs the script only as the 3 ranks (threads), each with its own RANK
    expect(r.out.trim().split('\n').sort()).toEqual([0, 1, 2].map((i) => `ts rank ${i}/3 backend=inproc inproc=3`));
  });

  it('exits with the failing rank\'s code and names it', async () => {
    const dir = tmp('cli-fail');
    const r = await ds(['run', '--nproc', '3', '--master_port', '29612', WORKER, 'fail', dir]);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/ds run: rank 1 \(pid \d+\) exited with code 3; stopping the other 2 ranks/);
    expect(r.err).toContain('  | rank 1 problem line 29');
    expect(readPids(dir, 3).filter(isAlive)).toEqual([]);
  });

  it('leaves no orphans when the launcher is SIGKILLed', async () => {
    const dir = tmp('cli-kill');
    const launcher = start(['run', '--nproc', '3', '--master_port', '29613', WORKER, 'sleep', dir]);
    await waitFor(() => allPidFiles(dir, 3), 10_000, 'the ranks to start');
    const pids = readPids(dir, 3);
    expect(pids.every(isAlive)).toBe(true);
    launcher.kill('SIGKILL');
    await launcher.result;
    const ms = await waitFor(() => !pids.some(isAlive), 5000, 'the ranks to die after the launcher was SIGKILLed');
    expect(ms).toBeLessThan(5000);
  });

  it('forwards SIGINT to the ranks and exits with 130', async () => {
    const dir = tmp('cli-int');
    const launcher = start(['run', '--nproc', '2', '--master_port', '29614', WORKER, 'sigint', dir]);
    await waitFor(() => allPidFiles(dir, 2), 10_000, 'the ranks to start');
    launcher.kill('SIGINT');
    const r = await launcher.result;
    expect(r.code).toBe(130);
    expect(r.err).toMatch(/ds run: got SIGINT; stopping 2 ranks/);
    for (const rank of [0, 1]) expect(readFileSync(path.join(dir, `rank${rank}.signal`), 'utf8')).toBe('SIGINT');
    expect(readPids(dir, 2).filter(isAlive)).toEqual([]);
  });

  it('a node started over ssh stops its ranks when the connection (its stdin) closes', async () => {
    const dir = tmp('cli-stdin');
    const child = spawn(process.execPath, [...NODE_ARGS, 'run', '--nproc', '2', '--master_port', '29615', '--watch_stdin', WORKER, 'sleep', dir], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (b) => (err += b));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await waitFor(() => allPidFiles(dir, 2), 10_000, 'the ranks to start');
    child.stdin!.end();
    expect(await closed).toBe(143);
    expect(err).toContain('the launching connection closed (stdin EOF); stopping 2 ranks');
    expect(readPids(dir, 2).filter(isAlive)).toEqual([]);
  });

  describe('multi-node over ssh (a fake ssh that runs the command locally)', () => {
    const bin = tmp('fake-ssh-bin');
    symlinkSync(path.join(FIXTURES, 'fake-ssh.sh'), path.join(bin, 'ssh'));
    const hostfile = path.join(bin, 'hostfile');
    writeFileSync(hostfile, '# two nodes\nnodeA slots=2\nnodeB slots=1\n');

    it('starts each node with its ranks and the global environment', async () => {
      const log = path.join(bin, 'ssh.log');
      const port = await pickFreePort();
      const r = await ds(
        ['run', '-H', hostfile, '--master_addr', '127.0.0.1', '--master_port', String(port), '--local_rank_arg', WORKER, 'env'],
        { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_SSH_LOG: log, DS_EXPORTED: 'yes' },
      );
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const ranks = ranksOf(r.out);
      expect(ranks.map((x) => [x.env.RANK, x.env.LOCAL_RANK, x.env.NODE_RANK, x.env.LOCAL_WORLD_SIZE])).toEqual([
        ['0', '0', '0', '2'], ['1', '1', '0', '2'], ['2', '0', '1', '1'],
      ]);
      for (const x of ranks) {
        expect(x.env).toMatchObject({ WORLD_SIZE: '3', CROSS_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), DS_EXPORTED: 'yes' });
        expect(x.argv).toEqual([`--local_rank=${x.env.LOCAL_RANK}`, 'env']);
      }
      // The passwordless-ssh check goes to the first host, then one ssh per node.
      expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['nodeA', 'nodeA', 'nodeB']);
    });

    it('a failing rank on one node stops the other node, with no orphans', async () => {
      const dir = tmp('ssh-fail');
      const port = await pickFreePort();
      const r = await ds(
        ['run', '-H', hostfile, '--no_ssh_check', '--master_addr', '127.0.0.1', '--master_port', String(port), WORKER, 'fail', dir],
        { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      );
      expect(r.code).toBe(3);
      expect(r.err).toMatch(/ds run: rank 1 \(pid \d+\) exited with code 3/);
      expect(r.err).toMatch(/ds run: node 0 \(nodeA\) \(pid \d+\) exited with code 3; stopping the other 1 node/);
      await waitFor(() => existsSync(path.join(dir, 'rank2.pid')), 1000, 'rank 2 to have started').catch(() => {});
      const pids = [0, 1, 2].filter((i) => existsSync(path.join(dir, `rank${i}.pid`))).map((i) => Number(readFileSync(path.join(dir, `rank${i}.pid`), 'utf8')));
      await waitFor(() => !pids.some(isAlive), 5000, 'every rank to end');
    });
  });

  it('ds env prints the environment report (text and JSON)', async () => {
    const text = await ds(['env']);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^ds environment report/);
    for (const s of ['node', 'cpu', 'kernels', 'blas', 'launcher tools']) expect(text.out).toContain(s);
    const json = JSON.parse((await ds(['env', '--json'])).out);
    expect(json.node.version).toBe(process.version);
    expect(json.kernels.blas.library).toBeTypeOf('string');
    expect(['native', 'reference']).toContain(json.kernels.active);
  });
});
