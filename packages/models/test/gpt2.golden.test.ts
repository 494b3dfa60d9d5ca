import { readFileSync, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSafetensors, nn, optim, useKernels, type Tensor } from '@ds/core';
import { GPT2LMHeadModel } from '../src/index.js';

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden/gpt2');
const meta = JSON.parse(readFileSync(path.join(GOLDEN, 'meta.json'), 'utf8'));
const traj = JSON.parse(readFileSync(path.join(GOLDEN, 'trajectories.json'), 'utf8'));
const TOL = meta.tolerance as Record<string, { atol: number; rtol: number }>;
const NATIVE = existsSync(path.resolve(GOLDEN, '../../../main/native/core/build/Release/ds_core.node'));
const MODES: ('reference' | 'native')[] = ['reference'];
try {
  useKernels('native');
  MODES.push('native');
} catch {
  console.warn('native kernels not built: GPT-2 golden tests run in TypeScript mode only');
}
useKernels('reference');
void NATIVE;

function close(actual: Tensor | number[], expected: Tensor | number[], tol: { atol: number; rtol: number }, what: string): void {
  const a = Array.isArray(actual) ? actual : Array.from(actual.toFloat32Array());
  const e = Array.isArray(expected) ? expected : Array.from(expected.toFloat32Array());
  expect(a.length, `${what} length`).toBe(e.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i]! - e[i]!) <= tol.atol + tol.rtol * Math.abs(e[i]!))) {
      expect.fail(`${what}[${i}] = ${a[i]} but expected ${e[i]} (atol ${tol.atol}, rtol ${tol.rtol})`);
    }
  }
}

let data: Record<string, Tensor>;
beforeAll(async () => {
  data = await loadSafetensors(path.join(GOLDEN, 'data.safetensors'));
});

function batch(step: number, lo = 0, hi?: number): [Tensor, Tensor] {
  const ids = data.input_ids!.narrow(0, step, 1).squeeze(0);
  const tgt = data.targets!.narrow(0, step, 1).squeeze(0);
  const n = hi ?? ids.shape[0]!;
  return [ids.narrow(0, lo, n - lo).contiguous(), tgt.narrow(0, lo, n - lo).contiguous()];
}

describe.each(MODES)('GPT-2 golden (%s kernels)', (mode) => {
  beforeAll(() => void useKernels(mode));
  afterAll(() => void useKernels('reference'));

  it('step 0: logits, hidden states, loss and every parameter gradient', async () => {
    const model = await GPT2LMHeadModel.fromPretrained(GOLDEN);
    const ref = await loadSafetensors(path.join(GOLDEN, 'step0.safetensors'));
    const grads = await loadSafetensors(path.join(GOLDEN, 'step0_grads.safetensors'));
    const [ids, tgt] = batch(0);
    const hidden: Tensor[] = [];
    const h = model.transformer.forward(ids, (i, x) => (hidden[i] = x));
    for (let j = 0; j < hidden.length; j++) close(hidden[j]!, ref[`hidden_states.${j}`]!, TOL.hidden_states!, `hidden_states.${j}`);
    void h;
    const logits = model.forward(ids);
    close(logits, ref.logits!, TOL.logits!, 'logits');
    const loss = model.loss(ids, tgt);
    close([loss.item()], [ref.loss!.item()], TOL.loss!, 'loss');
    loss.backward();
    const params = Object.fromEntries(model.namedParameters());
    expect(Object.keys(params).sort()).toEqual(Object.keys(grads).sort());
    for (const [name, g] of Object.entries(grads)) close(params[name]!.grad!, g, TOL.step0_grads!, `grad ${name}`);
  });

  const setups: [string, string][] = [
    ['a_adamw', 'AdamW'],
    ['b_adamw_clip', 'AdamW + clip 1.0'],
    ['c_adamw_accum2', 'AdamW, 2 micro-batches'],
    ['d_sgd_momentum', 'SGD momentum'],
  ];
  for (const [key, label] of setups) {
    it(`8-step trajectory ${key} (${label})`, async () => {
      const setup = traj.setups[key];
      const model = await GPT2LMHeadModel.fromPretrained(GOLDEN);
      const params = model.parameters();
      const opt = key.startsWith('d_')
        ? new optim.SGD(params, { lr: 0.01, momentum: 0.9 })
        : new optim.AdamW(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
      const micro = key.startsWith('c_') ? 2 : 1;
      const losses: number[] = [];
      const norms: number[] = [];
      for (let s = 0; s < meta.steps; s++) {
        opt.zeroGrad();
        let total = 0;
        const rows = data.input_ids!.shape[1]!;
        for (let m = 0; m < micro; m++) {
          const [ids, tgt] = batch(s, (m * rows) / micro, ((m + 1) * rows) / micro);
          const loss = model.loss(ids, tgt);
          total += loss.item() / micro;
          loss.div(micro).backward();
        }
        losses.push(total);
        if (key.startsWith('b_')) norms.push(nn.clipGradNorm_(params, 1.0));
        else norms.push(nn.clipGradNorm_(params, Infinity));
        opt.step();
      }
      close(losses, setup.loss, traj.tolerance.loss, `${key} loss`);
      close(norms, setup.grad_norm ?? setup.grad_norm_pre_clip, traj.tolerance.grad_norm, `${key} grad norm`);
      if (key === 'a_adamw') {
        const final = await loadSafetensors(path.join(GOLDEN, 'final_params_a_adamw.safetensors'));
        const named = Object.fromEntries(model.namedParameters());
        for (const [name, t] of Object.entries(final)) close(named[name]!, t, TOL.final_params!, `final ${name}`);
      }
    });
  }
});

describe('GPT-2 save/load', () => {
  it('savePretrained writes the golden weights back bit-exactly', async () => {
    const model = await GPT2LMHeadModel.fromPretrained(GOLDEN);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ds-gpt2-'));
    try {
      await model.savePretrained(dir);
      const written = await readFile(path.join(dir, 'model.safetensors'));
      const golden = await readFile(path.join(GOLDEN, 'model.safetensors'));
      expect(written.equals(golden), 'model.safetensors is byte-identical').toBe(true);
      const again = await GPT2LMHeadModel.fromPretrained(dir);
      expect(again.config.n_embd).toBe(64);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects checkpoints with wrong shapes, naming the tensor', async () => {
    const model = new GPT2LMHeadModel({ vocab_size: 256, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 4 });
    const golden = await loadSafetensors(path.join(GOLDEN, 'model.safetensors'));
    expect(() => model.loadStateDict(golden)).toThrow(/transformer\.wte\.weight: checkpoint has shape \[256, 64\], the model expects \[256, 32\]/);
  });
});
