// Config errors: every problem is reported at once, each naming its key path, the bad value
// and what would be valid.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, MissingPackageError, missingPackageError, parseConfigText, requiredPackages, resolveConfig, type ConfigIssue } from '../src/config/index.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/config');

function issuesOf(config: unknown, worldSize = 1): ConfigIssue[] {
  try {
    resolveConfig(config as Record<string, unknown>, { worldSize });
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const issueAt = (issues: ConfigIssue[], p: string) => {
  const found = issues.find((i) => i.path === p);
  if (!found) throw new Error(`no issue at ${p}; got ${JSON.stringify(issues)}`);
  return found.message;
};

describe('unknown keys', () => {
  it('are errors at the top level, with a did-you-mean', () => {
    const issues = issuesOf({ train_batch_size: 8, zero_optimisation: { stage: 2 }, train_batch_sise: 4 });
    expect(issueAt(issues, 'zero_optimisation')).toBe('unknown key (not a DeepSpeed config key); did you mean "zero_optimization"?');
    expect(issueAt(issues, 'train_batch_sise')).toMatch(/did you mean "train_batch_size"\?/);
    expect(issues).toHaveLength(2);
  });

  it('are errors inside sections and nested sub-sections', () => {
    const issues = issuesOf({
      train_batch_size: 8,
      fp16: { enabled: true, initial_scale_pow: 12 },
      zero_optimization: { stage: 3, offload_optimizer: { device: 'cpu', pin_memroy: true } },
    });
    expect(issueAt(issues, 'fp16.initial_scale_pow')).toBe('unknown key (not a key of fp16); did you mean "initial_scale_power"?');
    expect(issueAt(issues, 'zero_optimization.offload_optimizer.pin_memroy')).toMatch(/did you mean "pin_memory"\?/);
  });

  it('list the valid keys of a small section when nothing is close', () => {
    const msg = issueAt(issuesOf({ train_batch_size: 8, bf16: { enabled: true, xyz: 1 } }), 'bf16.xyz');
    expect(msg).toBe('unknown key (not a key of bf16); valid keys: enabled, immediate_grad_update, nonfinite');
  });

  it('in optimizer and scheduler params are checked against the chosen type', () => {
    const issues = issuesOf({
      train_batch_size: 8,
      optimizer: { type: 'SGD', params: { lr: 0.1, momentun: 0.9 } },
      scheduler: { type: 'OneCycle', params: { cycle_min_lr: 0.01, cycle_max_lr: 0.1, cycle_first_stepsize: 10 } },
    });
    expect(issueAt(issues, 'optimizer.params.momentun')).toMatch(/did you mean "momentum"\?/);
    expect(issueAt(issues, 'scheduler.params.cycle_first_stepsize')).toMatch(/did you mean "cycle_first_step_size"\? \(for scheduler OneCycle\)/);
  });
});

describe('wrong values', () => {
  it('name the path, the value given and the valid type, range or values', () => {
    const issues = issuesOf({
      train_batch_size: 8,
      fp16: { enabled: 'yes' },
      zero_optimization: { stage: 4, reduce_bucket_size: -1, offload_param: { device: 'gpu' } },
      communication_data_type: 'fp8',
      checkpoint: { tag_validation: 'foo' },
      gradient_accumulation_steps: 1.5,
    });
    expect(issueAt(issues, 'fp16.enabled')).toBe('expected a boolean, got "yes"');
    expect(issueAt(issues, 'zero_optimization.stage')).toBe('got 4; must be <= 3');
    expect(issueAt(issues, 'zero_optimization.reduce_bucket_size')).toBe('got -1; must be >= 0');
    expect(issueAt(issues, 'zero_optimization.offload_param.device')).toBe('got "gpu"; valid: "none", "cpu", "nvme"; did you mean "cpu"?');
    expect(issueAt(issues, 'communication_data_type')).toBe('got "fp8"; valid: "fp32", "fp16", "bf16"');
    expect(issueAt(issues, 'checkpoint.tag_validation')).toBe('got "foo"; valid: "WARN", "IGNORE", "FAIL"');
    expect(issueAt(issues, 'gradient_accumulation_steps')).toBe('expected an integer, got 1.5');
  });

  it('a section of the wrong kind says an object is expected', () => {
    expect(issueAt(issuesOf({ train_batch_size: 8, fp16: true }), 'fp16')).toBe('expected an object {...}, got true');
  });

  it('unknown optimizer and scheduler types suggest the right spelling', () => {
    const issues = issuesOf({ train_batch_size: 8, optimizer: { type: 'AdamWW' }, scheduler: { type: 'WarmupLr' } });
    expect(issueAt(issues, 'optimizer.type')).toMatch(/^"AdamWW" is not an optimizer ds provides; did you mean "AdamW"\? \(valid: Adam, AdamW, /);
    expect(issueAt(issues, 'scheduler.type')).toMatch(/^"WarmupLr" is not an LR schedule ds provides; did you mean "WarmupLR"\? \(valid: LRRangeTest, OneCycle, WarmupLR, WarmupDecayLR, WarmupCosineLR;/);
  });

  it('torch-only optimizers and lower-case torch names are explained', () => {
    expect(issueAt(issuesOf({ train_batch_size: 8, optimizer: { type: 'RMSprop' } }), 'optimizer.type')).toMatch(/torch\.optim\.RMSprop has no ds implementation/);
    // DeepSpeed looks torch names up case-sensitively, so "sgd" fails there too.
    expect(issueAt(issuesOf({ train_batch_size: 8, optimizer: { type: 'sgd' } }), 'optimizer.type')).toMatch(/did you mean "SGD"\?/);
  });

  it('every problem of a config is collected into one error whose message lists each', () => {
    let err: ConfigError | undefined;
    try {
      resolveConfig({ train_batch_size: 33, train_micro_batch_size_per_gpu: 17, gradient_accumulation_steps: 2, fp16: { enabled: 1 }, wandb: { enabld: true } }, { worldSize: 2 });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.issues.map((i) => i.path)).toEqual(['fp16.enabled', 'wandb.enabld', 'train_batch_size']);
    expect(err!.message.split('\n')).toEqual([
      'DeepSpeed config: 3 problems',
      '  - fp16.enabled: expected a boolean, got 1',
      '  - wandb.enabld: unknown key (not a key of wandb); did you mean "enabled"?',
      expect.stringMatching(/^ {2}- train_batch_size: inconsistent batch sizes: train_batch_size 33 must equal .* = 68;/),
    ]);
  });

  it('a bad worldSize is rejected by name', () => {
    expect(() => resolveConfig({ train_batch_size: 8 }, { worldSize: 0 })).toThrow(/opts\.worldSize must be an integer >= 1 .* got 0/);
  });
});

describe('mutual exclusions (spec §1.14)', () => {
  it('fp16 and bf16 together', () => {
    expect(issueAt(issuesOf({ train_batch_size: 8, fp16: { enabled: true }, bf16: { enabled: true } }), 'bf16.enabled')).toBe(
      'fp16 and bf16 are both enabled; enable one of them',
    );
  });

  it('amp with ZeRO, with fp16, and amp at all (ds has no apex)', () => {
    const issues = issuesOf({ train_batch_size: 8, amp: { enabled: true, opt_level: 'O1' }, fp16: { enabled: true }, zero_optimization: { stage: 1 } });
    const amp = issues.filter((i) => i.path === 'amp.enabled').map((i) => i.message);
    expect(amp).toEqual([
      'apex amp cannot be combined with ZeRO (zero_optimization.stage is 1); use "fp16" or "bf16" with ZeRO',
      'apex amp cannot be combined with fp16; enable only one mixed-precision mode',
      'apex amp is not available in ds (it needs NVIDIA apex); use "fp16" or "bf16" instead',
    ]);
  });

  it('Lamb needs dynamic loss scaling: bf16 and static fp16 fail, dynamic fp16 and fp32 pass', () => {
    expect(issueAt(issuesOf({ train_batch_size: 8, bf16: { enabled: true }, optimizer: { type: 'Lamb' } }), 'optimizer.type')).toMatch(
      /^Lamb needs dynamic loss scaling, but bf16 runs use a fixed loss scale of 1/,
    );
    expect(issueAt(issuesOf({ train_batch_size: 8, fp16: { enabled: true, loss_scale: 128 }, optimizer: { type: 'Lamb' } }), 'optimizer.type')).toMatch(
      /fp16\.loss_scale is static \(128\)/,
    );
    expect(resolveConfig({ train_batch_size: 8, fp16: { enabled: true }, optimizer: { type: 'Lamb' } }, { worldSize: 1 }).config.optimizer?.type).toBe('lamb');
    expect(resolveConfig({ train_batch_size: 8, optimizer: { type: 'lamb' } }, { worldSize: 1 }).config.optimizer?.type).toBe('lamb');
  });

  it('1-bit optimizers cannot run with ZeRO; untested optimizers need zero_allow_untested_optimizer', () => {
    expect(issueAt(issuesOf({ train_batch_size: 8, optimizer: { type: 'OneBitAdam' }, zero_optimization: { stage: 1 } }), 'optimizer.type')).toMatch(
      /^onebitadam compresses communication itself and cannot run with ZeRO \(zero_optimization\.stage is 1\)/,
    );
    expect(issueAt(issuesOf({ train_batch_size: 8, optimizer: { type: 'SGD' }, zero_optimization: { stage: 2 } }), 'optimizer.type')).toMatch(
      /set "zero_allow_untested_optimizer": true/,
    );
    const ok = resolveConfig({ train_batch_size: 8, optimizer: { type: 'SGD' }, zero_optimization: { stage: 2 }, zero_allow_untested_optimizer: true }, { worldSize: 1 });
    expect(ok.config.optimizer).toEqual({ type: 'SGD', params: { lr: 1e-3, momentum: 0, dampening: 0, weight_decay: 0, nesterov: false }, legacy_fusion: false });
  });

  it('fp16_master_weights_and_grads needs ZeRO stage 2 with CPU offload', () => {
    expect(issueAt(issuesOf({ train_batch_size: 8, fp16: { enabled: true, fp16_master_weights_and_grads: true }, zero_optimization: { stage: 1 } }), 'fp16.fp16_master_weights_and_grads')).toBe(
      'only supported with ZeRO stage 2 and zero_optimization.offload_optimizer.device "cpu" (got stage 1, offload none)',
    );
    const ok = { train_batch_size: 8, fp16: { enabled: true, fp16_master_weights_and_grads: true }, zero_optimization: { stage: 2, offload_optimizer: { device: 'cpu' } } };
    expect(resolveConfig(ok, { worldSize: 1 }).config.fp16.fp16_master_weights_and_grads).toBe(true);
  });

  it('max_grad_norm in optimizer params points at gradient_clipping', () => {
    expect(issueAt(issuesOf({ train_batch_size: 8, optimizer: { type: 'Adam', params: { max_grad_norm: 1.0 } } }), 'optimizer.params.max_grad_norm')).toBe(
      'not accepted here (got 1); use the top-level "gradient_clipping": 1 instead',
    );
  });

  it('amsgrad is refused for the fused Adam', () => {
    expect(issueAt(issuesOf({ train_batch_size: 8, optimizer: { type: 'AdamW', params: { amsgrad: true } } }), 'optimizer.params.amsgrad')).toMatch(/amsgrad is not supported/);
  });

  it('partial optimizer offload needs stage 3; NVMe offload needs a path', () => {
    const issues = issuesOf({ train_batch_size: 8, zero_optimization: { stage: 2, offload_optimizer: { device: 'nvme', ratio: 0.3 } } });
    expect(issueAt(issues, 'zero_optimization.offload_optimizer.ratio')).toBe('got 0.3; partial offload (ratio < 1) needs ZeRO stage 3 (stage is 2)');
    expect(issueAt(issues, 'zero_optimization.offload_optimizer.nvme_path')).toMatch(/required when device is "nvme"/);
    expect(issueAt(issuesOf({ train_batch_size: 8, zero_optimization: { offload_optimizer: { ratio: 1.5 } } }), 'zero_optimization.offload_optimizer.ratio')).toBe('got 1.5; must be <= 1');
  });

  it('ZeRO-2 reduce_scatter needs predivide 1 and postscaling', () => {
    const issues = issuesOf({ train_batch_size: 8, gradient_predivide_factor: 2, prescale_gradients: true, zero_optimization: { stage: 2 } });
    expect(issueAt(issues, 'gradient_predivide_factor')).toMatch(/^got 2; ZeRO stage 2 with reduce_scatter needs 1\.0/);
    expect(issueAt(issues, 'prescale_gradients')).toMatch(/needs prescale_gradients: false/);
    const ok = { train_batch_size: 8, gradient_predivide_factor: 2, prescale_gradients: true, zero_optimization: { stage: 2, reduce_scatter: false } };
    expect(resolveConfig(ok, { worldSize: 1 }).config.gradient_predivide_factor).toBe(2);
  });

  it('pipeline needs ZeRO < 2, AutoTP and MoE refuse ZeRO-3, legacy_stage1 is gone', () => {
    expect(issueAt(issuesOf({ train_batch_size: 8, pipeline: { stages: 2 }, zero_optimization: { stage: 2 } }), 'zero_optimization.stage')).toMatch(/pipeline parallelism/);
    expect(issueAt(issuesOf({ train_batch_size: 8, tensor_parallel: { autotp_size: 2 }, zero_optimization: { stage: 3 } }), 'zero_optimization.stage')).toMatch(/autotp_size 2/);
    expect(issueAt(issuesOf({ train_batch_size: 8, moe: { enabled: true, num_experts: 6, ep_size: 4 } }), 'moe.ep_size')).toBe('got 4; must divide moe.num_experts (6)');
    expect(issueAt(issuesOf({ train_batch_size: 8, zero_optimization: { stage: 1, legacy_stage1: true } }), 'zero_optimization.legacy_stage1')).toMatch(/removed/);
  });

  it('without ZeRO only DeepSpeed\'s supported (model, accumulation) dtype pairs pass (spec §2.2)', () => {
    expect(issueAt(issuesOf({ train_batch_size: 8, fp16: { enabled: true }, data_types: { grad_accum_dtype: 'fp32' } }), 'data_types.grad_accum_dtype')).toBe(
      'got "fp32" with a fp16 model; without ZeRO the valid accumulation dtype for fp16 is "fp16" (other combinations need zero_optimization.stage >= 1)',
    );
    expect(issueAt(issuesOf({ train_batch_size: 8, bf16: { enabled: true }, data_types: { grad_accum_dtype: 'torch.bfloat16' } }), 'data_types.grad_accum_dtype')).toMatch(/^got "bf16" with a bf16 model/);
    const zero = resolveConfig({ train_batch_size: 8, fp16: { enabled: true }, data_types: { grad_accum_dtype: 'float32' }, zero_optimization: { stage: 1 } }, { worldSize: 1 });
    expect(zero.config.derived.grad_accum_dtype).toBe('fp32');
  });

  it('a deprecated key and its replacement together', () => {
    const issues = issuesOf({
      train_batch_size: 8,
      bf16: { enabled: true },
      bfloat16: { enabled: true },
      zero_optimization: { stage: 3, cpu_offload: true, offload_optimizer: { device: 'cpu' }, stage3_gather_fp16_weights_on_model_save: true, gather_16bit_weights_on_model_save: true },
    });
    expect(issueAt(issues, 'bfloat16')).toMatch(/deprecated name of "bf16", and "bf16" is also given/);
    expect(issueAt(issues, 'zero_optimization.cpu_offload')).toMatch(/deprecated form of zero_optimization\.offload_optimizer, which is also given/);
    expect(issueAt(issues, 'zero_optimization.stage3_gather_fp16_weights_on_model_save')).toMatch(/also given/);
  });
});

describe('reading files', () => {
  it('a syntax error is reported at file:line:column', () => {
    const file = path.join(FIXTURES, 'syntax-error.json');
    expect(() => resolveConfig(file, { worldSize: 1 })).toThrow(ConfigError);
    const issues = issuesOf(file);
    expect(issues).toEqual([{ path: '', message: `${file}:5:5: expected "," between entries` }]);
  });

  it('a repeated key is an error naming it and both positions', () => {
    const file = path.join(FIXTURES, 'duplicate-key.json');
    expect(issuesOf(file)).toEqual([
      { path: 'zero_optimization.stage', message: `${file}:6:5: key "stage" appears twice (first at 4:5); keep one` },
    ]);
  });

  it('parse errors in text name the source given', () => {
    expect(() => parseConfigText('{"a": 1,, }', 'cfg.json')).toThrow(/cfg\.json:1:9: expected a value/);
    expect(() => parseConfigText('[1, 2]', 'cfg.json')).toThrow(/the top level must be a JSON object/);
    expect(() => parseConfigText('   ', 'cfg.json')).toThrow(/cfg\.json is empty/);
  });

  it('a missing file, a non-config string and a non-object are told apart', () => {
    expect(issuesOf('/no/such/ds_config.json')[0]!.message).toBe('config file "/no/such/ds_config.json" does not exist');
    expect(issuesOf('not a config')[0]!.message).toBe('"not a config" is neither an existing file nor URL-safe base64-encoded JSON');
    expect(issuesOf([1, 2])[0]!.message).toBe('expected an object, a path to a JSON file or base64-encoded JSON, got an array');
  });

  it('URL-safe base64 JSON is accepted, as DeepSpeed does', () => {
    const encoded = Buffer.from(JSON.stringify({ train_batch_size: 12, gradient_accumulation_steps: 3, optimizer: { type: 'Adam', params: { lr: 0.5 } } })).toString('base64url');
    const { config } = resolveConfig(encoded, { worldSize: 2 });
    expect([config.train_batch_size, config.train_micro_batch_size_per_gpu, config.gradient_accumulation_steps]).toEqual([12, 2, 3]);
    expect(config.optimizer?.params.lr).toBe(0.5);
  });
});

describe('missing strategy packages', () => {
  it('the message names the section, why it is needed and the install command', () => {
    const err = missingPackageError('zero_optimization', '@ds/zero', 'stage 2');
    expect(err).toBeInstanceOf(MissingPackageError);
    expect(err.message).toBe('config section "zero_optimization" (stage 2) needs @ds/zero, which is not installed: pnpm add @ds/zero');
    expect(missingPackageError('bf16', '@ds/precision').message).toBe('config section "bf16" needs @ds/precision, which is not installed: pnpm add @ds/precision');
  });

  it('requiredPackages lists each enabled section with its package and reason, outermost strategy first', () => {
    const { config } = resolveConfig(
      { train_batch_size: 8, fp16: { enabled: true }, zero_optimization: { stage: 1 }, pipeline: { stages: 2 }, tensor_parallel: { autotp_size: 2 }, moe: { enabled: true, num_experts: 4, ep_size: 2 } },
      { worldSize: 1 },
    );
    expect(requiredPackages(config)).toEqual([
      { section: 'pipeline', package: '@ds/pipeline', reason: '2 stages' },
      { section: 'tensor_parallel', package: '@ds/tensor-parallel', reason: 'autotp_size 2' },
      { section: 'moe', package: '@ds/moe', reason: '4 experts, ep_size 2' },
      { section: 'fp16', package: '@ds/precision', reason: 'dynamic loss scaling' },
      { section: 'zero_optimization', package: '@ds/zero', reason: 'stage 1' },
    ]);
    expect(requiredPackages(resolveConfig({ train_batch_size: 8, bf16: { enabled: true }, pipeline: { stages: 1 }, tensor_parallel: { autotp_size: 1 } }, { worldSize: 1 }).config)).toEqual([
      { section: 'bf16', package: '@ds/precision', reason: 'enabled' },
    ]);
    expect(requiredPackages(resolveConfig({ train_batch_size: 8 }, { worldSize: 1 }).config)).toEqual([]);
  });
});
