// EngineParts built by hand, as the engine builds them for plain data parallelism: an updater
// that steps the optimizer, the local L2 norm, gradient sync that leaves gradients alone.
import { manualSeed, nn, optim, randn, type Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import type { EngineParts, StrategyContext } from '@ds/strategy';

export function localGradNorm(grads: readonly Tensor[]): Promise<number> {
  let sq = 0;
  for (const g of grads) for (const v of g.toFloat32Array()) sq += v * v;
  return Promise.resolve(Math.fround(Math.sqrt(sq)));
}

export function makeParts(model: nn.Module, optimizer: optim.Optimizer<object> | null): EngineParts {
  const parts: EngineParts = {
    model,
    optimizer,
    gradSync: { name: 'identity', beforeBackward() {}, finish: () => Promise.resolve(), close() {} },
    updater: {
      name: 'optimizer',
      step: () => {
        parts.optimizer!.step();
        return Promise.resolve({ applied: true, gradNorm: null });
      },
      zeroGrad: () => parts.optimizer?.zeroGrad(),
    },
    lossScale: { scale: 1 },
    gradNorm: localGradNorm,
    state: new Map(),
    checkpointOptimizer: true,
  };
  return parts;
}

export interface TestContext extends StrategyContext {
  logs: string[];
  warnings: string[];
}

export function makeContext(world: ProcessGroup, gradientClipping = 0): TestContext {
  const logs: string[] = [];
  const warnings: string[] = [];
  return {
    world,
    dataParallel: world,
    config: {},
    gradientAccumulationSteps: 1,
    gradientClipping,
    log: (m) => void logs.push(m),
    warn: (m) => void warnings.push(m),
    logs,
    warnings,
  };
}

/** One training step as the engine runs it: scaled backward, sync, update, zero grads. */
export async function trainStep(parts: EngineParts, loss: () => Tensor, inject?: () => void): Promise<{ loss: number; applied: boolean; gradNorm: number | null }> {
  const l = loss();
  const value = l.item();
  parts.gradSync.beforeBackward(true);
  const scale = parts.lossScale.scale;
  (scale !== 1 ? l.mul(scale) : l).backward();
  inject?.();
  parts.gradSync.afterBackward?.(true);
  await parts.gradSync.finish();
  const r = await parts.updater.step();
  parts.updater.zeroGrad();
  return { loss: value, ...r };
}

/** Mean squared error (the models here are small regressions). */
export function mse(prediction: Tensor, target: Tensor): Tensor {
  return prediction.sub(target).square().mean();
}

export function mlp(seed: number): nn.Sequential {
  manualSeed(seed);
  return new nn.Sequential(new nn.Linear(4, 8), new nn.GELU('tanh'), new nn.Linear(8, 2));
}

export function data(seed: number): { x: Tensor; y: Tensor } {
  manualSeed(seed);
  return { x: randn([16, 4]), y: randn([16, 2]) };
}

/** A tensor's storage elements (16-bit patterns or float32 values) as numbers. */
export const bits = (t: Tensor): number[] => Array.from(t.data() as Uint16Array | Float32Array, (v) => v);
export const f32 = (t: Tensor): number[] => Array.from(t.toFloat32Array());

/** Overwrite one element of a 16-bit gradient with raw bits (an injected inf or NaN). */
export function setHalfGrad(p: Tensor, index: number, bitsValue: number): void {
  (p.grad!.data() as Uint16Array)[index] = bitsValue;
}
