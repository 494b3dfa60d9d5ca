// Data parallelism, the default strategy: every rank holds the whole model and optimizer,
// gradients are averaged over the data-parallel group, every rank applies the same update.
import type { DType } from '@ds/core';
import type { EngineParts, Strategy, StrategyContext } from '@ds/strategy';
import { AllReduceGradSync, type DataParallelOptions } from './grad-sync.js';
import { OptimizerUpdater, replicatedGradNorm } from './updater.js';

export { AllReduceGradSync, type DataParallelOptions } from './grad-sync.js';
export { OptimizerUpdater, clipGradients, replicatedGradNorm, gradsOf } from './updater.js';
export { planBuckets, type Bucket } from './buckets.js';

/** DeepSpeed's `reduce_bucket_size` default. */
export const DEFAULT_BUCKET_ELEMENTS = 500_000_000;

export function dataParallel(opts: Partial<DataParallelOptions> = {}): Strategy {
  return {
    name: 'data-parallel',
    apply(parts: EngineParts, ctx: StrategyContext): void {
      const options: DataParallelOptions = {
        bucketElements: opts.bucketElements ?? DEFAULT_BUCKET_ELEMENTS,
        prescale: opts.prescale ?? false,
        predivide: opts.predivide ?? 1,
        commDtype: opts.commDtype ?? null,
      };
      parts.gradSync = new AllReduceGradSync(() => trainable(parts), ctx.dataParallel, options);
      parts.updater = new OptimizerUpdater(parts, ctx.gradientClipping);
      parts.gradNorm = replicatedGradNorm;
    },
  };
}

/** The engine's config keys for this strategy (DeepSpeed names). */
export function dataParallelFromConfig(config: {
  prescale_gradients?: boolean;
  gradient_predivide_factor?: number;
  communication_data_type?: string | null;
  zero_optimization?: { reduce_bucket_size?: number };
  /** The resolved config's derived values: communication_data_type defaults to the model dtype. */
  derived?: { communication_data_type?: string };
}): Strategy {
  return dataParallel({
    bucketElements: config.zero_optimization?.reduce_bucket_size ?? DEFAULT_BUCKET_ELEMENTS,
    prescale: config.prescale_gradients ?? false,
    predivide: config.gradient_predivide_factor ?? 1,
    // As DeepSpeed: buckets are cast to the model dtype unless communication_data_type says
    // otherwise, also bf16 gradients accumulated in fp32 (set "fp32" to reduce those in full).
    commDtype: commDtype(config.communication_data_type ?? config.derived?.communication_data_type ?? null),
  });
}

function commDtype(name: string | null): DType | null {
  if (name === null) return null;
  const map: Record<string, DType> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16', float32: 'float32', float16: 'float16', bfloat16: 'bfloat16' };
  const d = map[name.toLowerCase()];
  if (!d) throw new RangeError(`communication_data_type: got ${JSON.stringify(name)}; valid: "fp32", "fp16", "bf16"`);
  return d;
}

function trainable(parts: EngineParts) {
  const seen = new Set<unknown>();
  return parts.model.parameters().filter((p) => p.requiresGrad && !seen.has(p) && (seen.add(p), true));
}
