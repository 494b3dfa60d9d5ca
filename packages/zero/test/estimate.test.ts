// DeepSpeed's model-state estimators (the values of its docs and of a Python run of
// estimate_zero{2,3}_model_states_mem_needs), its printed tables, the ZeRO paper's breakdown,
// and parameter counts of GPT-2 configs checked against real models.
import { describe, expect, it } from 'vitest';
import { GPT2LMHeadModel } from '@ds/models';
import {
  estimateZero2ModelStatesMemNeeds, estimateZero3ModelStatesMemNeeds, formatZero2Estimate, formatZero3Estimate, gpt2LargestLayerParams,
  gpt2ParamCount, GPT2_PRESETS, modelStateBytes, moduleParamCounts, pyFixed2, zero3Rows, type GPT2Shape,
} from '../src/estimate/index.js';

const GB = 2 ** 30;
const P = 2851e6;
const L = 32e6;
const HW = { numGpusPerNode: 8, numNodes: 1 };

describe('estimateZero2ModelStatesMemNeeds', () => {
  it('reproduces the spec vectors (P = 2851M on 8 GPUs; P = 1e9 on 2 x 8)', () => {
    expect(estimateZero2ModelStatesMemNeeds(P, { ...HW, cpuOffload: true })).toEqual({ cpu: 136_848_000_000, gpu: 5_702_000_000 });
    // 2P + int(18P/N); the docs page still shows 15.93GB from the older 4P + 16P/N.
    expect(estimateZero2ModelStatesMemNeeds(P, { ...HW, cpuOffload: false })).toEqual({ cpu: 136_848_000_000, gpu: 12_116_750_000 });
    expect(estimateZero2ModelStatesMemNeeds(1e9, { numGpusPerNode: 8, numNodes: 2 })).toEqual({ cpu: 96e9, gpu: 2e9 });
    expect(estimateZero2ModelStatesMemNeeds(1e9, { numGpusPerNode: 8, numNodes: 2, cpuOffload: false })).toEqual({ cpu: 48e9, gpu: 3.125e9 });
  });

  it("uses DeepSpeed's defaults (1 GPU, 1 node, offload on, factor 1.5) and its floor of 16 bytes per parameter on the CPU", () => {
    // max(4N, 16): one GPU still needs 16 bytes per parameter of host memory for the offloaded state.
    expect(estimateZero2ModelStatesMemNeeds(1000)).toEqual({ cpu: 24_000, gpu: 2000 });
    expect(estimateZero2ModelStatesMemNeeds(1000, { additionalBufferFactor: 1 })).toEqual({ cpu: 16_000, gpu: 2000 });
    // int() truncates the gpu term: 18 * 5 / 4 = 22.5 -> 22.
    expect(estimateZero2ModelStatesMemNeeds(5, { numGpusPerNode: 4, cpuOffload: false }).gpu).toBe(10 + 22);
  });

  it('names a bad argument', () => {
    expect(() => estimateZero2ModelStatesMemNeeds(1e9, { numGpusPerNode: 0 })).toThrow(/numGpusPerNode must be an integer >= 1, got 0/);
    expect(() => estimateZero2ModelStatesMemNeeds(-1)).toThrow(/totalParams must be a number of parameters >= 0, got -1/);
    expect(() => estimateZero2ModelStatesMemNeeds(1, { cpuOffload: 'yes' as never })).toThrow(/cpuOffload must be a boolean/);
  });
});

describe('estimateZero3ModelStatesMemNeeds', () => {
  it('reproduces the six rows of the docs table (P = 2851M, L = 32M, 8 GPUs)', () => {
    const rows = zero3Rows(P, L, HW).map((r) => [pyFixed2(r.cpu / GB), pyFixed2(r.gpu / GB), r.offloadParam, r.offloadOptimizer, r.zeroInit]);
    expect(rows).toEqual([
      ['71.69', '0.12', 'cpu', 'cpu', true],
      ['127.45', '0.12', 'cpu', 'cpu', false],
      ['63.72', '0.78', 'none', 'cpu', true],
      ['127.45', '0.78', 'none', 'cpu', false],
      ['1.43', '6.09', 'none', 'none', true],
      ['127.45', '6.09', 'none', 'none', false],
    ]);
  });

  it('computes each branch exactly, gpus_factor = 1/nodes included', () => {
    const o = { numGpusPerNode: 8, numNodes: 2 };
    expect(estimateZero3ModelStatesMemNeeds(1e9, 1e7, o)).toEqual({ cpu: 1e9 * 18 * 0.5 * 1.5, gpu: 4e7, largestLayerMemory: 4e7 });
    expect(estimateZero3ModelStatesMemNeeds(1e9, 1e7, { ...o, zeroInit: false }).cpu).toBe(1e9 * 32 * 1.5);
    expect(estimateZero3ModelStatesMemNeeds(1e9, 1e7, { ...o, cpuOffloadParams: false })).toEqual({ cpu: 12e9, gpu: 4e7 + 125_000_000, largestLayerMemory: 4e7 });
    expect(estimateZero3ModelStatesMemNeeds(1e9, 1e7, { ...o, cpuOffload: false })).toEqual({ cpu: 1e7 * 4 * 8 * 1.5, gpu: 4e7 + 1_125_000_000, largestLayerMemory: 4e7 });
    expect(estimateZero3ModelStatesMemNeeds(1e9, 1e7, { ...o, cpuOffload: false, zeroInit: false }).cpu).toBe(48e9);
    // With many nodes 18/n drops below 4g: the max picks 4g.
    expect(estimateZero3ModelStatesMemNeeds(1000, 10, { numGpusPerNode: 1, numNodes: 9, zeroInit: false }).cpu).toBe(Math.trunc(1000 * 4 * 1.5));
  });
});

describe("DeepSpeed's printed tables", () => {
  it('ZeRO-2: header, column titles and rows as estimate_zero2_model_states_mem_needs_all_cold prints them', () => {
    expect(formatZero2Estimate(P, HW)).toBe(
      'Estimated memory needed for params, optim states and gradients for a:\n' +
        'HW: Setup with 1 node, 8 GPUs per node.\n' +
        'SW: Model with 2851M total params.\n' +
        '  per CPU  |  per GPU |   Options\n' +
        '  127.45GB |   5.31GB | offload_optimizer=cpu \n' +
        '  127.45GB |  11.28GB | offload_optimizer=none\n',
    );
  });

  it('ZeRO-3: the six option rows, and singular node / GPU wording', () => {
    const text = formatZero3Estimate(P, L, HW);
    expect(text.split('\n').slice(2, 7)).toEqual([
      'SW: Model with 2851M total params, 32M largest layer params.',
      '  per CPU  |  per GPU |   Options',
      '   71.69GB |   0.12GB | offload_param=cpu , offload_optimizer=cpu , zero_init=1',
      '  127.45GB |   0.12GB | offload_param=cpu , offload_optimizer=cpu , zero_init=0',
      '   63.72GB |   0.78GB | offload_param=none, offload_optimizer=cpu , zero_init=1',
    ]);
    expect(text).toContain('    1.43GB |   6.09GB | offload_param=none, offload_optimizer=none, zero_init=1\n');
    expect(formatZero3Estimate(2e9, 1e8, { numGpusPerNode: 1, numNodes: 2 })).toContain('HW: Setup with 2 nodes, 1 GPU per node.\n');
  });

  it("formats like Python's :.2f, rounding exact ties to even", () => {
    expect([pyFixed2(0.125), pyFixed2(0.375), pyFixed2(2.625), pyFixed2(1.005), pyFixed2(127.4505)]).toEqual(['0.12', '0.38', '2.62', '1.00', '127.45']);
    expect((0.125).toFixed(2)).toBe('0.13'); // what a plain toFixed would have printed
  });
});

describe('modelStateBytes (ZeRO paper)', () => {
  it("reproduces the paper's worked example: 7.5B parameters on 64 ranks, mixed-precision Adam", () => {
    const gb = [0, 1, 2, 3].map((stage) => modelStateBytes({ params: 7.5e9, stage: stage as 0 | 1 | 2 | 3, worldSize: 64, dtype: 'fp16' }).total / 1e9);
    expect(gb.map((x) => x.toFixed(1))).toEqual(['120.0', '31.4', '16.6', '1.9']);
  });

  it('splits 2 / 2 / 12 bytes per parameter (mixed) and 4 / 4 / 8 (fp32 Adam), partitioned stage by stage', () => {
    const psi = 1000;
    const s0 = modelStateBytes({ params: psi, stage: 0, worldSize: 4, dtype: 'fp16', optimizer: 'adamw' });
    expect([s0.params, s0.gradients, s0.optimizer]).toEqual([2000, 2000, 12000]);
    expect(s0.holds).toEqual({ params: 'fp16 parameters', gradients: 'fp16 gradients', optimizer: ['fp32 master weights', 'fp32 exp_avg', 'fp32 exp_avg_sq'] });
    // bf16 without ZeRO accumulates its gradients in fp32 (DeepSpeed's grad_accum_dtype default)
    const b0 = modelStateBytes({ params: psi, stage: 0, worldSize: 4, dtype: 'bf16', optimizer: 'adamw' });
    expect([b0.params, b0.gradients, b0.optimizer]).toEqual([2000, 4000, 12000]);
    expect(b0.holds.gradients).toBe('fp32 gradients (bf16 ones accumulated in fp32)');
    expect(modelStateBytes({ params: psi, stage: 0, worldSize: 4, dtype: 'bf16', gradAccumDtype: 'bf16' }).gradients).toBe(2000);
    const s1 = modelStateBytes({ params: psi, stage: 1, worldSize: 4, dtype: 'bf16' });
    expect([s1.params, s1.gradients, s1.optimizer]).toEqual([2000, 2000, 3000]);
    const s2 = modelStateBytes({ params: psi, stage: 2, worldSize: 4, dtype: 'fp16' });
    expect([s2.params, s2.gradients, s2.optimizer]).toEqual([2000, 500, 3000]);
    const s3 = modelStateBytes({ params: psi, stage: 3, worldSize: 4, dtype: 'fp32' });
    expect([s3.params, s3.gradients, s3.optimizer, s3.total]).toEqual([1000, 1000, 2000, 4000]);
    expect(s3.bytesPerParam).toEqual({ params: 4, gradients: 4, optimizer: 8 });
    expect(s3.holds.optimizer).toEqual(['fp32 exp_avg', 'fp32 exp_avg_sq']);
  });

  it('counts optimizer state by kind, and gives each rank the largest partition, ceil(psi / N)', () => {
    expect(modelStateBytes({ params: 10, stage: 0, worldSize: 1, dtype: 'fp32', optimizer: 'sgd' }).optimizer).toBe(0);
    expect(modelStateBytes({ params: 10, stage: 0, worldSize: 1, dtype: 'fp16', optimizer: 'sgd' }).optimizer).toBe(40);
    expect(modelStateBytes({ params: 10, stage: 0, worldSize: 1, dtype: 'fp32', optimizer: 'sgd-momentum' }).optimizer).toBe(40);
    expect(modelStateBytes({ params: 10, stage: 0, worldSize: 1, dtype: 'bf16', optimizer: 'lion' }).optimizer).toBe(80);
    const odd = modelStateBytes({ params: 10, stage: 3, worldSize: 4, dtype: 'fp32' });
    expect(odd.partitionElements).toBe(3);
    expect([odd.params, odd.gradients, odd.optimizer]).toEqual([12, 12, 24]);
  });

  it('names a bad argument and the valid values', () => {
    expect(() => modelStateBytes({ params: 10, stage: 4 as never, worldSize: 1, dtype: 'fp32' })).toThrow(/stage must be 0, 1, 2 or 3, got 4/);
    expect(() => modelStateBytes({ params: 10, stage: 1, worldSize: 0, dtype: 'fp32' })).toThrow(/worldSize must be an integer >= 1, got 0/);
    expect(() => modelStateBytes({ params: 10, stage: 1, worldSize: 1, dtype: 'float16' as never })).toThrow(/dtype must be one of 'fp32', 'fp16', 'bf16', got "float16"/);
    expect(() => modelStateBytes({ params: 10, stage: 1, worldSize: 1, dtype: 'fp32', optimizer: 'adafactor' as never })).toThrow(/optimizer must be one of/);
  });
});

describe('GPT-2 parameter counts', () => {
  const configs: [string, GPT2Shape & { n_head: number }][] = [
    ['golden tiny', { vocab_size: 256, n_positions: 64, n_embd: 64, n_layer: 2, n_head: 4 }],
    ['n_inner set, positions > vocab', { vocab_size: 50, n_positions: 128, n_embd: 32, n_layer: 3, n_head: 2, n_inner: 40 }],
    ['wide MLP dominates', { vocab_size: 10, n_positions: 8, n_embd: 16, n_layer: 1, n_head: 4, n_inner: 200 }],
  ];

  it.each(configs)('%s: equals numParameters() of a real GPT2LMHeadModel, largest layer as model_to_params finds it', (_name, cfg) => {
    const model = new GPT2LMHeadModel(cfg);
    expect(gpt2ParamCount(cfg)).toBe(model.numParameters());
    const live = moduleParamCounts(model);
    expect(live.totalParams).toBe(model.numParameters());
    expect(gpt2LargestLayerParams(cfg)).toBe(live.largestLayerParams);
  });

  it("matches Hugging Face's published sizes", () => {
    expect(gpt2ParamCount(GPT2_PRESETS.gpt2!)).toBe(124_439_808);
    expect(gpt2ParamCount(GPT2_PRESETS['gpt2-medium']!)).toBe(354_823_168);
    expect(gpt2ParamCount(GPT2_PRESETS['gpt2-large']!)).toBe(774_030_080);
    expect(gpt2ParamCount(GPT2_PRESETS['gpt2-xl']!)).toBe(1_557_611_200);
    expect(gpt2LargestLayerParams(GPT2_PRESETS.gpt2!)).toBe(50257 * 768);
  });

  it('counts a tied or shared parameter once, as DeepSpeed dedupes by data pointer', () => {
    const model = new GPT2LMHeadModel(configs[0]![1]);
    const wte = model.transformer.wte.weight;
    // Share wpe's storage with wte's first rows: same pointer only where offsets coincide.
    model.transformer.wpe.weight.setData(wte.narrow(0, 0, 64));
    const counts = moduleParamCounts(model);
    expect(counts.totalParams).toBe(model.numParameters() - 64 * 64);
  });

  it('names the bad key', () => {
    expect(() => gpt2ParamCount({ vocab_size: 10, n_positions: 8, n_embd: 0, n_layer: 1 })).toThrow(/gpt2ParamCount: n_embd must be a positive integer, got 0/);
  });
});
