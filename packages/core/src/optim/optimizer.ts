// The optimizer base: parameter groups, per-parameter state and torch-compatible state
// dicts. Subclasses only describe their hyperparameters and implement `stepGroup`.
import { noGrad, withGradMode } from '../autograd.js';
import { editDistance } from '../nn/module.js';
import { shapeStr, sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { clone, to } from '../ops/view.js';
import { isFloating } from '../dtype.js';
import { describe } from '../ops/util.js';

/** Per-parameter optimizer state (moment buffers as tensors, counters as numbers). */
export type ParamState = Record<string, Tensor | number>;

/** A live parameter group: the parameters plus this group's hyperparameters. */
export type ParamGroup<H extends object = Record<string, unknown>> = H & {
  params: Tensor[];
  /** Extra keys (a group name, a scheduler's initialLr, ...) are kept as torch keeps them. */
  [key: string]: unknown;
};

/** What a caller passes for one group: any hyperparameter left out comes from the defaults. */
export type ParamGroupInput<H extends object = Record<string, unknown>> = Partial<H> & {
  params: Tensor | Iterable<Tensor>;
  [key: string]: unknown;
};

/** A parameter group as saved: parameters replaced by their index across all groups. */
export type SavedParamGroup<H extends object = Record<string, unknown>> = H & {
  params: number[];
  [key: string]: unknown;
};

/**
 * torch's optimizer state_dict layout: `state` keyed by the parameter's position when all
 * groups' params are concatenated, so a checkpoint does not depend on tensor identity.
 */
export interface OptimizerStateDict<H extends object = Record<string, unknown>> {
  state: Record<number, ParamState>;
  paramGroups: SavedParamGroup<H>[];
}

/** How a subclass describes itself to the base class. */
export interface OptimizerSpec<H extends object> {
  /** Used as the prefix of every error message ("Adam: ..."). */
  name: string;
  /** Full set of hyperparameters with their default values; also the set of accepted option keys. */
  defaults: H;
  /** Throw a RangeError/TypeError when a hyperparameter is invalid; `where` is appended to the message. */
  validate(h: H, where: string): void;
}

export abstract class Optimizer<H extends object = Record<string, unknown>> {
  /** Hyperparameters every new group starts from (constructor options over the optimizer's defaults). */
  readonly defaults: Readonly<H>;
  paramGroups: ParamGroup<H>[] = [];
  state = new Map<Tensor, ParamState>();
  readonly #spec: OptimizerSpec<H>;

  protected constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<H>>, options: Partial<H>, spec: OptimizerSpec<H>) {
    this.#spec = spec;
    const keys = Object.keys(spec.defaults);
    checkOptionKeys(spec.name, options as Record<string, unknown>, keys, 'option', true);
    const defaults = cloneValues(spec.defaults);
    for (const k of keys) {
      const v = (options as Record<string, unknown>)[k];
      if (v !== undefined) (defaults as Record<string, unknown>)[k] = cloneValue(v);
    }
    spec.validate(defaults, '');
    this.defaults = defaults;

    if (params instanceof Tensor || params === null || typeof params !== 'object' || !(Symbol.iterator in params)) {
      throw new TypeError(`${spec.name}: params must be an iterable of Tensors or of parameter groups ({ params, ...options }), got ${describe(params)}`);
    }
    const list = [...(params as Iterable<Tensor | ParamGroupInput<H>>)];
    if (list.length === 0) throw new RangeError(`${spec.name}: got an empty parameter list`);
    const groups: ParamGroupInput<H>[] = list[0] instanceof Tensor
      ? [{ params: list as Tensor[] } as unknown as ParamGroupInput<H>]
      : (list as ParamGroupInput<H>[]);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Add a group (e.g. layers unfrozen during fine-tuning); unspecified hyperparameters come from `defaults`. */
  addParamGroup(group: ParamGroupInput<H>): void {
    const name = this.#spec.name;
    const index = this.paramGroups.length;
    if (group instanceof Tensor || group === null || typeof group !== 'object' || !('params' in group)) {
      throw new TypeError(`${name}: param group ${index} must be an object with a 'params' field, got ${describe(group)}`);
    }
    const raw = group.params;
    const iterable = raw !== null && typeof raw === 'object' && Symbol.iterator in raw;
    if (!(raw instanceof Tensor) && !iterable) {
      throw new TypeError(`${name}: param group ${index}: 'params' must be a Tensor or an iterable of Tensors, got ${describe(raw)}`);
    }
    const params: Tensor[] = raw instanceof Tensor ? [raw] : [...raw];
    const seen = new Set<Tensor>();
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new TypeError(`${name}: param group ${index}: params[${i}] is not a Tensor (got ${describe(p)})`);
      if (!p.isLeaf) throw new Error(`${name}: param group ${index}: params[${i}] is not a leaf tensor (it was produced by ${p.gradFn?.name}); optimize the leaf, e.g. a Parameter`);
      // A parameter listed twice would be updated twice per step.
      if (seen.has(p)) throw new Error(`${name}: param group ${index} lists params[${i}] (${p}) more than once`);
      seen.add(p);
    });
    this.paramGroups.forEach((g, gi) => {
      const dup = g.params.findIndex((p) => seen.has(p));
      if (dup >= 0) throw new Error(`${name}: a parameter of param group ${index} is already in param group ${gi} (params[${dup}]); each parameter may belong to one group only`);
    });

    const keys = Object.keys(this.#spec.defaults);
    const { params: _omit, ...rest } = group as Record<string, unknown>;
    // Extra keys are allowed (group names, scheduler bookkeeping), but a near miss of a
    // hyperparameter name is almost certainly a typo that would silently use the default.
    checkOptionKeys(name, rest, keys, `param group ${index} key`, false);
    const merged: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rest)) merged[k] = cloneValue(v);
    for (const k of keys) {
      if (merged[k] === undefined) merged[k] = cloneValue((this.defaults as Record<string, unknown>)[k]);
    }
    this.#spec.validate(merged as H, ` (param group ${index})`);
    merged.params = params;
    this.paramGroups.push(merged as ParamGroup<H>);
  }

  /** Clear gradients: drop them (default, saves memory) or zero them in place. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (setToNone) {
          p.grad = null;
          continue;
        }
        // A grad built with createGraph is part of a graph; zeroing it in place would corrupt that graph.
        if (p.grad.gradFn) p.grad = p.grad.detach();
        const grad = p.grad;
        grad.requiresGrad = false;
        noGrad(() => grad.zero_());
      }
    }
  }

  /**
   * One optimization step over every group. The closure (optional) re-evaluates the model
   * and returns the loss; it runs with grad mode on and must be synchronous.
   */
  step<L>(closure?: () => L): L | undefined {
    let loss: L | undefined;
    if (closure) {
      loss = withGradMode(true, closure);
      if (loss !== null && typeof loss === 'object' && typeof (loss as { then?: unknown }).then === 'function') {
        throw new TypeError(`${this.#spec.name}.step: the closure returned a Promise; run it yourself, await the loss, then call step() without a closure`);
      }
    }
    noGrad(() => {
      this.paramGroups.forEach((g, i) => this.stepGroup(g, i));
    });
    return loss;
  }

  /** Update the parameters of one group (called with grad mode off). */
  protected abstract stepGroup(group: ParamGroup<H>, groupIndex: number): void;

  /**
   * Checks a loaded state entry against its parameter; the default accepts tensors of the
   * parameter's shape and numbers, which covers element-wise optimizers.
   */
  protected checkLoadedState(param: Tensor, key: string, value: Tensor | number, where: string): void {
    if (value instanceof Tensor) {
      if (!sameShape(value.shape, param.shape)) {
        throw new RangeError(`${this.#spec.name}.loadStateDict: ${where} state '${key}' has shape ${shapeStr(value.shape)} but the parameter has shape ${shapeStr(param.shape)}`);
      }
    } else if (typeof value !== 'number') {
      throw new TypeError(`${this.#spec.name}.loadStateDict: ${where} state '${key}' must be a Tensor or a number, got ${describe(value)}`);
    }
  }

  /**
   * The state and hyperparameters, torch layout. State tensors are the live buffers (as in
   * torch): serialize or clone them before stepping again if you need a snapshot.
   */
  stateDict(): OptimizerStateDict<H> {
    const state: Record<number, ParamState> = {};
    let next = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...hyper } = g as ParamGroup<H>;
      const ids: number[] = [];
      for (const p of params) {
        const st = this.state.get(p);
        if (st) state[next] = { ...st };
        ids.push(next++);
      }
      return { ...cloneValues(hyper), params: ids } as SavedParamGroup<H>;
    });
    return { state, paramGroups };
  }

  /**
   * Restore from `stateDict()` output of an optimizer built over the same parameter groups
   * (same group count and sizes, in the same order). State tensors are copied, cast to the
   * parameter's dtype, so the loaded optimizer never shares buffers with the source.
   */
  loadStateDict(sd: OptimizerStateDict<H>): void {
    const name = this.#spec.name;
    if (sd === null || typeof sd !== 'object' || !Array.isArray(sd.paramGroups) || sd.state === null || typeof sd.state !== 'object') {
      throw new TypeError(`${name}.loadStateDict: expected { state, paramGroups } as returned by stateDict(), got ${describe(sd)}`);
    }
    const saved = sd.paramGroups;
    if (saved.length !== this.paramGroups.length) {
      throw new RangeError(`${name}.loadStateDict: the state dict has ${saved.length} parameter group(s) but this optimizer has ${this.paramGroups.length}`);
    }
    const byIndex = new Map<number, { param: Tensor; where: string }>();
    saved.forEach((sg, gi) => {
      const own = this.paramGroups[gi]!;
      if (!Array.isArray(sg.params)) throw new TypeError(`${name}.loadStateDict: param group ${gi} has no 'params' index list`);
      if (sg.params.length !== own.params.length) {
        throw new RangeError(`${name}.loadStateDict: param group ${gi} has ${sg.params.length} parameter(s) in the state dict but ${own.params.length} in this optimizer`);
      }
      sg.params.forEach((idx, i) => byIndex.set(idx, { param: own.params[i]!, where: `param ${idx} (param group ${gi}, params[${i}])` }));
    });
    const keys = Object.keys(this.#spec.defaults);
    // Validate everything before mutating so a bad checkpoint leaves the optimizer untouched.
    const newGroups = saved.map((sg, gi) => {
      const { params: _ids, ...hyper } = sg as Record<string, unknown>;
      // Catches torch-style (snake_case) checkpoints, whose values would otherwise be ignored.
      checkOptionKeys(`${name}.loadStateDict`, hyper, keys, `key in loaded param group ${gi}:`, false);
      const merged: Record<string, unknown> = cloneValues(hyper);
      for (const k of keys) {
        if (merged[k] === undefined) merged[k] = cloneValue((this.paramGroups[gi] as Record<string, unknown>)[k]);
      }
      this.#spec.validate(merged as H, ` (loaded param group ${gi})`);
      merged.params = this.paramGroups[gi]!.params;
      return merged as ParamGroup<H>;
    });
    const newState = new Map<Tensor, ParamState>();
    for (const [k, entry] of Object.entries(sd.state)) {
      const target = byIndex.get(Number(k));
      if (!target) throw new RangeError(`${name}.loadStateDict: the state dict has state for param ${k}, which no param group lists`);
      const st: ParamState = {};
      for (const [key, value] of Object.entries(entry)) {
        this.checkLoadedState(target.param, key, value, target.where);
        st[key] = value instanceof Tensor ? castLike(value, target.param) : value;
      }
      newState.set(target.param, st);
    }
    this.paramGroups = newGroups;
    this.state = newState;
  }

  toString(): string {
    const lines = this.paramGroups.map((g, i) => {
      const { params, ...hyper } = g as ParamGroup<H>;
      const hp = Object.entries(hyper).map(([k, v]) => `    ${k}: ${Array.isArray(v) ? `[${v.join(', ')}]` : String(v)}`);
      return [`  param group ${i} (${params.length} params)`, ...hp].join('\n');
    });
    return `${this.#spec.name} (\n${lines.join('\n')}\n)`;
  }
}

/** A fresh contiguous copy of t, cast to param's dtype when both are floating point (as torch does). */
function castLike(t: Tensor, param: Tensor): Tensor {
  const src = t.detach();
  return t.dtype !== param.dtype && isFloating(t.dtype) && isFloating(param.dtype) ? to(src, param.dtype) : clone(src);
}

function cloneValue<V>(v: V): V {
  return (Array.isArray(v) ? v.slice() : v) as V;
}

function cloneValues<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = cloneValue(v);
  return out as T;
}

function camelCase(k: string): string {
  return k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function closest(key: string, known: readonly string[]): string | null {
  const camel = camelCase(key);
  if (camel !== key && known.includes(camel)) return camel;
  const lower = key.toLowerCase();
  const ci = known.find((k) => k.toLowerCase() === lower);
  if (ci) return ci;
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(camel, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  // Short keys are close to everything; demand a near-exact match before calling them typos.
  const limit = key.length <= 4 ? 1 : Math.max(2, Math.floor(key.length / 4));
  return best !== null && bestD <= limit ? best : null;
}

/**
 * Reject unknown keys with a suggestion. `strict` rejects every unknown key; otherwise only
 * keys that look like a misspelt hyperparameter are rejected.
 */
function checkOptionKeys(name: string, options: Record<string, unknown> | null | undefined, known: readonly string[], what: string, strict: boolean): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${name}: options must be an object, got ${describe(options)}`);
  }
  for (const k of Object.keys(options)) {
    if (known.includes(k)) continue;
    const hint = closest(k, known);
    if (hint) throw new RangeError(`${name}: unknown ${what} '${k}' (did you mean '${hint}'?)`);
    if (strict) throw new RangeError(`${name}: unknown ${what} '${k}'; valid options are ${known.map((x) => `'${x}'`).join(', ')}`);
  }
}
