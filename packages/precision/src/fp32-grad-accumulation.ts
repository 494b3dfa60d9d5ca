// fp32 gradient accumulation across micro-batches (DeepSpeed's BF16_Optimizer, and
// `data_types.grad_accum_dtype: "fp32"`). bfloat16 keeps 8 significant bits: summed in the
// parameters' `.grad`, every micro-batch's contribution is rounded to the running total's
// precision and small ones vanish. Here each micro-batch's 16-bit gradient is added into its
// master's fp32 gradient right after backward and dropped; gradient synchronisation reduces the
// fp32 sums at the boundary, and the updater steps on them without a round trip through 16 bits.
import { setGradHolder, type GradientSync } from '@ds/strategy';
import type { MasterWeights } from './master-weights.js';

/** Wraps a gradient sync so that gradients accumulate in the fp32 masters' `.grad`. */
export class Fp32GradAccumulation implements GradientSync {
  readonly name: string;
  readonly #inner: GradientSync;
  readonly #masters: MasterWeights;
  #holding = false;

  constructor(inner: GradientSync, masters: MasterWeights) {
    this.#inner = inner;
    this.#masters = masters;
    this.name = `${inner.name} of fp32-accumulated gradients`;
  }

  beforeBackward(boundary: boolean): void {
    this.#hold();
    this.#inner.beforeBackward(boundary);
  }

  afterBackward(boundary: boolean): void {
    this.#masters.foldGrads();
    this.#inner.afterBackward?.(boundary);
  }

  async finish(): Promise<void> {
    this.#hold();
    // Normally a no-op: a caller that skipped afterBackward still gets the last micro-batch in.
    this.#masters.foldGrads();
    await this.#inner.finish();
  }

  close(): void {
    this.#inner.close();
  }

  // Declared at the first backward, not when the strategy is applied: a strategy applied later
  // that replaces gradient synchronisation (ZeRO, which takes the masters over) then never
  // sees parameters pointing at masters it dropped, and accumulates as it does itself.
  #hold(): void {
    if (this.#holding) return;
    this.#holding = true;
    for (const { half, master } of this.#masters.pairs) setGradHolder(half, master);
  }
}
