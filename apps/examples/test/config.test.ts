import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../src/config.js';
import { lossCurveSvg } from '../src/loss-curve.js';

const CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../configs/gpt2.json');
const base = { config: CONFIG, steps: 500, batchSize: undefined, lr: undefined, warmup: undefined, weightDecay: undefined, clip: undefined, bf16: false };

describe('the training config', () => {
  it('fills the "auto" scheduler values from the run', () => {
    const c = buildConfig(base);
    expect(c.scheduler.params.total_num_steps).toBe(500);
    expect(c.scheduler.params.warmup_num_steps).toBe(50);
    expect(c.train_micro_batch_size_per_gpu).toBe(8);
    expect(c.bf16.enabled).toBe(false);
  });

  it('applies command-line overrides', () => {
    const c = buildConfig({ ...base, batchSize: 2, lr: 1e-3, warmup: 7, weightDecay: 0, clip: 0, bf16: true });
    expect(c.train_micro_batch_size_per_gpu).toBe(2);
    expect(c.optimizer.params.lr).toBe(1e-3);
    expect(c.optimizer.params.weight_decay).toBe(0);
    expect(c.scheduler.params.warmup_num_steps).toBe(7);
    expect(c.gradient_clipping).toBe(0);
    expect(c.bf16.enabled).toBe(true);
  });
});

describe('the loss curve', () => {
  it('draws one path point per step and a dot per validation loss, scaled to the data', () => {
    const svg = lossCurveSvg([5, 4, 3, 2.5], [[2, 4.5], [4, 2.8]], 'run <1>');
    const d = /<path d="([^"]+)"/.exec(svg)![1]!;
    const points = d.split(/[ML]/).filter(Boolean).map((p) => p.split(',').map(Number));
    expect(points.length).toBe(4);
    expect(points[0]![1]).toBeLessThan(points[3]![1]!); // higher loss is drawn higher up
    expect(points[0]![0]).toBeLessThan(points[3]![0]!);
    expect(svg.match(/<circle/g)!.length).toBe(2);
    expect(svg).toContain('run &lt;1&gt;');
  });
});
