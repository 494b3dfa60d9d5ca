// `ds estimate`: the real CLI (from source, through tsx) printing DeepSpeed's estimator tables
// and the ZeRO paper's breakdown, for a parameter count, a GPT-2 preset and a config.json.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tsxLoaderUrl } from '../src/run/command.js';
import { CLI } from './helpers.js';

function ds(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--conditions=@ds/source', '--import', tsxLoaderUrl(), CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (err += b));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

const GOLDEN_GPT2 = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden/gpt2');

describe('ds estimate', () => {
  it("prints DeepSpeed's ZeRO-2 and ZeRO-3 tables and the per-stage breakdown for --params", async () => {
    const r = await ds(['estimate', '--params', '2.851e9', '--largest-layer', '32M', '--gpus-per-node', '8']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('Model: 2,851,000,000 parameters, largest layer 32,000,000 (--params)');
    expect(lines[1]).toBe('Hardware: 1 node x 8 ranks per node = 8 ranks');
    // DeepSpeed's own table text, value for value (its docs vectors).
    expect(r.out).toContain(
      'SW: Model with 2851M total params.\n' +
        '  per CPU  |  per GPU |   Options\n' +
        '  127.45GB |   5.31GB | offload_optimizer=cpu \n' +
        '  127.45GB |  11.28GB | offload_optimizer=none\n',
    );
    expect(r.out).toContain(
      '   71.69GB |   0.12GB | offload_param=cpu , offload_optimizer=cpu , zero_init=1\n' +
        '  127.45GB |   0.12GB | offload_param=cpu , offload_optimizer=cpu , zero_init=0\n' +
        '   63.72GB |   0.78GB | offload_param=none, offload_optimizer=cpu , zero_init=1\n' +
        '  127.45GB |   0.78GB | offload_param=none, offload_optimizer=cpu , zero_init=0\n' +
        '    1.43GB |   6.09GB | offload_param=none, offload_optimizer=none, zero_init=1\n' +
        '  127.45GB |   6.09GB | offload_param=none, offload_optimizer=none, zero_init=0\n',
    );
    // fp16 Adam, 8 ranks: 2 + 2 + 12 bytes per parameter, split stage by stage.
    expect(r.out).toMatch(/^ {2}per parameter: 2 B fp16 parameters \+ 2 B fp16 gradients \+ 12 B optimizer state \(fp32 master weights, fp32 exp_avg, fp32 exp_avg_sq\)$/m);
    expect(r.out).toMatch(/^ {6}0 \| {3}5\.31 GiB \| {3}5\.31 GiB \| {2}31\.86 GiB \| {2}42\.48 GiB$/m);
    expect(r.out).toMatch(/^ {6}3 \| {3}0\.66 GiB \| {3}0\.66 GiB \| {3}3\.98 GiB \| {3}5\.31 GiB$/m);
  });

  it('counts a GPT-2 preset with overrides and reports exact bytes as JSON', async () => {
    const r = await ds(['estimate', '--model', 'gpt2', '--n-layer', '24', '--ranks', '16', '--nodes', '2', '--dtype', 'fp32', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    // gpt2 with 24 blocks: 124,439,808 + 12 more blocks of 7,087,872.
    expect(j.model).toEqual({ params: 124_439_808 + 12 * 7_087_872, largestLayerParams: 50257 * 768, source: 'gpt2 with --n-layer 24' });
    expect(j.hardware).toEqual({ nodes: 2, gpusPerNode: 8, ranks: 16 });
    const P = j.model.params as number;
    expect(j.zero2).toEqual([
      { offloadOptimizer: 'cpu', cpuBytes: Math.trunc(P * 64 * 1.5), gpuBytes: 2 * P },
      { offloadOptimizer: 'none', cpuBytes: Math.trunc(P * 4 * 8 * 1.5), gpuBytes: 2 * P + Math.trunc((18 * P) / 16) },
    ]);
    expect(j.zero3).toHaveLength(6);
    expect(j.zero3[0]).toEqual({ offloadParam: 'cpu', offloadOptimizer: 'cpu', zeroInit: true, cpuBytes: Math.trunc(P * 18 * 0.5 * 1.5), gpuBytes: 4 * 50257 * 768 });
    expect(j.modelStates.bytesPerParam).toEqual({ params: 4, gradients: 4, optimizer: 8 });
    const per = Math.ceil(P / 16);
    expect(j.modelStates.stages).toEqual([
      { stage: 0, params: 4 * P, gradients: 4 * P, optimizer: 8 * P, total: 16 * P },
      { stage: 1, params: 4 * P, gradients: 4 * P, optimizer: 8 * per, total: 8 * P + 8 * per },
      { stage: 2, params: 4 * P, gradients: 4 * per, optimizer: 8 * per, total: 4 * P + 12 * per },
      { stage: 3, params: 4 * per, gradients: 4 * per, optimizer: 8 * per, total: 16 * per },
    ]);
  });

  it('reads a GPT-2 config.json (or its directory) and limits the output to one --stage', async () => {
    const r = await ds(['estimate', '--model', GOLDEN_GPT2, '--stage', '3', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    // The golden tiny GPT-2: V 256, P 64, C 64, 2 layers.
    expect(j.model.params).toBe(120_576);
    // Its largest module is mlp.c_fc (64 x 256 + 256), not the 256 x 64 token embedding.
    expect(j.model.largestLayerParams).toBe(64 * 256 + 256);
    expect(j.model.source).toBe(path.join(GOLDEN_GPT2, 'config.json'));
    expect(j.zero2).toBeNull();
    expect(j.zero3).toHaveLength(6);
    expect(j.modelStates.stages).toEqual([{ stage: 3, params: 2 * 120_576, gradients: 2 * 120_576, optimizer: 12 * 120_576, total: 16 * 120_576 }]);
  });

  it('says which flag is wrong and what would be valid', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-estimate-'));
    const llama = path.join(dir, 'config.json');
    writeFileSync(llama, JSON.stringify({ model_type: 'llama', hidden_size: 4096 }));
    const cases: [string[], RegExp][] = [
      [['estimate', '--params', '1.5x'], /--params must be a positive number of parameters \(e\.g\. 1\.5e9, 1500000000, 1\.5B, 350M\), got "1\.5x"/],
      [['estimate', '--model', 'gtp2'], /--model "gtp2" is neither a known model .* \(did you mean gpt2\?\)/],
      [['estimate', '--params', '1e9', '--stage', '3'], /--stage 3 needs the largest layer's parameter count: add --largest-layer <count>/],
      [['estimate', '--params', '1e9', '--gpus-per-node', '8', '--ranks', '16'], /--gpus-per-node and --ranks both set the rank count; use one/],
      [['estimate', '--params', '1e9', '--ranks', '6', '--nodes', '4'], /--ranks 6 does not split evenly over --nodes 4/],
      [['estimate', '--n-embd', '1024'], /--n-embd describes a GPT-2: add --model gpt2/],
      [['estimate', '--model', llama], /model_type is "llama"; ds estimate reads GPT-2 configs/],
      [['estimate', '--params', '1e9', '--optimizer', 'adma'], /--optimizer must be one of adam, adamw, sgd, sgd-momentum, lion, adagrad, got "adma" \(did you mean adam\?\)/],
      [['estimate'], /say what to estimate: --params <count>/],
    ];
    const results = await Promise.all(cases.map(([args]) => ds(args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(1);
      expect(r.err).toMatch(/^ds estimate: error: /);
      expect(r.err).toMatch(cases[i]![1]);
      expect(r.out).toBe('');
    });
  });
});
