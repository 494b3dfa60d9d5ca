// Define-by-run autograd: ops record a GradFn on their output while grad mode is on;
// backward() walks the recorded graph in reverse topological order.
import type { DType } from './dtype.js';
import { Tensor, type GradFn } from './tensor.js';
import { shapeStr, sameShape } from './shape.js';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run `fn` without recording the graph (torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Run `fn` with grad mode set as given (torch.set_grad_enabled as a scope). */
export function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Whether an op over `inputs` must record a GradFn. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/** Attach `gradFn` to `out` (marking it as requiring grad) and return it. */
export function record(out: Tensor, name: string, inputs: readonly (Tensor | null)[], backward: GradFn['backward']): Tensor {
  out.requiresGrad = true;
  out.gradFn = { name, inputs: inputs.map((t) => (t && t.requiresGrad ? t : null)), backward };
  return out;
}

export interface BackwardOptions {
  /** Keep the graph (and its saved tensors) so backward can run through it again. */
  retainGraph?: boolean;
}

/** Adds two gradients; the `add` op is injected by ops/ to keep this file free of kernels. */
const notLoaded = (): never => {
  throw new Error('autograd used before ops were loaded');
};
let addGrads: (a: Tensor, b: Tensor) => Tensor = notLoaded;
let onesLike: (t: Tensor) => Tensor = notLoaded;
let cloneTensor: (t: Tensor) => Tensor = notLoaded;
let accumulateInto: (dst: Tensor, src: Tensor) => void = notLoaded;

let castGrad: ((t: Tensor, dtype: DType) => Tensor) | null = null;

/** @internal ops/ installs its dtype cast so gradients match their input's dtype (as torch's engine does). */
export function installGradCast(cast: (t: Tensor, dtype: DType) => Tensor): void {
  castGrad = cast;
}

/** @internal wiring from ops/ (avoids an import cycle). */
export function installAutogradOps(ops: {
  add: (a: Tensor, b: Tensor) => Tensor;
  onesLike: (t: Tensor) => Tensor;
  clone: (t: Tensor) => Tensor;
  accumulateInto: (dst: Tensor, src: Tensor) => void;
}): void {
  addGrads = ops.add;
  onesLike = ops.onesLike;
  cloneTensor = ops.clone;
  accumulateInto = ops.accumulateInto;
}

/**
 * Backpropagate from `root`. `grad` defaults to 1 for a one-element root. Gradients of
 * leaves are accumulated into `.grad` (tensor hooks run first, post-accumulate hooks after).
 */
export function backward(root: Tensor, grad?: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new Error('backward: the tensor does not require grad and has no grad_fn (was it computed under noGrad, or from tensors without requiresGrad?)');
  }
  if (!grad) {
    if (root.numel !== 1) {
      throw new Error(`backward: grad can be implicitly created only for scalar outputs; this output has shape ${shapeStr(root.shape)}`);
    }
    grad = onesLike(root);
  } else if (!sameShape(grad.shape, root.shape)) {
    throw new RangeError(`backward: grad has shape ${shapeStr(grad.shape)} but the output has shape ${shapeStr(root.shape)}`);
  }

  // Reverse post-order of an iterative DFS over tensors (leaves and intermediates).
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const child = inputs[i];
      if (child && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }

  const grads = new Map<Tensor, Tensor>([[root, grad]]);
  // Storages already handed out as some leaf's `.grad` (or owned by the caller): a second
  // leaf receiving the same storage must get a copy. Weak, so a gradient its owner drops during
  // backward (ZeRO frees each one once reduced) is not kept alive until backward returns.
  const adopted = new WeakSet<object>([grad.storage]);
  withGradMode(false, () => {
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k]!;
      let g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (t.hooks) {
        for (const hook of t.hooks) {
          const r = hook(g);
          if (r) g = r;
        }
      }
      const fn = t.gradFn;
      if (!fn) {
        if (t.grad) accumulateInto(t.grad, g);
        else if (adopted.has(g.storage) || !ownsStorage(g)) t.grad = cloneTensor(g);
        else {
          adopted.add(g.storage);
          t.grad = g;
        }
        if (t.postAccumulateHooks) for (const hook of t.postAccumulateHooks) hook(t);
        continue;
      }
      if (t.retainsGrad) t.grad = t.grad ? addGrads(t.grad, g) : cloneTensor(g);
      const inputGrads = fn.backward(g);
      for (let i = 0; i < fn.inputs.length; i++) {
        const input = fn.inputs[i];
        let ig = inputGrads[i];
        if (!input || !ig) continue;
        // a float16 input of a float32 op gets a float16 gradient (torch casts in validate_outputs)
        if (ig.dtype !== input.dtype && castGrad) ig = castGrad(ig, input.dtype);
        if (!sameShape(ig.shape, input.shape)) {
          throw new Error(`backward of ${fn.name}: gradient for input ${i} has shape ${shapeStr(ig.shape)}, expected ${shapeStr(input.shape)}`);
        }
        const prev = grads.get(input);
        grads.set(input, prev ? addGrads(prev, ig) : ig);
      }
      if (!opts.retainGraph) t.gradFn = releasedGradFn(fn);
    }
  });
}

// A freshly computed gradient that fills its whole storage can become `.grad` without a copy.
function ownsStorage(g: Tensor): boolean {
  return g.offset === 0 && g.isContiguous() && g.storage.length === g.numel;
}

function releasedGradFn(fn: GradFn): GradFn {
  // Only the name: capturing `fn` would keep its saved tensors (the activations) alive for as
  // long as anything holds the output.
  const name = fn.name;
  return {
    name,
    inputs: [],
    backward() {
      throw new Error(
        `backward through ${name} a second time: its saved tensors were freed after the first backward; pass { retainGraph: true } to the first call`,
      );
    },
  };
}
