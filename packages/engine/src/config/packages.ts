// Which strategy package each enabled config section needs; the engine imports them and
// reports a missing one with missingPackageError().
import type { ResolvedConfig } from './resolve.js';

export interface RequiredPackage {
  /** The config section that asks for the package. */
  section: string;
  package: string;
  /** What in the section asks for it, e.g. "stage 2". */
  reason: string;
}

/**
 * The strategy packages a resolved config needs, in the order the strategies wrap the model:
 * pipeline (outermost), tensor parallelism, MoE, mixed precision, then ZeRO — precision comes
 * before ZeRO so that ZeRO partitions the fp32 master weights precision creates.
 */
export function requiredPackages(config: ResolvedConfig): RequiredPackage[] {
  const out: RequiredPackage[] = [];
  const stages = config.pipeline.stages;
  if (typeof stages === 'number' && stages > 1) out.push({ section: 'pipeline', package: '@ds/pipeline', reason: `${stages} stages` });
  if (config.tensor_parallel.autotp_size > 1) {
    out.push({ section: 'tensor_parallel', package: '@ds/tensor-parallel', reason: `autotp_size ${config.tensor_parallel.autotp_size}` });
  }
  if (config.moe.enabled) out.push({ section: 'moe', package: '@ds/moe', reason: `${config.moe.num_experts} experts, ep_size ${config.moe.ep_size}` });
  if (config.fp16.enabled) out.push({ section: 'fp16', package: '@ds/precision', reason: config.derived.dynamic_loss_scale ? 'dynamic loss scaling' : `static loss scale ${config.fp16.loss_scale}` });
  if (config.bf16.enabled) out.push({ section: 'bf16', package: '@ds/precision', reason: 'enabled' });
  if (config.zero_optimization.stage >= 1) out.push({ section: 'zero_optimization', package: '@ds/zero', reason: `stage ${config.zero_optimization.stage}` });
  return out;
}
