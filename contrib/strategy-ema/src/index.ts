// ds-strategy-ema: keeps an exponential moving average of the trainable weights, updated
// after every applied optimizer step (skipped fp16 steps leave it alone), and saved and
// restored with the engine's checkpoints. It depends only on the strategy contract.
import { noGrad, type Tensor } from '@ds/core';
import { trainableParams, type EngineParts, type StateValue, type Strategy } from '@ds/strategy';

export interface EmaOptions {
  /** ema = decay * ema + (1 - decay) * weight, after every applied step. */
  decay: number;
}

export interface EmaStrategy extends Strategy {
  /** The averaged weights, in the order of the model's trainable parameters. */
  readonly averages: readonly Tensor[];
  /** Copy the averages into the model (e.g. before evaluation); returns a function that restores the live weights. */
  swapIn(): () => void;
}

export function ema(opts: EmaOptions): EmaStrategy {
  if (!(opts.decay >= 0 && opts.decay < 1)) throw new RangeError(`ema: decay must be in [0, 1), got ${opts.decay}`);
  let params: Tensor[] = [];
  let averages: Tensor[] = [];
  return {
    name: 'ema',
    get averages() {
      return averages;
    },
    apply(parts: EngineParts) {
      params = trainableParams(parts.model.parameters());
      averages = params.map((p) => p.detach().to('float32').clone());
      const inner = parts.updater;
      parts.updater = {
        name: `${inner.name} + ema`,
        async step() {
          const result = await inner.step();
          if (result.applied) {
            noGrad(() => params.forEach((p, i) => averages[i]!.mul_(opts.decay).add_(p.to('float32'), 1 - opts.decay)));
          }
          return result;
        },
        zeroGrad: () => inner.zeroGrad(),
      };
      parts.state.set('ema', {
        stateDict: (): StateValue => ({ decay: opts.decay, averages }),
        loadStateDict(state: StateValue) {
          const s = state as { averages?: Tensor[] } | null;
          if (!s?.averages || s.averages.length !== averages.length) throw new Error(`ema: the checkpoint holds ${s?.averages?.length ?? 0} averages, the model has ${averages.length} trainable parameters`);
          noGrad(() => s.averages!.forEach((t, i) => averages[i]!.copy_(t)));
        },
      });
    },
    swapIn() {
      const live = params.map((p) => p.detach().clone());
      noGrad(() => params.forEach((p, i) => p.copy_(averages[i]!)));
      return () => noGrad(() => params.forEach((p, i) => p.copy_(live[i]!)));
    },
  };
}
