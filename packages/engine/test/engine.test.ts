// The engine loop on its own: DeepSpeed's accumulation boundary, counters, scheduler stepping,
// client optimizers and schedulers, strategies from the config, and the errors users hit.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Generator, nn, optim, tensor } from '@ds/core';
import type { Strategy } from '@ds/strategy';
import { createEngine, initialize } from '../src/index.js';

const quiet = { log: () => {} };

function model() {
  return new nn.Linear(3, 1, { generator: new Generator(0) });
}
const x = tensor([[1, 2, 3]]);

describe('engine loop', () => {
  it('steps the optimizer and scheduler only at the accumulation boundary, loss divided by GAS', async () => {
    const m = model();
    const w0 = m.weight.toFloat32Array().slice();
    const { engine } = await initialize({
      model: m,
      config: { train_batch_size: 3, gradient_accumulation_steps: 3, optimizer: { type: 'SGD', params: { lr: 0.1 } }, scheduler: { type: 'LRRangeTest', params: { lr_range_test_min_lr: 0.1, lr_range_test_step_size: 1 } } },
      ...quiet,
    });
    expect(engine.getLr()).toEqual([0.1]);
    for (let micro = 0; micro < 3; micro++) {
      expect(engine.isGradientAccumulationBoundary()).toBe(micro === 2);
      const scaled = engine.backward(m.call(x).sum());
      expect(scaled.item()).toBeCloseTo(m.call(x).sum().item() / 3, 5);
      await engine.step();
      if (micro < 2) expect(Array.from(m.weight.toFloat32Array())).toEqual(Array.from(w0)); // not yet
    }
    // three micro-batches of (sum / 3): the gradient is x itself; SGD lr 0.1
    const w = m.weight.toFloat32Array();
    [1, 2, 3].forEach((xi, i) => expect(w[i]).toBeCloseTo(w0[i]! - 0.1 * xi, 5));
    expect(engine.globalSteps).toBe(1);
    expect(engine.microSteps).toBe(3);
    expect(engine.globalSamples).toBe(3);
    expect(engine.getLr()[0]).toBeCloseTo(0.2, 10); // LRRangeTest: min * (1 + 1 * (k+1)/1) at k = 0
    expect(m.weight.grad).toBeNull(); // zeroed after the step
    await engine.close();
  });

  it('builds Adam as AdamW unless adam_w_mode is false (DeepSpeed), and honours bias_correction', async () => {
    const { engine: a } = await initialize({ model: model(), config: { train_batch_size: 1, optimizer: { type: 'Adam', params: { lr: 1e-3 } } }, ...quiet });
    expect(a.optimizer).toBeInstanceOf(optim.AdamW);
    const { engine: b } = await initialize({ model: model(), config: { train_batch_size: 1, optimizer: { type: 'Adam', params: { lr: 1e-3, adam_w_mode: false, bias_correction: false } } }, ...quiet });
    expect(b.optimizer).toBeInstanceOf(optim.Adam);
    expect(b.optimizer).not.toBeInstanceOf(optim.AdamW);
    expect(b.optimizer!.paramGroups[0]!.biasCorrection).toBe(false);
  });

  it('takes a client optimizer and a scheduler factory', async () => {
    const m = model();
    const opt = new optim.SGD(m.parameters(), { lr: 0.5 });
    let built = 0;
    const { engine, optimizer } = await initialize({
      model: m, optimizer: opt, config: { train_batch_size: 1 },
      lrScheduler: (o) => ({ step: () => void (built++, (o.paramGroups[0]!.lr = 0.25)), stateDict: () => ({}), loadStateDict: () => {} }),
      ...quiet,
    });
    expect(optimizer).toBe(opt);
    engine.backward(m.call(x).sum());
    await engine.step();
    expect(built).toBe(1);
    expect(engine.getLr()).toEqual([0.25]);
  });

  it('without an optimizer, backward and step say what to do', async () => {
    const { engine } = await initialize({ model: model(), config: { train_batch_size: 1 }, ...quiet });
    expect(() => engine.backward(model().call(x).sum())).toThrow(/no optimizer; pass one to initialize\(\) or add an "optimizer" section/);
    await expect(engine.step()).rejects.toThrow(/no optimizer/);
  });

  it('rejects a loss that is not a scalar', async () => {
    const m = model();
    const { engine } = await initialize({ model: m, config: { train_batch_size: 1, optimizer: { type: 'SGD', params: { lr: 0.1 } } }, ...quiet });
    expect(() => engine.backward(m.call(tensor([[1, 2, 3], [4, 5, 6]])))).toThrow(/loss must have one element, got shape \[2, 1\]/);
  });

  it('applies user strategies after the defaults, with the resolved settings in the context', async () => {
    const seen: string[] = [];
    const s: Strategy = {
      name: 'probe',
      apply(parts, ctx) {
        seen.push(parts.gradSync.name, parts.updater.name, String(ctx.gradientAccumulationSteps), String(ctx.gradientClipping));
      },
    };
    await initialize({ model: model(), config: { train_batch_size: 2, gradient_accumulation_steps: 2, gradient_clipping: 0.5, optimizer: { type: 'SGD', params: { lr: 1 } } }, strategies: [s], ...quiet });
    expect(seen).toEqual(['data-parallel all-reduce', 'optimizer', '2', '0.5']);
  });

  it('clips to gradient_clipping and reports the pre-clip norm', async () => {
    const m = new nn.Linear(2, 1, { bias: false, generator: new Generator(0) });
    const w0 = m.weight.toFloat32Array().slice();
    const { engine } = await initialize({ model: m, config: { train_batch_size: 1, gradient_clipping: 1, optimizer: { type: 'SGD', params: { lr: 1 } } }, ...quiet });
    engine.backward(m.call(tensor([[3, 4]])).sum()); // grad [3, 4], norm 5
    await engine.step();
    expect(engine.globalGradNorm).toBeCloseTo(5, 5);
    const w = m.weight.toFloat32Array();
    expect(w[0]).toBeCloseTo(w0[0]! - 0.6, 5);
    expect(w[1]).toBeCloseTo(w0[1]! - 0.8, 5);
  });

  it('createEngine composes an engine without a config', async () => {
    const m = model();
    const engine = await createEngine({ model: m, optimizer: new optim.SGD(m.parameters(), { lr: 0.1 }), settings: { gradientAccumulationSteps: 2 } });
    engine.backward(m.call(x).sum());
    await engine.step();
    expect(engine.globalSteps).toBe(0);
    engine.backward(m.call(x).sum());
    await engine.step();
    expect(engine.globalSteps).toBe(1);
    expect(engine.trainBatchSize).toBe(2);
  });

  it('prints the progress line every steps_per_print steps and writes the CSV monitor on rank 0', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-monitor-'));
    try {
      const m = model();
      const lines: string[] = [];
      const { engine } = await initialize({
        model: m,
        config: {
          train_batch_size: 1, steps_per_print: 2, wall_clock_breakdown: true,
          optimizer: { type: 'SGD', params: { lr: 0.1 } },
          csv_monitor: { enabled: true, output_path: dir, job_name: 'job' },
        },
        flopsPerSample: 1e6,
        log: (l) => lines.push(l),
      });
      for (let i = 0; i < 4; i++) {
        engine.backward(m.call(x).sum());
        await engine.step();
      }
      await engine.close();
      const progress = lines.filter((l) => l.startsWith('step='));
      expect(progress.map((l) => l.split(',')[0])).toEqual(['step=2', 'step=4']);
      // throughput ignores the first 2 optimizer steps (DeepSpeed's warm-up), so it shows from step 4
      expect(progress[0]).toMatch(/^step=2, skipped=0, lr=\[0\.1\], loss=[-0-9.]+, loss_scale=1, rss=[0-9.]+GB$/);
      expect(progress[1]).toMatch(/^step=4, skipped=0, lr=\[0\.1\], loss=[-0-9.]+, loss_scale=1, samples\/s=[0-9.]+, mfu=[0-9.]+%, rss=[0-9.]+GB$/);
      // no engine.forward in this loop, so no fwd timer
      expect(lines.filter((l) => /^time \(ms\) \| bwd: [0-9.]+ \| bwd_allreduce: [0-9.]+ \| step: [0-9.]+$/.test(l)).length).toBe(2);
      const csv = readFileSync(path.join(dir, 'job', 'Train_Samples_train_loss.csv'), 'utf8').trim().split('\n');
      expect(csv[0]).toBe('step,train_loss');
      expect(csv.slice(1).map((r) => r.split(',')[0])).toEqual(['1', '2', '3', '4']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
