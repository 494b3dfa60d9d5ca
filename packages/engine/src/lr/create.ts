// Config-driven construction: DeepSpeed's `"scheduler": {"type": ..., "params": {...}}`.
import { resolveOptimizer } from './base.js';
import { LRRangeTest, LR_RANGE_TEST_FIELDS } from './range-test.js';
import { ONE_CYCLE_FIELDS, OneCycle } from './one-cycle.js';
import { parseOptions, type Fields } from './options.js';
import { WARMUP_COSINE_LR_FIELDS, WarmupCosineLR } from './warmup-cosine.js';
import { WARMUP_DECAY_LR_FIELDS, WARMUP_LR_FIELDS, WarmupDecayLR, WarmupLR } from './warmup.js';
import { show, unknownNameHint } from './suggest.js';
import type { LRScheduler, OptimizerInput, SchedulerContext } from './types.js';

/** DeepSpeed's schedule names, case-sensitive as in `deepspeed.runtime.lr_schedules`. */
export const LR_SCHEDULE_NAMES = ['LRRangeTest', 'OneCycle', 'WarmupLR', 'WarmupDecayLR', 'WarmupCosineLR'] as const;
export type LRScheduleName = (typeof LR_SCHEDULE_NAMES)[number];

interface Entry {
  fields: Fields<Record<string, unknown>>;
  build(optimizer: OptimizerInput, options: Record<string, unknown>, ctx: SchedulerContext): LRScheduler;
}

// The class constructors validate again, in camelCase; the parsed values always pass.
const REGISTRY: Record<LRScheduleName, Entry> = {
  LRRangeTest: { fields: LR_RANGE_TEST_FIELDS as Entry['fields'], build: (o, p, c) => new LRRangeTest(o, p, c) },
  OneCycle: { fields: ONE_CYCLE_FIELDS as Entry['fields'], build: (o, p, c) => new OneCycle(o, p as never, c) },
  WarmupLR: { fields: WARMUP_LR_FIELDS as Entry['fields'], build: (o, p, c) => new WarmupLR(o, p, c) },
  WarmupDecayLR: { fields: WARMUP_DECAY_LR_FIELDS as Entry['fields'], build: (o, p, c) => new WarmupDecayLR(o, p as never, c) },
  WarmupCosineLR: { fields: WARMUP_COSINE_LR_FIELDS as Entry['fields'], build: (o, p, c) => new WarmupCosineLR(o, p as never, c) },
};

/** Which params (snake_case, as in a DeepSpeed config) a schedule type accepts. */
export function schedulerParamNames(type: LRScheduleName): string[] {
  return Object.values(REGISTRY[type].fields).map((f) => f.snake);
}

/**
 * Build a schedule from a DeepSpeed config section: `type` as DeepSpeed spells it, `params`
 * with DeepSpeed's snake_case names and defaults. Unknown types and params are rejected
 * with the closest valid name; bad values name the param.
 */
export function createScheduler(type: string, optimizer: OptimizerInput, params: Record<string, unknown> = {}, ctx: SchedulerContext = {}): LRScheduler {
  if (typeof type !== 'string') throw new TypeError(`scheduler.type must be a string naming a schedule (${LR_SCHEDULE_NAMES.join(', ')}), got ${show(type)}`);
  if (!(LR_SCHEDULE_NAMES as readonly string[]).includes(type)) {
    throw new RangeError(
      `scheduler.type: unknown schedule '${type}'${unknownNameHint(type, LR_SCHEDULE_NAMES)}. ` +
        'torch.optim.lr_scheduler classes are not available in ds; pass a client scheduler (e.g. fromLambda(optimizer, step => factor)) instead',
    );
  }
  const entry = REGISTRY[type as LRScheduleName];
  const groups = resolveOptimizer(type, optimizer).paramGroups.length;
  const parsed = parseOptions({ schedule: `scheduler '${type}'`, groups }, entry.fields, params, 'snake');
  return entry.build(optimizer, parsed, ctx);
}
