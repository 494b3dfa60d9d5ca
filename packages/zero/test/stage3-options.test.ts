// What stage 3 does with each zero_optimization key it is handed (honoured, reported as not
// applying to stage 3, or rejected naming the key), and a world of one rank, where stage 3 must
// train exactly like no ZeRO at all.
import { describe, expect, it } from 'vitest';
import { functional as F, Generator, manualSeed, nn, randn, type Tensor } from '@ds/core';
import { initialize } from '@ds/engine';
import type { ZeroOptions } from '../src/options.js';
import { stage3Runtime } from '../src/stage3/index.js';
import { strategyFromConfig } from '../src/zero.js';
import { stage3Strategy } from './fixtures/stage3-gpt2.js';

function model(): nn.Sequential {
  manualSeed(3);
  return new nn.Sequential(new nn.Linear(6, 6), new nn.GELU(), new nn.Linear(6, 2));
}

async function build(zero: Partial<ZeroOptions> | null, lines: string[] = []) {
  const m = model();
  const { engine } = await initialize({
    model: m,
    config: { train_batch_size: 4, gradient_clipping: 0.5, optimizer: { type: 'AdamW', params: { lr: 0.05, weight_decay: 0.1 } } },
    strategies: zero === null ? [] : [stage3Strategy(zero)],
    log: (l) => lines.push(l),
  });
  return { engine, model: m };
}

async function train(zero: Partial<ZeroOptions> | null): Promise<number[]> {
  const { engine, model: m } = await build(zero);
  const gen = new Generator(7);
  const losses: number[] = [];
  for (let s = 0; s < 4; s++) {
    const y = m.call(randn([4, 6], { generator: gen })) as Tensor;
    const loss = F.mean(y.mul(y));
    losses.push(loss.item());
    engine.backward(loss);
    await engine.step();
  }
  await engine.close();
  return losses;
}

describe('ZeRO-3 options', () => {
  it('rejects nvme parameter offload without nvme_path, naming the key', async () => {
    const nvme = { device: 'nvme' as const, nvme_path: null, buffer_count: 4, pin_memory: false };
    await expect(build({ offload_param: nvme })).rejects.toThrow(/zero_optimization\.offload_param\.nvme_path is required when zero_optimization\.offload_param\.device is "nvme"/);
  });

  it('rejects counts that are not non-negative integers, naming the key', async () => {
    await expect(build({ prefetch_bucket_size: -1 })).rejects.toThrow(/zero_optimization\.prefetch_bucket_size must be a non-negative integer \(elements\), got -1/);
    await expect(build({ max_reuse_distance: 1.5 })).rejects.toThrow(/zero_optimization\.max_reuse_distance/);
    await expect(build({ sub_group_size: 0 })).rejects.toThrow(/zero_optimization\.sub_group_size must be at least 1/);
  });

  it('says which keys do not apply to stage 3 instead of ignoring them silently', async () => {
    const lines: string[] = [];
    const { engine } = await build({ round_robin_gradients: true, allgather_bucket_size: 1000, contiguous_gradients: false }, lines);
    await engine.close();
    const text = lines.join('\n');
    expect(text).toMatch(/warning: zero_optimization\.round_robin_gradients applies to stages 1 and 2/);
    expect(text).toMatch(/warning: zero_optimization\.allgather_partitions \/ allgather_bucket_size apply to stages 1 and 2/);
    expect(text).toMatch(/contiguous_gradients=false has no effect/);
    expect(text).toMatch(/\[zero\] stage 3: 4 parameters \(56 elements\) partitioned over 1 rank/);
  });

  it('on a world of one trains exactly like no ZeRO (clipping and AdamW included), every parameter released between steps', async () => {
    const plain = await train(null);
    const zero = await train({ param_persistence_threshold: 0 });
    expect(zero).toEqual(plain);
    expect(zero[3]).not.toBe(zero[0]);
    const { engine, model: m } = await build({ param_persistence_threshold: 0 });
    expect(stage3Runtime(engine.parts)!.mode).toBe('partitioned');
    expect(m.parameters().map((p) => p.numel)).toEqual([0, 0, 0, 0]);
    await engine.close();
  });

  it('model_persistence_threshold caps the elements small parameters keep gathered, in model order', async () => {
    // weights 36 and 12, biases 6 and 2: under a cap of 40 the first weight (36) and the last bias (2) persist
    const { engine, model: m } = await build({ model_persistence_threshold: 40 });
    expect(stage3Runtime(engine.parts)!.records.map((r) => r.persistent)).toEqual([true, false, false, true]);
    expect(m.parameters().map((p) => p.numel)).toEqual([36, 0, 0, 2]);
    await engine.close();
  });

  it('stage-3 keys ds does not implement are errors at stage 3, and only noted at stage 2', () => {
    expect(() => strategyFromConfig({ zero_optimization: { stage: 3, module_granularity_threshold: 5 } })).toThrow(
      /zero_optimization\.module_granularity_threshold: got 5; ds's ZeRO stage 3 does not implement it \(valid: 0\)/,
    );
    expect(() => strategyFromConfig({ zero_optimization: { stage: 3, use_all_reduce_for_fetch_params: true } })).toThrow(/use_all_reduce_for_fetch_params: got true/);
    expect(strategyFromConfig({ zero_optimization: { stage: 2, module_granularity_threshold: 5 } })).not.toBeNull();
  });
});
