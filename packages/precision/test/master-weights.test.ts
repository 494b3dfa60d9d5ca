// fp32 master weights in checkpoints: with the loss scaler and the optimizer state they resume
// a run bit-exactly, and a checkpoint that does not fit the model is rejected by name.
import { describe, expect, it } from 'vitest';
import { optim, Tensor, type optim as Optim } from '@ds/core';
import { initDistributed } from '@ds/comm';
import { precision } from '@ds/precision';
import { bits, data, makeContext, makeParts, mlp, mse, setHalfGrad, trainStep } from './parts.js';

const world = await initDistributed();

describe('checkpoints', () => {
  const cloneState = <H extends object>(sd: Optim.OptimizerStateDict<H>): Optim.OptimizerStateDict<H> => ({
    paramGroups: structuredClone(sd.paramGroups),
    state: Object.fromEntries(Object.entries(sd.state).map(([k, st]) => [k, Object.fromEntries(Object.entries(st).map(([n, v]) => [n, v instanceof Tensor ? v.clone() : v]))])),
  });

  it('loss_scaler + fp32_master_weights + optimizer state resume a run bit-exactly', async () => {
    const { x, y } = data(17);
    const run = (seed: number) => {
      const model = mlp(seed);
      const opt = new optim.AdamW(model.parameters(), { lr: 1e-2 });
      const parts = makeParts(model, opt);
      precision({ dtype: 'float16', lossScaler: { initScale: 2 ** 10, scaleWindow: 2, hysteresis: 2 } }).apply(parts, makeContext(world));
      return { model, opt, parts, loss: () => mse(model.call(x), y) };
    };
    const a = run(18);
    for (let s = 0; s < 4; s++) await trainStep(a.parts, a.loss, s === 1 ? () => setHalfGrad(a.model.parameters()[0]!, 0, 0x7c00) : undefined);
    const scalerState = structuredClone(a.parts.state.get('loss_scaler')!.stateDict());
    const masterState = Object.fromEntries(Object.entries(a.parts.state.get('fp32_master_weights')!.stateDict() as Record<string, Tensor>).map(([k, t]) => [k, t.clone()]));
    const optState = cloneState(a.opt.stateDict());
    expect(scalerState).toMatchObject({ cur_iter: 4, last_overflow_iter: 1 });

    const continued: number[] = [];
    for (let s = 0; s < 4; s++) continued.push((await trainStep(a.parts, a.loss)).loss);

    const b = run(99);
    b.parts.state.get('loss_scaler')!.loadStateDict(scalerState);
    b.parts.state.get('fp32_master_weights')!.loadStateDict(masterState);
    b.opt.loadStateDict(optState);
    expect(b.parts.lossScale.scale).toBe((scalerState as { cur_scale: number }).cur_scale);
    const resumed: number[] = [];
    for (let s = 0; s < 4; s++) resumed.push((await trainStep(b.parts, b.loss)).loss);
    expect(resumed).toEqual(continued);
    expect(b.model.parameters().map(bits)).toEqual(a.model.parameters().map(bits));
    expect(b.parts.lossScale.scale).toBe(a.parts.lossScale.scale);
  });

  it('fp32_master_weights rejects a checkpoint that does not fit the model', () => {
    const model = mlp(19);
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
    precision({ dtype: 'float16' }).apply(parts, makeContext(world));
    const masters = parts.state.get('fp32_master_weights')!;
    const good = masters.stateDict() as Record<string, Tensor>;
    const { '2.bias': _dropped, ...partial } = good;
    expect(() => masters.loadStateDict(partial)).toThrow("the checkpoint has no master weight for '2.bias'");
    expect(() => masters.loadStateDict({ ...good, '2.biass': good['2.bias']! })).toThrow("unknown fp32_master_weights entry '2.biass' (did you mean '2.bias'?)");
    expect(() => masters.loadStateDict({ ...good, '0.bias': good['2.bias']! })).toThrow("'0.bias' has shape [2] in the checkpoint but the parameter has shape [8]");
    expect(() => masters.loadStateDict([])).toThrow('expected a record of fp32 master weights by parameter name');
  });
});
