// Mutual exclusions and hard errors DeepSpeed raises at initialize() that the config alone
// decides (spec §1.14, §2.2), reported with the rest of the config's problems.
import type { IssueList } from './errors.js';
import type { DerivedValues } from './derive.js';
import type { ParsedConfig } from './schema.js';
import { ONE_BIT_OPTIMIZERS, ZERO_SUPPORTED_OPTIMIZERS, type OptimizerConfig } from './sections/optimizer.js';

export function checkExclusions(c: ParsedConfig, optimizer: OptimizerConfig | null, d: DerivedValues, issues: IssueList, warnings: string[]): void {
  const zero = c.zero_optimization;
  const stage = zero.stage;
  const pipelineStages = typeof c.pipeline.stages === 'number' ? c.pipeline.stages : 1;

  if (c.fp16.enabled && c.bf16.enabled) issues.add('bf16.enabled', 'fp16 and bf16 are both enabled; enable one of them');

  if (c.amp.enabled) {
    if (stage > 0) issues.add('amp.enabled', `apex amp cannot be combined with ZeRO (zero_optimization.stage is ${stage}); use "fp16" or "bf16" with ZeRO`);
    if (c.fp16.enabled || c.bf16.enabled) issues.add('amp.enabled', `apex amp cannot be combined with ${c.fp16.enabled ? 'fp16' : 'bf16'}; enable only one mixed-precision mode`);
    issues.add('amp.enabled', 'apex amp is not available in ds (it needs NVIDIA apex); use "fp16" or "bf16" instead');
  }

  if (optimizer) {
    const t = optimizer.type;
    if ((t === 'lamb' || t === 'onebitlamb') && !d.dynamic_loss_scale && d.model_dtype !== 'fp32') {
      const why = d.model_dtype === 'bf16' ? 'bf16 runs use a fixed loss scale of 1' : `fp16.loss_scale is static (${c.fp16.loss_scale})`;
      issues.add('optimizer.type', `${t === 'lamb' ? 'Lamb' : 'OneBitLamb'} needs dynamic loss scaling, but ${why}; use fp16 with "loss_scale": 0, or another optimizer`);
    }
    if (ONE_BIT_OPTIMIZERS.includes(t) && stage > 0) {
      issues.add('optimizer.type', `${t} compresses communication itself and cannot run with ZeRO (zero_optimization.stage is ${stage}); use stage 0`);
    } else if (stage > 0 && !ZERO_SUPPORTED_OPTIMIZERS.includes(t) && !c.zero_allow_untested_optimizer) {
      issues.add(
        'optimizer.type',
        `ZeRO (stage ${stage}) is tested with Adam, AdamW, Adagrad and Lion, not "${t}"; set "zero_allow_untested_optimizer": true to use it anyway`,
      );
    }
  }

  if (c.fp16.fp16_master_weights_and_grads) {
    const cpu = zero.offload_optimizer?.device === 'cpu';
    if (stage !== 2 || !cpu) {
      issues.add(
        'fp16.fp16_master_weights_and_grads',
        `only supported with ZeRO stage 2 and zero_optimization.offload_optimizer.device "cpu" (got stage ${stage}, offload ${zero.offload_optimizer?.device ?? 'none'})`,
      );
    }
  }

  const ratio = zero.offload_optimizer?.ratio ?? 1;
  if (ratio < 1 && stage !== 3) issues.add('zero_optimization.offload_optimizer.ratio', `got ${ratio}; partial offload (ratio < 1) needs ZeRO stage 3 (stage is ${stage})`);
  for (const key of ['offload_optimizer', 'offload_param'] as const) {
    const off = zero[key];
    if (off?.device === 'nvme' && !off.nvme_path) issues.add(`zero_optimization.${key}.nvme_path`, 'required when device is "nvme": the directory to swap to');
  }
  if (zero.offload_param && zero.offload_param.device !== 'none' && stage !== 3) {
    warnings.push(`zero_optimization.offload_param only applies to ZeRO stage 3 (stage is ${stage}); parameters stay in place`);
  }
  if (zero.offload_optimizer && zero.offload_optimizer.device !== 'none' && stage === 0) {
    warnings.push('zero_optimization.offload_optimizer needs ZeRO (stage >= 1); with stage 0 nothing is offloaded');
  }

  if (stage === 2 && zero.reduce_scatter) {
    if (c.gradient_predivide_factor !== 1) {
      issues.add('gradient_predivide_factor', `got ${c.gradient_predivide_factor}; ZeRO stage 2 with reduce_scatter needs 1.0 (or set zero_optimization.reduce_scatter: false)`);
    }
    if (c.prescale_gradients) issues.add('prescale_gradients', 'ZeRO stage 2 with reduce_scatter needs prescale_gradients: false (or set zero_optimization.reduce_scatter: false)');
  }
  if ((stage === 1 || stage === 2) && zero.allgather_bucket_size % 2 !== 0) {
    issues.add('zero_optimization.allgather_bucket_size', `got ${zero.allgather_bucket_size}; must be a multiple of 2 (the fp16 alignment of partitions)`);
  }
  if (zero.legacy_stage1) issues.add('zero_optimization.legacy_stage1', 'the legacy stage-1 implementation was removed; valid: false');

  if (pipelineStages > 1 && stage >= 2) issues.add('zero_optimization.stage', `got ${stage}; pipeline parallelism (pipeline.stages ${pipelineStages}) supports ZeRO stage 0 or 1`);
  if (c.tensor_parallel.autotp_size > 1 && stage === 3) issues.add('zero_optimization.stage', `got 3; tensor_parallel.autotp_size ${c.tensor_parallel.autotp_size} supports ZeRO stages 0-2`);
  if (c.moe.enabled) {
    if (stage === 3) issues.add('zero_optimization.stage', 'got 3; mixture of experts (moe.enabled) supports ZeRO stages 0-2');
    if (c.moe.num_experts % c.moe.ep_size !== 0) issues.add('moe.ep_size', `got ${c.moe.ep_size}; must divide moe.num_experts (${c.moe.num_experts})`);
  }

  checkDtypes(c, d, pipelineStages, issues, warnings);
}

/** Which (model dtype, gradient-accumulation dtype) pairs an engine without ZeRO can run (spec §2.2). */
function checkDtypes(c: ParsedConfig, d: DerivedValues, pipelineStages: number, issues: IssueList, warnings: string[]): void {
  if (c.zero_optimization.stage > 0 || c.data_types.grad_accum_dtype === null) return;
  const model = c.amp.enabled ? 'fp32' : d.model_dtype;
  const accum = d.grad_accum_dtype;
  if (model === 'bf16' && accum === 'bf16' && pipelineStages > 1) {
    warnings.push('bf16 gradients accumulated in bf16 (data_types.grad_accum_dtype) lose precision; fp32 is recommended');
    return;
  }
  const valid: Record<string, string> = { fp16: 'fp16', bf16: 'fp32', fp32: 'fp32' };
  if (valid[model] !== accum) {
    issues.add(
      'data_types.grad_accum_dtype',
      `got "${accum}" with a ${model} model; without ZeRO the valid accumulation dtype for ${model} is "${valid[model]}" (other combinations need zero_optimization.stage >= 1)`,
    );
  }
}
