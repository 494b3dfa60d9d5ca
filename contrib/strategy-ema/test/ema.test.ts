import { describe, expect, it } from 'vitest';
import { Generator, nn, optim, tensor } from '@ds/core';
import { createEngine } from '@ds/engine';
import { ema } from '../src/index.js';

describe('ds-strategy-ema plugs into createEngine', () => {
  it('averages the weights after every applied step and saves them with the engine state', async () => {
    const model = new nn.Linear(2, 1, { generator: new Generator(3) });
    const strategy = ema({ decay: 0.5 });
    const engine = await createEngine({ model, optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }), strategies: [strategy] });
    const w0 = model.weight.toFloat32Array().slice();
    let expected = Array.from(w0);
    for (let s = 0; s < 3; s++) {
      const y = model.call(tensor([[1, 2]]));
      engine.backward(y.sum());
      await engine.step();
      // dL/dw = x = [1, 2]: SGD moves w by -0.1 * x each step
      const w = model.weight.toFloat32Array();
      [1, 2].forEach((x, i) => expect(w[i]).toBeCloseTo(w0[i]! - 0.1 * (s + 1) * x, 5));
      expected = expected.map((e, i) => 0.5 * e + 0.5 * w[i]!);
    }
    const avg = strategy.averages[0]!.toFloat32Array();
    expected.forEach((e, i) => expect(avg[i]).toBeCloseTo(e, 6));
    expect(engine.parts.state.has('ema')).toBe(true);
    const restore = strategy.swapIn();
    expect(Array.from(model.weight.toFloat32Array())).toEqual(Array.from(avg));
    restore();
    expect(model.weight.toFloat32Array()[0]).toBeCloseTo(w0[0]! - 0.3, 5);
    await engine.close();
  });

  it('rejects a decay outside [0, 1)', () => {
    expect(() => ema({ decay: 1 })).toThrow(/decay must be in \[0, 1\), got 1/);
  });
});
