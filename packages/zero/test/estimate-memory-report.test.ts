// The measured per-rank memory report against the ZeRO paper's model: plain data parallelism
// (stage 0) through initialize() holds exactly 4 + 4 + 8 bytes per parameter with fp32 AdamW,
// and 2 + 2 + 12 with bf16 parameters and fp32 masters.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { flattenTensors, Generator, loadSafetensors, nn, optim, randn, tensor } from '@ds/core';
import { initialize } from '@ds/engine';
import { GPT2LMHeadModel } from '@ds/models';
import { gpt2ParamCount, memoryReport, modelStateBytes, moduleParamCounts, registerMemory } from '../src/estimate/index.js';
import { GOLDEN } from './golden.js';

const CONFIG = {
  train_batch_size: 2,
  optimizer: { type: 'AdamW', params: { lr: 1e-3, weight_decay: 0.01 } },
};

/** One step (so the optimizer state exists), then a backward (so gradients exist), then measure. */
async function measured(extra: Record<string, unknown>) {
  const model = await GPT2LMHeadModel.fromPretrained(path.join(GOLDEN, 'gpt2'));
  const data = await loadSafetensors(path.join(GOLDEN, 'gpt2', 'data.safetensors'));
  const batch = (s: number) => [data.input_ids!.narrow(0, s, 1).squeeze(0).narrow(0, 0, 2).contiguous(), data.targets!.narrow(0, s, 1).squeeze(0).narrow(0, 0, 2).contiguous()] as const;
  const { engine } = await initialize({ model, config: { ...CONFIG, ...extra }, log: () => {} });
  for (let s = 0; s < 2; s++) {
    const [ids, tgt] = batch(s);
    engine.backward(model.loss(ids, tgt));
    if (s === 0) await engine.step();
  }
  const report = memoryReport(engine.parts);
  const psi = moduleParamCounts(model).totalParams;
  await engine.close();
  return { report, psi, model };
}

describe('memoryReport vs modelStateBytes at stage 0', () => {
  it('fp32 AdamW: 4 psi parameters + 4 psi gradients + 8 psi optimizer state', async () => {
    const { report, psi } = await measured({});
    const want = modelStateBytes({ params: psi, stage: 0, worldSize: 1, dtype: 'fp32', optimizer: 'adamw' });
    // The golden tiny GPT-2, wte counted once although the LM head uses it too.
    expect(psi).toBe(gpt2ParamCount({ vocab_size: 256, n_positions: 64, n_embd: 64, n_layer: 2 }));
    expect({ parameters: report.parameters, gradients: report.gradients, optimizer: report.optimizer })
      .toEqual({ parameters: want.params, gradients: want.gradients, optimizer: want.optimizer });
    expect(report.total).toBe(16 * psi);
    expect(Object.fromEntries(report.entries.map((e) => [e.what, e.bytes]))).toEqual({
      'float32 parameters': 4 * psi,
      'float32 gradients': 4 * psi,
      "optimizer state 'expAvg'": 4 * psi,
      "optimizer state 'expAvgSq'": 4 * psi,
    });
  });

  it('bf16 with fp32 masters: 2 psi + 4 psi (fp32-accumulated gradients) + 12 psi (masters, exp_avg, exp_avg_sq)', async () => {
    const { report, psi, model } = await measured({ bf16: { enabled: true } });
    expect(model.parameters().every((p) => p.dtype === 'bfloat16')).toBe(true);
    const want = modelStateBytes({ params: psi, stage: 0, worldSize: 1, dtype: 'bf16', optimizer: 'adamw' });
    // Without ZeRO, bf16 gradients accumulate in fp32 (data_types.grad_accum_dtype), in the
    // masters' gradients, and the bf16 ones are dropped after backward: the paper's 16-bit
    // gradient elements, 4 bytes wide.
    expect({ parameters: report.parameters, gradients: report.gradients, optimizer: report.optimizer })
      .toEqual({ parameters: want.params, gradients: want.gradients, optimizer: want.optimizer });
    expect(want.gradients).toBe(4 * psi);
    const byWhat = Object.fromEntries(report.entries.map((e) => [e.what, e.bytes]));
    expect(byWhat).toEqual({
      'bfloat16 parameters': 2 * psi,
      'float32 gradients of optimizer-held copies': 4 * psi,
      'float32 parameter copies held by the optimizer': 4 * psi,
      "optimizer state 'expAvg'": 4 * psi,
      "optimizer state 'expAvgSq'": 4 * psi,
    });
  });
});

describe('memoryReport', () => {
  it('counts a flat buffer once (padding included) however many parameter views share it', () => {
    const g = new Generator(1);
    const ps = [randn([3, 5], { generator: g }), randn([7], { generator: g })].map((t) => new nn.Parameter(t));
    flattenTensors(ps, { rebind: true, align: 4 });
    // 15 -> 16 and 7 -> 8 elements with alignment 4.
    expect(memoryReport(ps).parameters).toBe(24 * 4);
  });

  it('adds registered buffers under their category until removed, and rejects an unknown category', () => {
    const p = new nn.Parameter(tensor([1, 2, 3, 4]));
    const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9 });
    const h1 = registerMemory('optimizer', () => 1000, { name: 'fp32 partition' });
    const h2 = registerMemory('buffers', () => 64, { name: 'reduce bucket' });
    const r = memoryReport({ optimizer: opt, model: null });
    // p is not in a model here, so it counts as an optimizer-held copy.
    expect(r.optimizer).toBe(16 + 1000);
    expect(r.buffers).toBe(64);
    expect(r.entries).toContainEqual({ category: 'buffers', what: 'reduce bucket', bytes: 64 });
    h1.remove();
    h2.remove();
    expect(memoryReport({ optimizer: opt }).total).toBe(16);
    expect(() => registerMemory('activations' as never, () => 0)).toThrow(/category must be one of 'parameters', 'gradients', 'optimizer', 'buffers', got "activations"/);
  });
});
