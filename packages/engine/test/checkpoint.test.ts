// Checkpoints: resume gives exactly the uninterrupted trajectory; a save killed midway leaves
// the previous checkpoint and `latest` intact; a checkpoint loads at another data-parallel
// size; corrupt or mismatched checkpoints fail with a clear error and change nothing.
import { fork } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import { GPT2LMHeadModel } from '@ds/models';
import { initialize } from '../src/index.js';
import { BASE_CONFIG, makeEngine, trainSteps, type CkptArgs } from './fixtures/checkpoint.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, 'fixtures', 'checkpoint.ts');
type Out = { losses: number[]; globalSteps: number; lr: number[]; loaded: string | null };

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'ds-ckpt-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const run = (n: number, args: CkptArgs) => launchInProcess<Out, CkptArgs>({ nprocs: n, script: FIXTURE, exportName: 'scenario', args, timeoutMs: 60_000 });

describe('checkpoints', () => {
  it('save, then resume in a fresh engine: exactly the uninterrupted trajectory (model, AdamW, scheduler, counters)', async () => {
    const dir = await tmp();
    const [full] = await run(1, { dir, steps: 8, from: 0 });
    const [first] = await run(1, { dir, steps: 4, from: 0, save: true });
    expect(readFileSync(path.join(dir, 'latest'), 'utf8')).toBe('global_step4');
    const [second] = await run(1, { dir, steps: 4, from: 4, load: true });
    expect(second!.loaded).toBe(path.join(dir, 'global_step4'));
    expect([...first!.losses, ...second!.losses]).toEqual(full!.losses); // bit-identical
    expect(second!.globalSteps).toBe(8);
    expect(second!.lr).toEqual(full!.lr);
  });

  it('resumes at another data-parallel size (saved at 2 ranks, loaded at 1 and 4)', async () => {
    const dir = await tmp();
    const full = await run(2, { dir, steps: 6, from: 0 });
    await run(2, { dir, steps: 3, from: 0, save: true, tag: 'dp2' });
    for (const n of [1, 4]) {
      const resumed = await run(n, { dir, steps: 3, from: 3, load: true, tag: 'dp2' });
      // Another world size sums the same gradients in another order: fp32 rounding only.
      resumed[0]!.losses.forEach((l, i) => expect(Math.abs(l - full[0]!.losses[3 + i]!)).toBeLessThan(2e-5));
      expect(resumed[0]!.globalSteps).toBe(6);
    }
  });

  it('a save killed midway leaves the previous checkpoint and latest intact', async () => {
    const dir = await tmp();
    const child = fork(FIXTURE, [], {
      env: { ...process.env, DS_CKPT_SAVE_LOOP: dir },
      execArgv: ['--conditions=@ds/source', '--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.on('message', (m: { kind: string; message?: string }) => (m.kind === 'saved' ? resolve() : reject(new Error(m.message))));
      child.on('exit', (code) => reject(new Error(`saver exited early (${code}): ${stderr}`)));
    });
    // Kill as soon as a staging directory holds part of the next checkpoint.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const staging = readdirSync(dir).find((n) => n.startsWith('.staging-'));
      if (staging && readdirSync(path.join(dir, staging)).length > 0) break;
      if (Date.now() > deadline) throw new Error('no save in progress was observed');
      await new Promise((r) => setTimeout(r, 2));
    }
    child.kill('SIGKILL');
    await exited;
    const latest = readFileSync(path.join(dir, 'latest'), 'utf8');
    expect(existsSync(path.join(dir, latest))).toBe(true);
    expect(readdirSync(dir).some((n) => n.startsWith('.staging-'))).toBe(true); // the interrupted save
    const model = new GPT2LMHeadModel({ vocab_size: 4096, n_positions: 64, n_embd: 256, n_layer: 4, n_head: 4 }, { seed: 2 });
    const { engine } = await initialize({ model, config: BASE_CONFIG, log: () => {} });
    const res = await engine.loadCheckpoint(dir);
    expect(res.path).toBe(path.join(dir, latest));
    expect(engine.globalSteps).toBe(1);
    await engine.close();
  });

  it('a corrupt file is detected before anything is loaded, naming the file', async () => {
    const dir = await tmp();
    const { engine, model } = await makeEngine();
    await trainSteps(engine, model, 0, 2);
    await engine.saveCheckpoint(dir, { tag: 'ok' });
    const file = path.join(dir, 'ok', 'mp_rank_00_optim_states.safetensors');
    const bytes = readFileSync(file);
    bytes[bytes.length - 3]! ^= 0x40;
    writeFileSync(file, bytes);

    const fresh = await makeEngine();
    const before = fresh.model.stateDict()['transformer.wte.weight']!.toFloat32Array().slice();
    await expect(fresh.engine.loadCheckpoint(dir)).rejects.toThrow(/mp_rank_00_optim_states\.safetensors does not match its sha256/);
    expect(fresh.model.stateDict()['transformer.wte.weight']!.toFloat32Array()).toEqual(before);
    expect(fresh.engine.globalSteps).toBe(0);

    writeFileSync(file, bytes.subarray(0, 100));
    await expect(fresh.engine.loadCheckpoint(dir)).rejects.toThrow(/has 100 bytes but was saved with \d+ bytes; the file is truncated/);
    await engine.close();
    await fresh.engine.close();
  });

  it('a checkpoint of another model is rejected with the tensor and shapes', async () => {
    const dir = await tmp();
    const { engine } = await makeEngine();
    await engine.saveCheckpoint(dir, { tag: 'a' });
    const other = new GPT2LMHeadModel({ vocab_size: 256, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 4 }, { seed: 0 });
    const { engine: e2 } = await initialize({ model: other, config: BASE_CONFIG, log: () => {} });
    await expect(e2.loadCheckpoint(dir)).rejects.toThrow(/transformer\.wte\.weight has shape \[256, 64\] in the checkpoint but \[256, 32\] in the model/);
    await expect(e2.loadCheckpoint(dir, { tag: 'nope' })).rejects.toThrow(/no checkpoint with tag "nope"/);
    expect(await e2.loadCheckpoint(path.join(dir, 'empty-does-not-exist'))).toEqual({ path: null, clientState: null });
    await engine.close();
    await e2.close();
  });

  it('client state round-trips and tags are validated', async () => {
    const dir = await tmp();
    const { engine } = await makeEngine();
    await engine.saveCheckpoint(dir, { tag: 'c', clientState: { epoch: 3, note: 'x' } });
    expect((await engine.loadCheckpoint(dir)).clientState).toEqual({ epoch: 3, note: 'x' });
    await expect(engine.saveCheckpoint(dir, { tag: '../x' })).rejects.toThrow(/not a valid directory name/);
    await engine.close();
  });
});

