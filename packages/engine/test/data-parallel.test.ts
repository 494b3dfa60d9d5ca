// Acceptance: golden GPT-2 trajectories (a), (b), (c) through initialize() and a DeepSpeed
// config at data-parallel sizes 1, 2, 4 (in-process ranks) and 2 (processes over Gloo): each
// rank trains on its slice of the same global batch; losses and gradient norms must match the
// single-process PyTorch reference within the manifest tolerance.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import { GOLDEN, type Trajectory, type TrajectoryArgs } from './fixtures/gpt2-dp.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, 'fixtures', 'gpt2-dp.ts');
const traj = JSON.parse(readFileSync(path.join(GOLDEN, 'trajectories.json'), 'utf8'));
const TOL = traj.tolerance as { loss: { atol: number; rtol: number }; grad_norm: { atol: number; rtol: number } };

function expectClose(actual: number[], expected: number[], tol: { atol: number; rtol: number }, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e))) expect.fail(`${what}[${i}] = ${a}, expected ${e} (atol ${tol.atol}, rtol ${tol.rtol})`);
  });
}

function check(setup: TrajectoryArgs['setup'], out: Trajectory[]): void {
  const ref = traj.setups[setup];
  for (const [rank, r] of out.entries()) {
    expectClose(r.losses, ref.loss, TOL.loss, `${setup} rank ${rank} loss`);
    if (setup === 'b_adamw_clip') expectClose(r.gradNorms as number[], ref.grad_norm_pre_clip, TOL.grad_norm, `${setup} rank ${rank} grad norm`);
  }
}

// (c) needs 2 micro-batches of the 4-row global batch: with 4 ranks a micro-batch would be half a row.
const cases: [TrajectoryArgs['setup'], number[]][] = [
  ['a_adamw', [1, 2, 4]],
  ['b_adamw_clip', [1, 2, 4]],
  ['c_adamw_accum2', [1, 2]],
];

describe('data parallel: golden GPT-2 trajectories through initialize()', () => {
  for (const [setup, sizes] of cases) {
    for (const n of sizes) {
      it(`${setup} on ${n} in-process rank${n > 1 ? 's' : ''}`, async () => {
        const out = await launchInProcess<Trajectory, TrajectoryArgs>({ nprocs: n, script: FIXTURE, exportName: 'trajectory', args: { setup }, timeoutMs: 60_000 });
        expect(out[0]!.microBatch * out[0]!.gas * n).toBe(4);
        check(setup, out);
      });
    }
  }

  it('prescale_gradients and gradient_predivide_factor average the same gradients (b on 4 ranks)', async () => {
    for (const extra of [{ prescale_gradients: true }, { gradient_predivide_factor: 2 }]) {
      const out = await launchInProcess<Trajectory, TrajectoryArgs>({ nprocs: 4, script: FIXTURE, exportName: 'trajectory', args: { setup: 'b_adamw_clip', extra }, timeoutMs: 60_000 });
      check('b_adamw_clip', out);
    }
  });

  it('communication_data_type bf16 reduces in bfloat16: close to, but not exactly, the fp32 trajectory', async () => {
    const out = await launchInProcess<Trajectory, TrajectoryArgs>({ nprocs: 2, script: FIXTURE, exportName: 'trajectory', args: { setup: 'a_adamw', extra: { communication_data_type: 'bf16' } }, timeoutMs: 60_000 });
    const ref = traj.setups.a_adamw.loss as number[];
    const rel = out[0]!.losses.map((l, i) => Math.abs(l - ref[i]!) / ref[i]!);
    expect(Math.max(...rel)).toBeLessThan(1e-2);
    expect(Math.max(...rel.slice(1))).toBeGreaterThan(1e-6); // rounded gradients change the later losses
  });

  for (const setup of ['a_adamw', 'b_adamw_clip', 'c_adamw_accum2'] as const) {
    it(`${setup} on 2 processes (gloo)`, async () => {
      check(setup, await runProcesses(2, { setup }));
    });
  }
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function runProcesses(n: number, args: TrajectoryArgs): Promise<Trajectory[]> {
  const port = await freePort();
  const results: Trajectory[] = [];
  const logs: string[] = [];
  const children: ReturnType<typeof fork>[] = [];
  try {
    await Promise.all(
    Array.from({ length: n }, (_, rank) =>
      new Promise<void>((resolve, reject) => {
        const child = fork(FIXTURE, [], {
          env: { ...process.env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(n), LOCAL_WORLD_SIZE: String(n), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), DS_ENGINE_SCENARIO: JSON.stringify(args) },
          execArgv: ['--conditions=@ds/source', '--import', 'tsx'],
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        });
        children.push(child);
        const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
        logs[rank] = '';
        child.stdout!.on('data', (d: Buffer) => (logs[rank] += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (logs[rank] += d.toString()));
        child.on('message', (m: { kind: string; data?: Trajectory; error?: { message: string } }) => {
          if (m.kind === 'result') results[rank] = m.data!;
          else reject(new Error(`rank ${rank}: ${m.error?.message}\n${logs[rank]}`));
        });
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          if (code === 0 && results[rank]) resolve();
          else reject(new Error(`rank ${rank} exited with ${code ?? signal}\n${logs[rank]!.slice(-3000)}`));
        });
      }),
    ),
    );
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  return results;
}
