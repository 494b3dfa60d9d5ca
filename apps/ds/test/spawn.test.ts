import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeEnv, rankEnvs } from '../src/run/env.js';
import { rankPrefix } from '../src/run/prefix.js';
import { supervise, type WorkerSpec } from '../src/run/spawn.js';
import { capture, isAlive, readPids, waitFor, WORKER } from './helpers.js';

const node = (label: string, code: string, prefix = `[${label}] `, env: NodeJS.ProcessEnv = process.env): WorkerSpec => ({
  label, command: process.execPath, args: ['-e', code], env, prefix,
});

/** Ranks of worker.mjs in `mode`, with the real per-rank environment. */
function workers(n: number, mode: string, dir: string): WorkerSpec[] {
  const hosts = new Map([['localhost', Array.from({ length: n }, (_, i) => i)]]);
  return rankEnvs({ hosts, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29500, backend: 'gloo' }).map((r) => ({
    label: `rank ${r.rank}`,
    command: process.execPath,
    args: [WORKER, mode, dir],
    env: mergeEnv(process.env, r.env),
    prefix: rankPrefix(r.rank),
  }));
}

describe('supervise', () => {
  it('prefixes each line with its rank and keeps stdout and stderr apart', async () => {
    const io = capture();
    const r = await supervise(
      [
        node('rank 0', 'console.log("a\\nb"); console.error("e0")'),
        node('rank 1', 'process.stdout.write("partial"); setTimeout(() => console.log(" done"), 50)'),
      ],
      io,
    );
    expect(r.exitCode).toBe(0);
    expect(io.out().split('\n').filter(Boolean).sort()).toEqual(['[rank 0] a', '[rank 0] b', '[rank 1] partial done']);
    expect(io.err()).toBe('[rank 0] e0\n');
  });

  it('returns the exit code of the first failing worker', async () => {
    const io = capture();
    const r = await supervise([node('rank 0', 'process.exit(0)'), node('rank 1', 'process.exit(7)')], io);
    expect(r.exitCode).toBe(7);
    expect(r.failure).toMatchObject({ label: 'rank 1', code: 7, signal: null });
    expect(io.err()).toMatch(/ds run: rank 1 \(pid \d+\) exited with code 7/);
  });

  it('a rank exiting with 3 stops the others within 5 s and its stderr tail is reported', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-fail-'));
    const io = capture();
    const r = await supervise(workers(3, 'fail', dir), io);
    const end = Date.now();
    expect(r.exitCode).toBe(3);
    const failedAt = Number(/failing at (\d+)/.exec(io.err())![1]);
    expect(end - failedAt).toBeLessThan(5000);
    const pids = readPids(dir, 3);
    expect(pids.filter(isAlive)).toEqual([]);
    const err = io.err();
    expect(err).toMatch(/ds run: rank 1 \(pid \d+\) exited with code 3; stopping the other 2 ranks/);
    expect(err).toContain("ds run: last 20 lines of rank 1's stderr:");
    expect(err).toContain('  | rank 1 problem line 29');
    expect(err).toContain('  | rank 1 problem line 11');
    expect(err).not.toContain('  | rank 1 problem line 10\n');
    expect(r.failure?.tail).toHaveLength(20);
  });

  it('a worker that ignores SIGTERM is SIGKILLed after the grace period', async () => {
    const io = capture();
    const r = await supervise(
      [
        node('rank 0', 'process.on("SIGTERM", () => console.log("ignoring SIGTERM")); setInterval(() => {}, 1000)'),
        node('rank 1', 'setTimeout(() => { console.error("failing at " + Date.now()); process.exit(5); }, 200)'),
      ],
      { ...io, graceMs: 500 },
    );
    expect(r.exitCode).toBe(5);
    // Stopped by SIGKILL half a second after the failure (well inside the 5 s bound).
    expect(Date.now() - Number(/failing at (\d+)/.exec(io.err())![1])).toBeLessThan(4000);
    expect(io.out()).toContain('[rank 0] ignoring SIGTERM');
  });

  it('a rank killed by SIGKILL is reported by signal, with exit code 137', async () => {
    const io = capture();
    const r = await supervise(
      [
        node('rank 0', 'setInterval(() => {}, 1000)'),
        node('rank 1', 'console.error("about to die"); setTimeout(() => process.kill(process.pid, "SIGKILL"), 100)'),
      ],
      io,
    );
    expect(r.exitCode).toBe(137);
    expect(r.failure).toMatchObject({ label: 'rank 1', signal: 'SIGKILL' });
    expect(io.err()).toMatch(/rank 1 \(pid \d+\) was killed by signal SIGKILL; stopping the other 1 rank/);
    expect(io.err()).toContain('  | about to die');
  });

  it('reports a program that cannot be started', async () => {
    const io = capture();
    const r = await supervise([{ label: 'rank 0', command: '/nonexistent/prog', args: [], env: process.env, prefix: '' }], io);
    expect(r.exitCode).toBe(127);
    expect(io.err()).toMatch(/rank 0 could not be started \(\/nonexistent\/prog: ENOENT\)/);
  });

  it("kills what a finished worker left behind in its process group", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-orphan-'));
    const io = capture();
    const code = `
      const { spawn } = require('node:child_process');
      const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      require('node:fs').writeFileSync(${JSON.stringify(dir)} + '/rank0.pid', String(c.pid));
      c.unref();`;
    const r = await supervise([node('rank 0', code)], io);
    expect(r.exitCode).toBe(0);
    const [grandchild] = readPids(dir, 1);
    await waitFor(() => !isAlive(grandchild!), 3000, 'the left-over grandchild to end');
  });

  it('starts real node children with the environment of each rank', async () => {
    const io = capture();
    const hosts = new Map([['a', [0, 1, 2]], ['b', [0, 1]]]);
    const code = 'console.log(JSON.stringify(Object.fromEntries(["RANK","LOCAL_RANK","WORLD_SIZE","LOCAL_WORLD_SIZE","GROUP_RANK","NODE_RANK","CROSS_RANK","CROSS_SIZE","MASTER_ADDR","MASTER_PORT","DS_BACKEND","CUDA_VISIBLE_DEVICES"].map((k) => [k, process.env[k]]))))';
    const specs = rankEnvs({ hosts, nodeRank: 1, masterAddr: '10.0.0.1', masterPort: 1234, backend: 'gloo' }).map((r) =>
      node(`rank ${r.rank}`, code, '', mergeEnv({ ...process.env, RANK: '99', WORLD_SIZE: '99' }, r.env)),
    );
    expect((await supervise(specs, io)).exitCode).toBe(0);
    const envs = io.out().trim().split('\n').map((l) => JSON.parse(l)).sort((x, y) => Number(x.RANK) - Number(y.RANK));
    const common = { WORLD_SIZE: '5', LOCAL_WORLD_SIZE: '2', GROUP_RANK: '1', NODE_RANK: '1', CROSS_RANK: '1', CROSS_SIZE: '2', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '1234', DS_BACKEND: 'gloo', CUDA_VISIBLE_DEVICES: '0,1' };
    expect(envs).toEqual([
      { ...common, RANK: '3', LOCAL_RANK: '0' },
      { ...common, RANK: '4', LOCAL_RANK: '1' },
    ]);
  });
});
