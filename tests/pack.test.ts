// Each published package must work when packed and installed on its own, outside the
// workspace: @ds/core alone (TypeScript kernels), with @ds/core-native, @ds/models, and the
// engine with and without the strategy package a config section needs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(os.tmpdir(), 'ds-pack-'));
const tarballs: Record<string, string> = {};

// pnpm puts its virtual store on NODE_PATH; the installed copies must not see the workspace.
const { NODE_PATH: _nodePath, ...cleanEnv } = process.env;

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...cleanEnv, npm_config_audit: 'false', npm_config_fund: 'false' } });
}

function project(name: string, deps: string[]): string {
  const dir = path.join(work, name);
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '0.0.0', private: true, type: 'module' }));
  sh('npm', ['install', '--no-save', '--prefer-offline', '--loglevel=error', ...deps.map((d) => tarballs[d]!)], dir);
  return dir;
}

beforeAll(() => {
  for (const [name, dir] of [
    ['@ds/core', 'packages/core'], ['@ds/core-native', 'native/core'], ['@ds/models', 'packages/models'], ['@ds/comm', 'packages/comm'],
    ['@ds/strategy', 'packages/strategy'], ['@ds/engine', 'packages/engine'], ['@ds/precision', 'packages/precision'],
  ] as const) {
    const out = path.join(work, 'tgz', name.replace('/', '-'));
    execFileSync('mkdir', ['-p', out]);
    sh('pnpm', ['pack', '--pack-destination', out], path.join(ROOT, dir));
    tarballs[name] = path.join(out, readdirSync(out).find((f) => f.endsWith('.tgz'))!);
  }
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('packed packages install and run on their own', () => {
  it('@ds/core alone falls back to the TypeScript kernels (ESM and CJS)', () => {
    const dir = project('core-only', ['@ds/core']);
    const esm = sh('node', ['--input-type=module', '-e', `
      import { tensor, functional as F, kernels } from '@ds/core';
      const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
      const y = F.matmul(x, x).sum(); y.backward(); // d/dX sum(X X) = 1 X^T + X^T 1
      console.log(kernels().name, y.item(), Array.from(x.grad.toFloat32Array()).join(','));`], dir);
    expect(esm.trim()).toBe('reference 54 7,11,9,13');
    const cjs = sh('node', ['-e', `const { ones } = require('@ds/core'); console.log(ones([2, 3]).sum().item());`], dir);
    expect(cjs.trim()).toBe('6');
  });

  it('@ds/core with @ds/core-native uses the native kernels', () => {
    const dir = project('core-native', ['@ds/core', '@ds/core-native']);
    const out = sh('node', ['--input-type=module', '-e', `
      import { randn, functional as F, kernels } from '@ds/core';
      const a = randn([64, 32]), b = randn([32, 16]);
      console.log(kernels().name, F.matmul(a, b).shape.join('x'), kernels().blasInfo().library);`], dir);
    expect(out.trim()).toBe('native 64x16 openblas');
  });

  it('@ds/models builds and runs GPT-2 and the tokenizer', () => {
    const dir = project('models', ['@ds/core', '@ds/core-native', '@ds/models']);
    const out = sh('node', ['--input-type=module', '-e', `
      import { tensor } from '@ds/core';
      import { GPT2LMHeadModel, GPT2Tokenizer } from '@ds/models';
      const m = new GPT2LMHeadModel({ vocab_size: 64, n_positions: 16, n_embd: 16, n_layer: 1, n_head: 2 });
      const logits = m.forward(tensor([[1n, 2n, 3n]]));
      console.log(logits.shape.join('x'), new GPT2Tokenizer().encode('Hello world').join(','));`], dir);
    expect(out.trim()).toBe('1x3x64 15496,995');
  });

  it('@ds/engine trains from a DeepSpeed config; bf16 needs @ds/precision, and says so when it is missing', () => {
    const script = `
      import { nn, tensor } from '@ds/core';
      import { initialize } from '@ds/engine';
      const model = new nn.Linear(2, 1);
      const config = { train_batch_size: 1, optimizer: { type: 'AdamW', params: { lr: 0.1 } }, bf16: { enabled: process.argv[1] === 'bf16' } };
      try {
        const { engine } = await initialize({ model, config, log: () => {} });
        for (let i = 0; i < 3; i++) { engine.backward(model.call(tensor([[1, 2]])).sum()); await engine.step(); }
        console.log('steps', engine.globalSteps, model.weight.dtype);
      } catch (e) { console.log(e.message); }`;
    const bare = project('engine-only', ['@ds/core', '@ds/comm', '@ds/strategy', '@ds/engine']);
    expect(sh('node', ['--input-type=module', '-e', script, 'fp32'], bare).trim()).toBe('steps 3 float32');
    expect(sh('node', ['--input-type=module', '-e', script, 'bf16'], bare).trim()).toMatch(/config section "bf16" .*needs @ds\/precision, which is not installed: pnpm add @ds\/precision/);
    const full = project('engine-precision', ['@ds/core', '@ds/comm', '@ds/strategy', '@ds/engine', '@ds/precision']);
    expect(sh('node', ['--input-type=module', '-e', script, 'bf16'], full).trim()).toBe('steps 3 bfloat16');
  });
});
