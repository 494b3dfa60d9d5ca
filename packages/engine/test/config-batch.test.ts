// Batch-size triad resolution (spec §1.13) with DeepSpeed's test vectors (§13 Config / batch),
// and elastic batch sizing (§1.10, §13 Elasticity).
import { describe, expect, it } from 'vitest';
import { compatibleGpusV01, ConfigError, resolveBatchSizes, resolveConfig } from '../src/config/index.js';

type Key = 'train_batch_size' | 'train_micro_batch_size_per_gpu' | 'gradient_accumulation_steps';
const TB: Key = 'train_batch_size';
const MB: Key = 'train_micro_batch_size_per_gpu';
const GAS: Key = 'gradient_accumulation_steps';

function triple(tb: number, mb: number, gas: number, keys: Key[]) {
  const all = { [TB]: tb, [MB]: mb, [GAS]: gas };
  return Object.fromEntries(keys.map((k) => [k, all[k]]));
}

function resolved(config: Record<string, unknown>, worldSize: number) {
  const { config: c } = resolveConfig(config, { worldSize });
  return [c.train_batch_size, c.train_micro_batch_size_per_gpu, c.gradient_accumulation_steps];
}

describe('TestBatchConfig vectors (W = 2)', () => {
  const ok: [number, number, number][] = [
    [32, 16, 1],
    [32, 8, 2],
  ];
  for (const [tb, mb, gas] of ok) {
    const subsets: Key[][] = [[TB, MB, GAS], [TB, MB], [TB, GAS], [MB, GAS], ...(gas === 1 ? [[MB], [TB]] : [])];
    for (const keys of subsets) {
      it(`(${tb}, ${mb}, ${gas}) from {${keys.join(', ')}} resolves to exactly that triple`, () => {
        expect(resolved(triple(tb, mb, gas, keys), 2)).toEqual([tb, mb, gas]);
      });
    }
  }

  const bad: [number, number, number][] = [
    [33, 17, 2],
    [32, 18, 1],
  ];
  for (const [tb, mb, gas] of bad) {
    const subsets: Key[][] = [[TB, MB, GAS], [TB, MB], [GAS], ...(gas !== 1 ? [[TB, GAS]] : [])];
    for (const keys of subsets) {
      it(`(${tb}, ${mb}, ${gas}) from {${keys.join(', ')}} fails`, () => {
        expect(() => resolveConfig(triple(tb, mb, gas, keys), { worldSize: 2 })).toThrow(ConfigError);
      });
    }
  }

  it('the failure messages list train_batch_size, micro batch, accumulation steps and the world size', () => {
    const mismatch = resolveBatchSizes({ train_batch_size: 33, gradient_accumulation_steps: 2 }, 2);
    expect(mismatch.ok).toBe(false);
    expect(!mismatch.ok && mismatch.issues).toEqual([
      {
        path: TB,
        message:
          'inconsistent batch sizes: train_batch_size 33 must equal train_micro_batch_size_per_gpu 8 (derived: (train_batch_size 33 // world size 2) // gradient_accumulation_steps 2)' +
          ' × gradient_accumulation_steps 2 × data-parallel world size 2 = 32; valid: a train_batch_size divisible by gradient_accumulation_steps × world size = 4',
      },
    ]);
    const zero = resolveBatchSizes({ train_batch_size: 33, train_micro_batch_size_per_gpu: 17 }, 2);
    expect(!zero.ok && zero.issues).toEqual([
      {
        path: GAS,
        message:
          'gradient_accumulation_steps 0 (derived: (train_batch_size 33 // train_micro_batch_size_per_gpu 17) // world size 2) must be > 0' +
          ' (train_batch_size 33, train_micro_batch_size_per_gpu 17, gradient_accumulation_steps 0, world size 2)',
      },
    ]);
    const none = resolveBatchSizes({ gradient_accumulation_steps: 2 }, 2);
    expect(!none.ok && none.issues[0]!.message).toBe(
      'one of train_batch_size or train_micro_batch_size_per_gpu must be given; gradient_accumulation_steps alone does not determine the batch',
    );
  });

  it('reports which values were derived', () => {
    expect(resolveBatchSizes({ train_micro_batch_size_per_gpu: 4, gradient_accumulation_steps: 3 }, 5)).toEqual({
      ok: true,
      sizes: { [TB]: 60, [MB]: 4, [GAS]: 3 },
      derived: [TB],
    });
  });
});

describe('other batch vectors', () => {
  it('test_only_required_fields: {train_batch_size: 64}, W = 1 → micro 64, accumulation 1', () => {
    expect(resolved({ train_batch_size: 64 }, 1)).toEqual([64, 64, 1]);
  });

  it('null batch keys count as absent, as DeepSpeed\'s None does', () => {
    expect(resolved({ train_batch_size: null, train_micro_batch_size_per_gpu: 3, gradient_accumulation_steps: null }, 4)).toEqual([12, 3, 1]);
  });

  it('a batch key of 0 is rejected by the schema with its range', () => {
    try {
      resolveConfig({ train_batch_size: 0 }, { worldSize: 1 });
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect((e as ConfigError).issues).toEqual([{ path: TB, message: 'got 0; must be >= 1' }]);
    }
  });
});

describe('elasticity', () => {
  const elastic = { enabled: true, max_train_batch_size: 10000, micro_batch_sizes: [8, 12, 16, 17], min_gpus: 32, max_gpus: 1500, version: 0.1 };
  const valid = [32, 34, 36, 48, 51, 64, 68, 72, 96, 102, 136, 144, 153, 192, 204, 272, 288, 306, 408, 576, 612, 816, 1224];

  it('v0.1 picks batch 9792 with 23 valid GPU counts', () => {
    expect(compatibleGpusV01([8, 12, 16, 17], 10000, 32, 1500, true)).toEqual({ batch: 9792, valid });
  });

  it('the default elastic config (max 2000, micro [2, 4, 6]) gives 1680 with 32 counts', () => {
    const r = compatibleGpusV01([2, 4, 6], 2000, 1, 10000, true);
    expect(r.batch).toBe(1680);
    expect(r.valid).toHaveLength(32);
  });

  it('world size 64 gets micro batch 17 and the batch keys are filled in', () => {
    const { config } = resolveConfig({ elasticity: elastic }, { worldSize: 64 });
    expect([config.train_batch_size, config.train_micro_batch_size_per_gpu, config.gradient_accumulation_steps]).toEqual([9792, 17, 9]);
    expect(config.derived.elastic_world_sizes).toEqual(valid);
  });

  it('an incompatible world size, a too-new version, missing keys and model parallelism with v0.1 are errors', () => {
    const fails = (config: Record<string, unknown>, worldSize: number, re: RegExp) => {
      try {
        resolveConfig(config, { worldSize });
      } catch (e) {
        expect((e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`).join('\n')).toMatch(re);
        return;
      }
      throw new Error('expected a ConfigError');
    };
    fails({ elasticity: elastic }, 128, /^elasticity\.enabled: world size 128 is not one the elastic batch 9792 supports; valid world sizes: \[32,34,/);
    fails({ elasticity: { ...elastic, version: 0.3 } }, 64, /^elasticity\.version: the newest elasticity version is 0\.2; got 0\.3/);
    fails({ elasticity: { enabled: true } }, 64, /elasticity\.max_train_batch_size: required when elasticity is enabled\nelasticity\.micro_batch_sizes: required/);
    fails({ elasticity: { ...elastic, model_parallel_size: 4 } }, 64, /model parallelism needs elasticity version 0\.2/);
    fails({ elasticity: { ...elastic, version: 0.2, model_parallel_size: 16, num_gpus_per_node: 8 } }, 4, /must be divisible by model_parallel_size \(16\)/);
    fails({ elasticity: { ...elastic, micro_batch_sizes: [0, 8] } }, 64, /elasticity\.micro_batch_sizes\[0\]: got 0; must be >= 1/);
    fails({ elasticity: elastic, train_batch_size: 64 }, 64, /^train_batch_size: elastic training computes train_batch_size itself/);
  });

  it('batch keys are overridden when ignore_non_elastic_batch_info is set', () => {
    const { config } = resolveConfig({ elasticity: { ...elastic, ignore_non_elastic_batch_info: true }, train_batch_size: 64 }, { worldSize: 64 });
    expect(config.train_batch_size).toBe(9792);
  });

  it('v0.2 with model parallelism 4 on 8-GPU nodes works per node', () => {
    // 16 GPUs / model parallel 4 = 4 data-parallel ranks (2 per node).
    const { config } = resolveConfig(
      { elasticity: { enabled: true, max_train_batch_size: 10000, micro_batch_sizes: [8, 12, 16, 17], min_gpus: 32, max_gpus: 1500, version: 0.2, model_parallel_size: 4, num_gpus_per_node: 8 } },
      { worldSize: 4 },
    );
    const { train_batch_size: tb, train_micro_batch_size_per_gpu: mb, gradient_accumulation_steps: gas } = config;
    expect(tb).toBe(mb * gas * 4);
    expect(tb).toBeLessThanOrEqual(10000);
    expect([8, 12, 16, 17]).toContain(mb);
    expect(config.derived.elastic_world_sizes).toContain(4);
  });
});
