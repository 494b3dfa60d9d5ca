// resolveConfig(): a DeepSpeed config (object, file or base64) → the fully resolved config the
// engine runs from, with every problem reported at once and deprecations returned as warnings.
import { dropAuto } from './auto.js';
import { resolveBatchSizes, type BatchSizes } from './batch.js';
import { checkExclusions } from './checks.js';
import { deriveValues, type DerivedValues } from './derive.js';
import { computeElasticBatch } from './elasticity.js';
import { ConfigError, IssueList } from './errors.js';
import { toConfigIssues } from './issues.js';
import { normaliseLegacy } from './legacy.js';
import { resolveOptimizer } from './optimizer.js';
import { isPlainObject, loadConfig } from './parse.js';
import { resolveScheduler } from './scheduler.js';
import { deepSpeedConfigSchema, type DeepSpeedConfig, type ParsedConfig } from './schema.js';
import { optimizerSectionSchema, type OptimizerConfig } from './sections/optimizer.js';
import { schedulerSectionSchema, type SchedulerConfig } from './sections/scheduler.js';
import type { ZeroConfig } from './sections/zero.js';

/** The config the engine runs from: every key at its value or default, batch sizes resolved, derived values computed. */
export type ResolvedConfig = Omit<ParsedConfig, keyof BatchSizes | 'optimizer' | 'scheduler' | 'zero_optimization'> &
  BatchSizes & {
    optimizer: OptimizerConfig | null;
    scheduler: SchedulerConfig | null;
    zero_optimization: ZeroConfig;
    derived: DerivedValues;
  };

export interface ResolveOptions {
  /** Data-parallel world size the batch sizes are resolved for. */
  worldSize: number;
}

export interface ResolveResult {
  config: ResolvedConfig;
  /** Deprecations and ignored settings, for the engine to log where it logs. */
  warnings: string[];
}

const BATCH_KEYS = ['train_batch_size', 'train_micro_batch_size_per_gpu', 'gradient_accumulation_steps'] as const;

/**
 * Resolve a DeepSpeed config. `config` is an object, a path to a JSON file (comments and
 * trailing commas allowed) or URL-safe base64 JSON. Throws one ConfigError listing every problem.
 */
export function resolveConfig(config: string | DeepSpeedConfig | Record<string, unknown>, opts: ResolveOptions): ResolveResult {
  const worldSize = opts?.worldSize;
  if (typeof worldSize !== 'number' || !Number.isInteger(worldSize) || worldSize < 1) {
    throw new RangeError(`resolveConfig: opts.worldSize must be an integer >= 1 (the data-parallel world size), got ${String(worldSize)}`);
  }
  const { value: loaded, source } = loadConfig(config);
  const { value: raw, autoPaths } = dropAuto(loaded);
  const issues = new IssueList();
  const warnings: string[] = [];
  normaliseLegacy(raw, issues, warnings);

  const parsed = deepSpeedConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const i of toConfigIssues(parsed.error, { input: raw, schema: deepSpeedConfigSchema, autoPaths })) issues.add(i.path, i.message);
    // The batch triad and the optimizer/scheduler types do not depend on the other sections:
    // report their problems too, so one run lists everything.
    const clean = (key: string) => !parsed.error.issues.some((i) => i.path[0] === key);
    if (BATCH_KEYS.every(clean)) {
      const batch = resolveBatchSizes(raw as Record<string, number | undefined>, worldSize, autoPaths);
      if (!batch.ok) for (const i of batch.issues) issues.add(i.path, i.message);
    }
    if (clean('optimizer') && raw.optimizer != null) {
      resolveOptimizer(optimizerSectionSchema.parse(raw.optimizer), issues, warnings, autoPaths);
    }
    if (clean('scheduler') && raw.scheduler != null) {
      resolveScheduler(schedulerSectionSchema.parse(raw.scheduler), issues, warnings, autoPaths);
    }
    throw new ConfigError(issues.items, source);
  }
  const c = parsed.data;

  const given: Partial<Record<keyof BatchSizes, number | null | undefined>> = { ...c };
  let elasticWorldSizes: number[] | null = null;
  if (c.elasticity.enabled) {
    const elastic = resolveElastic(c, raw, worldSize, issues);
    if (elastic) {
      elasticWorldSizes = elastic.validWorldSizes;
      given.train_batch_size = elastic.trainBatchSize;
      given.train_micro_batch_size_per_gpu = elastic.microBatchSize;
      given.gradient_accumulation_steps = Math.floor(elastic.trainBatchSize / (elastic.microBatchSize * worldSize));
    }
  }
  const batch = resolveBatchSizes(given, worldSize, autoPaths);
  if (!batch.ok) for (const i of batch.issues) issues.add(i.path, i.message);

  const optimizer = c.optimizer ? resolveOptimizer(c.optimizer, issues, warnings, autoPaths) : null;
  const scheduler = c.scheduler ? resolveScheduler(c.scheduler, issues, warnings, autoPaths) : null;
  const derived = deriveValues(c, elasticWorldSizes);
  checkExclusions(c, optimizer, derived, issues, warnings);
  if (issues.size > 0 || !batch.ok) throw new ConfigError(issues.items, source);

  if (autoPaths.size > 0) {
    warnings.push(`"auto" values were resolved without a trainer (batch sizes derived, everything else at its default): ${[...autoPaths].join(', ')}`);
  }
  return { config: assemble(c, batch.sizes, optimizer, scheduler, derived, warnings), warnings };
}

function resolveElastic(c: ParsedConfig, raw: Record<string, unknown>, worldSize: number, issues: IssueList) {
  const section = isPlainObject(raw.elasticity) ? raw.elasticity : {};
  let ok = true;
  for (const key of ['max_train_batch_size', 'micro_batch_sizes']) {
    if (!(key in section)) {
      issues.add(`elasticity.${key}`, 'required when elasticity is enabled');
      ok = false;
    }
  }
  const givenBatch = BATCH_KEYS.filter((k) => c[k] != null);
  if (givenBatch.length > 0 && !c.elasticity.ignore_non_elastic_batch_info) {
    issues.add(
      givenBatch[0]!,
      `elastic training computes ${givenBatch.join(', ')} itself; remove ${givenBatch.length > 1 ? 'them' : 'it'} or set elasticity.ignore_non_elastic_batch_info: true`,
    );
    ok = false;
  }
  if (!ok) return null;
  const r = computeElasticBatch(c.elasticity, worldSize);
  if (!r.ok) {
    for (const i of r.issues) issues.add(i.path, i.message);
    return null;
  }
  return r.batch;
}

function assemble(
  c: ParsedConfig,
  sizes: BatchSizes,
  optimizer: OptimizerConfig | null,
  scheduler: SchedulerConfig | null,
  derived: DerivedValues,
  warnings: string[],
): ResolvedConfig {
  const zero = c.zero_optimization;
  let overlap = zero.overlap_comm ?? zero.stage === 3;
  if (overlap && typeof c.pipeline.stages === 'number' && c.pipeline.stages > 1) {
    warnings.push('zero_optimization.overlap_comm is turned off: pipeline parallelism does not overlap gradient reduction');
    overlap = false;
  }
  const off = zero.offload_optimizer;
  return {
    ...c,
    ...sizes,
    // The flops profiler reads the step timers, so DeepSpeed turns the breakdown on with it.
    wall_clock_breakdown: c.wall_clock_breakdown || c.flops_profiler.enabled,
    optimizer,
    scheduler,
    zero_optimization: {
      ...zero,
      overlap_comm: overlap,
      offload_optimizer: off ? { ...off, pipeline: off.pipeline_read || off.pipeline_write } : null,
    },
    derived,
  };
}
