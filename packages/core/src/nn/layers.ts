// Standard layers, initialised as torch.nn initialises them.
import { ones, rand, randn, zeros } from '../creation.js';
import type { DType } from '../dtype.js';
import { dropout, embedding, gelu, layerNorm, linear, type GeluApproximate } from '../ops/nn.js';
import { defaultGenerator, type Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import { Module, Parameter } from './module.js';

export interface InitOptions {
  dtype?: DType;
  generator?: Generator;
}

function uniform(shape: number[], bound: number, opts: InitOptions): Tensor {
  // U(-bound, bound)
  return rand(shape, { generator: opts.generator ?? defaultGenerator }).mul(2 * bound).sub(bound).to(opts.dtype ?? 'float32');
}

/** y = x W^T + b with W [outFeatures, inFeatures]. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: InitOptions & { bias?: boolean } = {}) {
    super();
    const bound = 1 / Math.sqrt(Math.max(inFeatures, 1));
    this.weight = this.registerParameter('weight', new Parameter(uniform([outFeatures, inFeatures], bound, opts)))!;
    this.bias = this.registerParameter('bias', opts.bias === false ? null : new Parameter(uniform([outFeatures], bound, opts)));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export class Embedding extends Module {
  readonly weight: Parameter;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: InitOptions = {}) {
    super();
    const w = randn([numEmbeddings, embeddingDim], { generator: opts.generator }).to(opts.dtype ?? 'float32');
    this.weight = this.registerParameter('weight', new Parameter(w))!;
  }

  forward(ids: Tensor): Tensor {
    return embedding(ids, this.weight);
  }
}

export class LayerNorm extends Module {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly normalizedShape: number[];

  constructor(normalizedShape: number | number[], readonly eps = 1e-5, opts: { elementwiseAffine?: boolean; bias?: boolean; dtype?: DType } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    const affine = opts.elementwiseAffine ?? true;
    const dtype = opts.dtype ?? 'float32';
    this.weight = this.registerParameter('weight', affine ? new Parameter(ones(this.normalizedShape, { dtype })) : null);
    this.bias = this.registerParameter('bias', affine && opts.bias !== false ? new Parameter(zeros(this.normalizedShape, { dtype })) : null);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5, readonly generator: Generator = defaultGenerator) {
    super();
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Dropout: p must be in [0, 1], got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }
}

export class GELU extends Module {
  constructor(readonly approximate: GeluApproximate = 'none') {
    super();
  }

  forward(x: Tensor): Tensor {
    return gelu(x, this.approximate);
  }
}

/** Children applied in order. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  forward(x: Tensor): Tensor {
    let out: unknown = x;
    for (const m of this.layers) out = m.call(out);
    return out as Tensor;
  }
}

/** A list of modules registered under "0", "1", ... (no forward of its own). */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  readonly #items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(m: M): this {
    this.registerModule(String(this.#items.length), m);
    this.#items.push(m);
    return this;
  }

  get length(): number {
    return this.#items.length;
  }

  at(i: number): M {
    const m = this.#items.at(i);
    if (!m) throw new RangeError(`ModuleList index ${i} is out of range for length ${this.#items.length}`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.#items[Symbol.iterator]();
  }

  forward(): never {
    throw new Error('ModuleList has no forward; iterate over it and call the modules');
  }
}
