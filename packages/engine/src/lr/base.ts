// What every DeepSpeed-style schedule shares: the iteration counter `k`
// (`last_batch_iteration`), writing lrs into the optimizer, the checkpoint state.
import { show } from './suggest.js';
import type { LRScheduler, LRSchedulerState, OptimizerInput, SchedulableOptimizer, SchedulerContext, WarnFn } from './types.js';

export const defaultWarn: WarnFn = (message) => process.emitWarning(message, 'DSWarning');

/** DeepSpeed's `get_torch_optimizer`: take the optimizer itself, or the one a wrapper holds. */
export function resolveOptimizer(schedule: string, input: OptimizerInput): SchedulableOptimizer {
  const direct = input as Partial<SchedulableOptimizer> | null;
  if (direct !== null && typeof direct === 'object' && Array.isArray(direct.paramGroups)) return checkGroups(schedule, direct as SchedulableOptimizer);
  const inner = (input as Partial<{ optimizer: unknown }> | null)?.optimizer as Partial<SchedulableOptimizer> | undefined;
  if (inner !== null && typeof inner === 'object' && Array.isArray(inner.paramGroups)) return checkGroups(schedule, inner as SchedulableOptimizer);
  throw new TypeError(`${schedule}: optimizer must have 'paramGroups' (an optim.Optimizer) or wrap one as '.optimizer', got ${show(input)}`);
}

function checkGroups(schedule: string, opt: SchedulableOptimizer): SchedulableOptimizer {
  if (opt.paramGroups.length === 0) throw new RangeError(`${schedule}: the optimizer has no param groups`);
  opt.paramGroups.forEach((g, i) => {
    if (g === null || typeof g !== 'object') throw new TypeError(`${schedule}: optimizer.paramGroups[${i}] must be an object, got ${show(g)}`);
  });
  return opt;
}

export function readLr(schedule: string, opt: SchedulableOptimizer, i: number): number {
  const lr = opt.paramGroups[i]!.lr;
  if (typeof lr !== 'number' || !Number.isFinite(lr)) {
    throw new TypeError(`${schedule}: optimizer.paramGroups[${i}].lr must be a finite number, got ${show(lr)}`);
  }
  return lr;
}

function checkIteration(where: string, what: string, k: unknown): number {
  if (!Number.isInteger(k) || (k as number) < -1) throw new RangeError(`${where}: ${what} must be an integer >= -1, got ${show(k)}`);
  return k as number;
}

export abstract class ScheduleBase implements LRScheduler {
  readonly optimizer: SchedulableOptimizer;
  /** DeepSpeed's `last_batch_iteration` (k): -1 before the first step. */
  lastBatchIteration: number;
  protected readonly warn: WarnFn;
  protected readonly name: string;
  #lastLr: number[] | null = null;

  protected constructor(name: string, optimizer: OptimizerInput, lastBatchIteration: number, ctx: SchedulerContext) {
    this.name = name;
    this.optimizer = resolveOptimizer(name, optimizer);
    this.lastBatchIteration = lastBatchIteration;
    this.warn = ctx.warn ?? defaultWarn;
  }

  /** Param-group count, needed to expand scalar-or-list params before the base constructor runs. */
  protected static groupCount(schedule: string, optimizer: OptimizerInput): number {
    return resolveOptimizer(schedule, optimizer).paramGroups.length;
  }

  /** The lr per group at the current k. */
  abstract getLr(): number[];

  /**
   * Subclasses call this last in their constructor: a fresh schedule (k = -1) writes its
   * k = -1 values into the optimizer, so the first training step already uses them.
   */
  protected start(): void {
    if (this.lastBatchIteration === -1) this.apply();
  }

  step(batchIteration?: number): void {
    this.lastBatchIteration = batchIteration === undefined
      ? this.lastBatchIteration + 1
      : checkIteration(`${this.name}.step`, 'batchIteration', batchIteration);
    this.apply();
  }

  /** Write the current values into the optimizer (lr, plus momentum for OneCycle). */
  protected apply(): void {
    this.writeLr(this.getLr());
  }

  /**
   * zip semantics, as DeepSpeed: a shorter list only touches the first groups. `lastLr` is
   * every group's lr afterwards, written or not. DeepSpeed leaves it unset after
   * construction for OneCycle and LRRangeTest; ds sets it whenever lrs are written.
   */
  protected writeLr(lrs: readonly number[]): void {
    const groups = this.optimizer.paramGroups;
    const n = Math.min(groups.length, lrs.length);
    for (let i = 0; i < n; i++) groups[i]!.lr = lrs[i]!;
    this.#lastLr = groups.map((g) => (typeof g.lr === 'number' ? g.lr : 0));
  }

  getLastLr(): number[] {
    if (this.#lastLr === null) throw new Error(`${this.name}.getLastLr: no lr has been written yet; call step() first`);
    return [...this.#lastLr];
  }

  stateDict(): LRSchedulerState {
    return { last_batch_iteration: this.lastBatchIteration };
  }

  /** Restores k only; the optimizer's own state dict carries the lrs it last had, as in DeepSpeed. */
  loadStateDict(state: Record<string, unknown>): void {
    if (state === null || typeof state !== 'object') throw new TypeError(`${this.name}.loadStateDict: state must be an object { last_batch_iteration }, got ${show(state)}`);
    if (!('last_batch_iteration' in state)) {
      throw new RangeError(`${this.name}.loadStateDict: state has no 'last_batch_iteration' (keys: ${Object.keys(state).map((k) => `'${k}'`).join(', ') || 'none'})`);
    }
    this.lastBatchIteration = checkIteration(`${this.name}.loadStateDict`, 'state.last_batch_iteration', state.last_batch_iteration);
  }
}
