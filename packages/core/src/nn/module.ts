// nn.Module: parameters, buffers and children discovered from fields, state dicts with
// strict checks, train/eval, and forward pre/post hooks.
import { noGrad } from '../autograd.js';
import { shapeStr, sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';

/** A tensor registered as a module parameter (a leaf that requires grad). */
export class Parameter extends Tensor {
  constructor(data: Tensor, requiresGrad = true) {
    const src = data.isContiguous() ? data : data.contiguous();
    super(src.storage, src.shape, src.dtype, { strides: src.strides, offset: src.offset, device: src.device });
    this.requiresGrad = requiresGrad;
  }
}

export type ForwardPreHook = (module: Module, args: unknown[]) => unknown[] | void;
/** Sees every parameter a module registers while it is installed (see withParameterRegistrationHook). */
export type ParameterRegistrationHook = (module: Module, name: string, param: Parameter) => void;

const registrationHooks: ParameterRegistrationHook[] = [];

/**
 * Run `fn` (synchronously) with `hook` called on every non-null parameter registered through
 * `registerParameter` while it runs, right after registration; nested calls run the innermost
 * hook first. A model constructed inside can be changed parameter by parameter as it is built
 * (ZeRO-3's partitioned construction keeps each rank's slice and drops the rest).
 */
export function withParameterRegistrationHook<T>(hook: ParameterRegistrationHook, fn: () => T): T {
  if (typeof hook !== 'function') throw new TypeError(`withParameterRegistrationHook: hook must be a function, got ${typeof hook}`);
  registrationHooks.push(hook);
  try {
    const out = fn();
    if (out !== null && typeof out === 'object' && typeof (out as { then?: unknown }).then === 'function') {
      throw new TypeError('withParameterRegistrationHook: fn returned a Promise; the hook only covers synchronous construction');
    }
    return out;
  } finally {
    registrationHooks.splice(registrationHooks.lastIndexOf(hook), 1);
  }
}
export type ForwardHook = (module: Module, args: unknown[], output: unknown) => unknown;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  training = true;
  #params = new Map<string, Parameter | null>();
  #buffers = new Map<string, Tensor | null>();
  #children = new Map<string, Module>();
  #preHooks: ForwardPreHook[] = [];
  #postHooks: ForwardHook[] = [];

  /** The computation; call the module through `call()` (or `forward` directly to skip hooks). */
  abstract forward(...args: unknown[]): unknown;

  /** Run forward with pre/post hooks (torch's `module(...)`). */
  call(...callArgs: Parameters<this['forward']>): ReturnType<this['forward']> {
    let args: unknown[] = callArgs;
    for (const h of this.#preHooks) {
      const r = h(this, args);
      if (r) args = r;
    }
    let out = this.forward(...args);
    for (const h of this.#postHooks) {
      const r = h(this, args, out);
      if (r !== undefined) out = r;
    }
    return out as ReturnType<this['forward']>;
  }

  registerParameter(name: string, p: Parameter | null): Parameter | null {
    this.#checkName(name);
    this.#params.set(name, p);
    if (p) for (let i = registrationHooks.length - 1; i >= 0; i--) registrationHooks[i]!(this, name, p);
    return p;
  }

  registerBuffer(name: string, t: Tensor | null): Tensor | null {
    this.#checkName(name);
    this.#buffers.set(name, t);
    return t;
  }

  registerModule<M extends Module>(name: string, m: M): M {
    this.#checkName(name);
    this.#children.set(name, m);
    return m;
  }

  #checkName(name: string): void {
    if (!name || name.includes('.')) throw new RangeError(`module attribute name ${JSON.stringify(name)} must be non-empty and contain no '.'`);
  }

  /** Parameter, buffer or child by its own (undotted) name. */
  getOwn(name: string): Parameter | Tensor | Module | null | undefined {
    if (this.#params.has(name)) return this.#params.get(name);
    if (this.#buffers.has(name)) return this.#buffers.get(name);
    return this.#children.get(name);
  }

  /** Replace a registered parameter (e.g. to tie weights). */
  setParameter(name: string, p: Parameter): void {
    if (!this.#params.has(name)) throw new RangeError(`setParameter: ${this.constructor.name} has no parameter ${JSON.stringify(name)}`);
    this.#params.set(name, p);
  }

  *namedChildren(): Generator<[string, Module]> {
    yield* this.#children;
  }

  children(): Module[] {
    return [...this.#children.values()];
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    const seen = new Set<Module>();
    const walk = function* (m: Module, p: string): Generator<[string, Module]> {
      if (seen.has(m)) return;
      seen.add(m);
      yield [p, m];
      for (const [n, c] of m.#children) yield* walk(c, p ? `${p}.${n}` : n);
    };
    yield* walk(this, prefix);
  }

  modules(): Module[] {
    return [...this.namedModules()].map(([, m]) => m);
  }

  /** Parameters with dotted names; a parameter shared by several modules is listed once. */
  *namedParameters(prefix = '', recurse = true): Generator<[string, Parameter]> {
    const seen = new Set<Tensor>();
    const mods = recurse ? this.namedModules(prefix) : [[prefix, this] as [string, Module]];
    for (const [mp, m] of mods) {
      for (const [n, p] of m.#params) {
        if (!p || seen.has(p)) continue;
        seen.add(p);
        yield [mp ? `${mp}.${n}` : n, p];
      }
    }
  }

  parameters(recurse = true): Parameter[] {
    return [...this.namedParameters('', recurse)].map(([, p]) => p);
  }

  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [mp, m] of this.namedModules(prefix)) {
      for (const [n, b] of m.#buffers) if (b) yield [mp ? `${mp}.${n}` : n, b];
    }
  }

  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, b]) => b);
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Set requiresGrad on every parameter. */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Drop (or zero) every parameter's gradient. */
  zeroGrad(setToNone = true): void {
    for (const p of this.parameters()) {
      if (!p.grad) continue;
      if (setToNone) p.grad = null;
      else noGrad(() => p.grad!.zero_());
    }
  }

  /** Parameters and buffers by dotted name (shared tensors under every name, as torch does). */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [mp, m] of this.namedModules()) {
      for (const [n, p] of m.#params) if (p) out[mp ? `${mp}.${n}` : n] = p.detach();
      for (const [n, b] of m.#buffers) if (b) out[mp ? `${mp}.${n}` : n] = b.detach();
    }
    return out;
  }

  /**
   * Copy values from `state` into this module's parameters and buffers. With strict (default)
   * any missing or unexpected key is an error; shapes must always match.
   */
  loadStateDict(state: Record<string, Tensor>, strict = true): LoadResult {
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in state));
    const unexpectedKeys = Object.keys(state).filter((k) => !(k in own));
    const mismatched: string[] = [];
    for (const [k, t] of Object.entries(state)) {
      const dst = own[k];
      if (dst && !sameShape(dst.shape, t.shape)) {
        mismatched.push(`${k}: checkpoint has shape ${shapeStr(t.shape)}, the model expects ${shapeStr(dst.shape)}`);
      }
    }
    const problems: string[] = [];
    if (mismatched.length) problems.push(`size mismatch for ${mismatched.join('; ')}`);
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}${suggest(unexpectedKeys, missingKeys)}`);
    if (problems.length) throw new Error(`loadStateDict for ${this.constructor.name}: ${problems.join('. ')}`);
    noGrad(() => {
      for (const [k, t] of Object.entries(state)) own[k]?.copy_(t);
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Register a hook run before forward; returning an array replaces the arguments. */
  registerForwardPreHook(hook: ForwardPreHook): { remove(): void } {
    this.#preHooks.push(hook);
    return { remove: () => void this.#preHooks.splice(this.#preHooks.indexOf(hook) >>> 0, 1) };
  }

  /** Register a hook run after forward; returning a value replaces the output. */
  registerForwardHook(hook: ForwardHook): { remove(): void } {
    this.#postHooks.push(hook);
    return { remove: () => void this.#postHooks.splice(this.#postHooks.indexOf(hook) >>> 0, 1) };
  }

  /** Apply fn to every module (children first, as torch's apply). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.#children.values()) c.apply(fn);
    fn(this);
    return this;
  }
}

function suggest(unexpected: string[], missing: string[]): string {
  const hints: string[] = [];
  for (const u of unexpected) {
    let best: string | null = null;
    let bestD = Infinity;
    for (const m of missing) {
      const d = editDistance(u, m);
      if (d < bestD) [best, bestD] = [m, d];
    }
    if (best && bestD <= Math.max(2, Math.floor(u.length / 5))) hints.push(`${u} -> did you mean ${best}?`);
  }
  return hints.length ? ` (${hints.join('; ')})` : '';
}

export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
