// zero() composed by hand: every zero_optimization option that shapes the reduction or the
// gather (reduce_scatter, contiguous_gradients, overlap_comm, bucket sizes, round_robin_gradients,
// allgather_partitions) trains to the same weights as plain data parallelism, parameters with
// their own reduce group are partitioned over that group, and bad options fail clearly.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import { Generator, nn, optim, randn } from '@ds/core';
import { createEngine } from '@ds/engine';
import { memoryReport } from '../src/estimate/index.js';
import { strategyFromConfig, zero, type ZeroStrategyOptions } from '../src/zero.js';
import type { TinyArgs, TinyResult } from './fixtures/tiny-zero.js';

const TINY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'tiny-zero.ts');
const tiny = (n: number, args: TinyArgs) => launchInProcess<TinyResult, TinyArgs>({ nprocs: n, script: TINY, exportName: 'tinyRun', args, timeoutMs: 60_000 });

function maxDiff(a: TinyResult, b: TinyResult): number {
  let d = 0;
  for (const [k, v] of Object.entries(a.params)) v.forEach((x, i) => (d = Math.max(d, Math.abs(x - b.params[k]![i]!))));
  return d;
}

describe('zero() options train like plain data parallelism (4 ranks, 2 micro-batches, head reduced over rank pairs)', () => {
  const base = { pairGroups: true, gas: 2, steps: 5 };
  let reference: TinyResult[];

  const variants: ZeroStrategyOptions[] = [
    { stage: 1 },
    { stage: 2 },
    { stage: 2, reduce_scatter: false },
    { stage: 2, contiguous_gradients: false, overlap_comm: true },
    { stage: 2, overlap_comm: true, reduce_bucket_size: 16 },
    { stage: 1, overlap_comm: true, reduce_bucket_size: 16, allgather_partitions: false },
    { stage: 2, round_robin_gradients: true, reduce_bucket_size: 20, allgather_bucket_size: 8 },
  ];
  for (const z of variants) {
    it(JSON.stringify(z), async () => {
      reference ??= await tiny(4, { ...base, zero: null });
      const out = await tiny(4, { ...base, zero: z });
      // Summation order differs (pre- vs post-division, reduce vs all-reduce): a few ulps, not more.
      out.forEach((r, i) => expect(maxDiff(r, reference[i]!), `rank ${i}`).toBeLessThan(1e-6));
      // Optimizer state for this rank's partitions only. Flats (per param group x reduce group),
      // each padded to 2·D: weights over 4 ranks (60 + 70 -> 136, ps 34), head weight over a pair
      // (21 -> 24, ps 12), biases over 4 (17 -> 24, ps 6), head bias over a pair (3 -> 4, ps 2):
      // 54 elements x 8 bytes, against 171 x 8 without ZeRO.
      for (const r of out) expect(r.optimizerStateBytes).toBe(54 * 8);
      expect(reference[0]!.optimizerStateBytes).toBe(171 * 8);
    });
  }

  it('averages the head over its pair only: pairs differ, ranks of a pair agree', async () => {
    reference ??= await tiny(4, { ...base, zero: null });
    expect(reference[0]!.params['head.weight']).toEqual(reference[1]!.params['head.weight']);
    expect(maxDiff(reference[0]!, reference[2]!)).toBeGreaterThan(1e-3);
    expect(reference[0]!.params['body.weight']).toEqual(reference[2]!.params['body.weight']);
  });
});

describe('zero() at the edges', () => {
  it('on one rank trains exactly like no ZeRO', async () => {
    const [a] = await tiny(1, { zero: { stage: 2 }, clip: 0.3 });
    const [b] = await tiny(1, { zero: null, clip: 0.3 });
    expect(a!.params).toEqual(b!.params);
  });

  it('ignore_unused_parameters: false names the parameter that got no gradient', async () => {
    await expect(tiny(2, { zero: { stage: 2, ignore_unused_parameters: false }, unused: true, steps: 1 })).rejects.toThrow(
      /zero: 1 parameter\(s\) received no gradient in this step: spare\.weight; set zero_optimization\.ignore_unused_parameters to true/,
    );
    const out = await tiny(2, { zero: { stage: 2 }, unused: true, steps: 2 });
    expect(out[0]!.losses).toHaveLength(2);
  });
});

describe('zero() and strategyFromConfig() validate their options', () => {
  it('rejects unknown keys with a suggestion, and invalid values naming the key', () => {
    expect(() => zero({ stage: 2, reduce_bucket_sise: 5 } as never)).toThrow(/unknown option 'reduce_bucket_sise' \(did you mean 'reduce_bucket_size'\?\)/);
    expect(() => zero({ stage: 4 } as never)).toThrow(/'stage' must be 0, 1, 2 or 3, got number 4/);
    expect(() => zero({ stage: 2, allgather_bucket_size: 3 })).toThrow(/allgather_bucket_size must be a positive multiple of 2 .* got 3/);
    expect(() => zero({ stage: 1, reduce_bucket_size: 0 })).toThrow(/reduce_bucket_size must be >= 1 element at stage 1/);
    expect(() => zero({ stage: 2, overlap_comm: 'yes' as never })).toThrow(/zero_optimization\.overlap_comm must be true or false, got string "yes"/);
    expect(() => zero({ stage: 2, offload_optimizer: { device: 'nvme' } })).toThrow(/zero_optimization\.offload_optimizer\.nvme_path is required/);
  });

  it('maps the config section: stage 0 is no strategy; ZeRO++ and MiCS keys are rejected, not ignored', () => {
    expect(strategyFromConfig({})).toBeNull();
    expect(strategyFromConfig({ zero_optimization: { stage: 0 } })).toBeNull();
    expect(strategyFromConfig({ zero_optimization: { stage: 2, overlap_comm: false } })!.name).toBe('zero stage 2');
    expect(() => strategyFromConfig({ zero_optimization: { stage: 2, zero_quantized_gradients: true } })).toThrow(
      /zero_optimization\.zero_quantized_gradients: got true; ZeRO\+\+ and MiCS are not implemented by @ds\/zero \(valid: false\)/,
    );
    expect(() => strategyFromConfig({ zero_optimization: { stage: 1, mics_shard_size: 4 } })).toThrow(/mics_shard_size: got 4/);
    expect(() => strategyFromConfig({ zero_optimization: { stage: 2, reduce_bucket_size: -1 } })).toThrow(/reduce_bucket_size must be an integer >= 0/);
  });

  it('says once that stage-3 keys do nothing at stage 2, that an offloaded optimizer runs on the CPU, and reports its buffers', async () => {
    const lines: string[] = [];
    const model = new nn.Linear(4, 2, { generator: new Generator(1) });
    const engine = await createEngine({
      model,
      optimizer: new optim.AdamW(model.parameters()),
      strategies: [zero({ stage: 2, max_live_parameters: 5, offload_optimizer: { device: 'cpu' } })],
      log: (l) => lines.push(l),
    });
    engine.backward(model.call(randn([3, 4], { generator: new Generator(2) })).square().mean());
    await engine.step();
    // 10 parameters on one rank: a flat of 10 (2·D = 2 divides it), one bucket of 10 fp32.
    const mem = memoryReport(engine.parts);
    expect(mem.entries.find((e) => e.what === 'zero gradient buckets')?.bytes).toBe(40);
    expect(mem.optimizer).toBe(2 * 40);
    await engine.close();
    expect(memoryReport(engine.parts).entries.some((e) => e.what === 'zero gradient buckets')).toBe(false);
    expect(lines.filter((l) => l.includes('max_live_parameters'))).toEqual([
      'warning: zero_optimization.max_live_parameters = 5 only applies to ZeRO stage 3; it has no effect at stage 2',
    ]);
    expect(lines.some((l) => l.includes('[zero] offload_optimizer: the fp32 partitions, their gradients and the optimizer state live in host memory'))).toBe(true);
    expect(engine.parts.checkpointOptimizer).toBe(false);
    expect(engine.parts.state.has('zero')).toBe(true);
  });
});
