// Legacy and aliased keys, rewritten to their modern form before validation. Deprecated keys
// produce a warning naming the replacement; giving a deprecated key and its replacement is an
// error (DeepSpeed asserts the same).
import { show, type IssueList } from './errors.js';
import { isPlainObject } from './parse.js';
import { ZERO_ALIASES } from './sections/zero.js';

const DEFAULT_ALLGATHER_SIZE = 500_000_000;

/** Rewrites `config` in place (it is already a private copy). */
export function normaliseLegacy(config: Record<string, unknown>, issues: IssueList, warnings: string[]): void {
  renameBfloat16(config, issues, warnings);
  legacyZeroBoolean(config, issues, warnings);
  const zero = config.zero_optimization;
  if (isPlainObject(zero)) normaliseZero(zero, issues, warnings);
  const tp = config.tensor_parallel;
  if (isPlainObject(tp)) {
    renameAlias(tp, 'tensor_parallel', 'tp', 'tensor_parallel', issues);
    renameAlias(tp, 'kernel_inject', 'replace_with_kernel_inject', 'tensor_parallel', issues);
  }
}

function renameBfloat16(config: Record<string, unknown>, issues: IssueList, warnings: string[]): void {
  if (!('bfloat16' in config)) return;
  if ('bf16' in config) {
    issues.add('bfloat16', 'deprecated name of "bf16", and "bf16" is also given; keep only "bf16"');
  } else {
    config.bf16 = config.bfloat16;
    warnings.push('"bfloat16" is deprecated; use "bf16" (same keys)');
  }
  delete config.bfloat16;
}

function legacyZeroBoolean(config: Record<string, unknown>, issues: IssueList, warnings: string[]): void {
  const zero = config.zero_optimization;
  const size = config.allgather_size;
  if ('allgather_size' in config) {
    delete config.allgather_size;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
      issues.add('allgather_size', `expected an integer >= 0, got ${show(size)}`);
      return;
    }
    if (typeof zero !== 'boolean') {
      warnings.push('"allgather_size" is only read with the legacy "zero_optimization": true form; use zero_optimization.allgather_bucket_size');
    }
  }
  if (typeof zero !== 'boolean') return;
  if (zero) {
    config.zero_optimization = { stage: 1, allgather_bucket_size: size ?? DEFAULT_ALLGATHER_SIZE };
    warnings.push(`"zero_optimization": true is deprecated; use "zero_optimization": {"stage": 1, "allgather_bucket_size": ${String(size ?? DEFAULT_ALLGATHER_SIZE)}}`);
  } else {
    config.zero_optimization = { stage: 0 };
    warnings.push('"zero_optimization": false is deprecated; use "zero_optimization": {"stage": 0} (or leave the section out)');
  }
}

function normaliseZero(zero: Record<string, unknown>, issues: IssueList, warnings: string[]): void {
  for (const [alias, name] of Object.entries(ZERO_ALIASES)) renameAlias(zero, alias, name, 'zero_optimization', issues);

  if ('stage3_gather_fp16_weights_on_model_save' in zero) {
    const v = zero.stage3_gather_fp16_weights_on_model_save;
    delete zero.stage3_gather_fp16_weights_on_model_save;
    if ('gather_16bit_weights_on_model_save' in zero) {
      issues.add('zero_optimization.stage3_gather_fp16_weights_on_model_save', 'deprecated name of gather_16bit_weights_on_model_save, which is also given; keep only gather_16bit_weights_on_model_save');
    } else {
      zero.gather_16bit_weights_on_model_save = v;
      warnings.push('zero_optimization.stage3_gather_fp16_weights_on_model_save is deprecated; use zero_optimization.gather_16bit_weights_on_model_save');
    }
  }

  deprecatedOffload(zero, 'cpu_offload', 'offload_optimizer', issues, warnings);
  deprecatedOffload(zero, 'cpu_offload_param', 'offload_param', issues, warnings);

  if ('cpu_offload_use_pin_memory' in zero) {
    const v = zero.cpu_offload_use_pin_memory;
    delete zero.cpu_offload_use_pin_memory;
    if (typeof v !== 'boolean') issues.add('zero_optimization.cpu_offload_use_pin_memory', `expected a boolean, got ${show(v)}`);
    else warnings.push('zero_optimization.cpu_offload_use_pin_memory is deprecated and has no effect; use zero_optimization.offload_optimizer.pin_memory / offload_param.pin_memory');
  }
}

/** cpu_offload: true → offload_optimizer {device: "cpu"}; false → no offload (DeepSpeed's mapping). */
function deprecatedOffload(zero: Record<string, unknown>, key: string, modern: string, issues: IssueList, warnings: string[]): void {
  if (!(key in zero)) return;
  const v = zero[key];
  delete zero[key];
  const path = `zero_optimization.${key}`;
  if (typeof v !== 'boolean') {
    issues.add(path, `expected a boolean, got ${show(v)}`);
    return;
  }
  if (modern in zero) {
    issues.add(path, `deprecated form of zero_optimization.${modern}, which is also given; keep only ${modern}`);
    return;
  }
  if (v) zero[modern] = { device: 'cpu' };
  warnings.push(`${path} is deprecated; use zero_optimization.${modern}: ${v ? '{"device": "cpu"}' : 'null (or leave it out)'}`);
}

/** Accept `alias` as another name of `name`, silently; both given is an error. */
function renameAlias(obj: Record<string, unknown>, alias: string, name: string, section: string, issues: IssueList): void {
  if (!(alias in obj)) return;
  if (name in obj) {
    issues.add(`${section}.${alias}`, `another name of ${section}.${name}, which is also given (${show(obj[name])}); keep one`);
  } else {
    obj[name] = obj[alias];
  }
  delete obj[alias];
}
