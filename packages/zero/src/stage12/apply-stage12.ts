// ZeRO stages 1 and 2 applied to the engine's parts: flatten and partition the optimizer's
// parameters, keep fp32 masters and optimizer state for this rank's partitions only (taking
// over precision's full masters), reduce gradients onto partitions, and gather after the step.
import { isFloating, type DType, type nn, type optim, type Tensor } from '@ds/core';
import { MasterWeights, type LossScaler, type NonFiniteMode } from '@ds/precision';
import { reduceGroupOf, type EngineParts, type StrategyContext } from '@ds/strategy';
import type { ProcessGroup } from '@ds/comm';
import type { ZeroOptions } from '../options.js';
import { FlatGroup, type FlatParamInput } from './flat-group.js';
import { gradNormAcross } from './grad-norm-across.js';
import { PartitionedGradSync } from './partitioned-grad-sync.js';
import { ZeroCheckpointState } from './zero-checkpoint-state.js';
import { ZeroUpdater } from './zero-updater.js';

/** What applyStage12 set up (the parts it replaced are in `parts`). */
export interface AppliedStage12 {
  flats: FlatGroup[];
  gradSync: PartitionedGradSync;
  updater: ZeroUpdater;
  state: ZeroCheckpointState;
}

/**
 * Partition the optimizer over the data-parallel group(s) in place: stage 1 partitions the
 * optimizer state (and fp32 masters), stage 2 the gradients as well. Returns null when the
 * engine has no optimizer (nothing to partition).
 */
export function applyStage12(parts: EngineParts, ctx: StrategyContext, options: ZeroOptions & { stage: 1 | 2 }): AppliedStage12 | null {
  const optimizer = parts.optimizer;
  const stage = options.stage;
  if (!optimizer) {
    ctx.warn(`zero: stage ${stage} partitions the optimizer, but the engine has none; gradients stay replicated`);
    return null;
  }
  const masters = parts.state.get('fp32_master_weights');
  const precisionMasters = masters instanceof MasterWeights ? masters : null;
  const scaler = lossScalerOf(parts);
  const flats = buildFlatGroups(parts.model, optimizer, ctx.dataParallel, precisionMasters, options.round_robin_gradients);
  // Precision's full fp32 copies are replaced by the partitions: drop them so they can be freed.
  parts.state.delete('fp32_master_weights');

  const registration = new Map<Tensor, number>();
  parts.model.parameters().forEach((p, i) => registration.set(p, i));
  const config = ctx.config as { prescale_gradients?: boolean; gradient_predivide_factor?: number; communication_data_type?: string | null };
  const gradSync = new PartitionedGradSync(flats, (p) => registration.get(p) ?? Number.MAX_SAFE_INTEGER, {
    stage,
    bucketElements: options.reduce_bucket_size,
    reduceScatter: options.reduce_scatter,
    contiguousGradients: options.contiguous_gradients,
    overlapComm: options.overlap_comm,
    commDtype: commDtype(config.communication_data_type ?? null),
    prescale: config.prescale_gradients ?? false,
    predivide: config.gradient_predivide_factor ?? 1,
    ignoreUnusedParameters: options.ignore_unused_parameters ?? true,
  });
  const updater = new ZeroUpdater({
    parts,
    flats,
    gradSync,
    scaler,
    halfDtype: precisionMasters?.dtype ?? null,
    nonfinite: nonfiniteMode(parts, ctx),
    world: ctx.world,
    gradientClipping: ctx.gradientClipping,
    gather: { bucketElements: options.allgather_bucket_size, allgather: options.allgather_partitions },
    stage,
    log: ctx.log,
  });
  const state = new ZeroCheckpointState({
    flats,
    optimizer: () => parts.optimizer,
    stage,
    loadFromFp32Weights: options.load_from_fp32_weights ?? true,
  });
  parts.gradSync = gradSync;
  parts.updater = updater;
  parts.gradNorm = gradNormAcross(ctx.world);
  parts.checkpointOptimizer = false;
  parts.state.set('zero', state);

  const numel = flats.reduce((a, f) => a + f.layout.numel, 0);
  const mine = flats.reduce((a, f) => a + f.layout.partitionSize, 0);
  ctx.log(
    `[zero] stage ${stage}: ${numel} parameters in ${flats.length} flat group(s) over ${[...new Set(flats.map((f) => f.worldSize))].join('/')} rank(s); ` +
      `this rank keeps ${mine} fp32 elements of masters and optimizer state${stage === 2 ? ' and gradients' : ''}`,
  );
  return { flats, gradSync, updater, state };
}

function buildFlatGroups(
  model: nn.Module, optimizer: optim.Optimizer<object>, dataParallel: ProcessGroup, masters: MasterWeights | null, roundRobin: boolean,
): FlatGroup[] {
  const names = new Map<Tensor, string>();
  for (const [n, p] of model.namedParameters()) names.set(p, n);
  const byMaster = new Map(masters?.pairs.map((pair) => [pair.master as Tensor, pair]) ?? []);
  const stateNames = Object.entries(model.stateDict());
  const aliasesOf = (p: Tensor, name: string): string[] =>
    stateNames.filter(([n, t]) => n !== name && t.storage === p.storage && t.offset === p.offset && t.shape.join(',') === p.shape.join(',')).map(([n]) => n);

  const flats: FlatGroup[] = [];
  optimizer.paramGroups.forEach((group, gi) => {
    const subgroups = new Map<string, { group: ProcessGroup; inputs: FlatParamInput[] }>();
    group.params.forEach((p, i) => {
      const pair = byMaster.get(p);
      const param = pair?.half ?? p;
      if (!param.requiresGrad) return;
      const name = pair?.name ?? names.get(p) ?? `param_groups.${gi}.${i}`;
      if (optimizer.state.has(p)) {
        throw new Error(`zero: the optimizer already has state for '${name}'; apply ZeRO before the first optimizer step (it partitions the state as it creates it)`);
      }
      if (!isFloating(param.dtype)) throw new TypeError(`zero: '${name}' is ${param.dtype}; only floating-point parameters can be trained and partitioned`);
      const reduceGroup = reduceGroupOf(param, dataParallel);
      const key = `${reduceGroup.ranks.join(',')}|${param.dtype}`;
      let sub = subgroups.get(key);
      if (!sub) subgroups.set(key, (sub = { group: reduceGroup, inputs: [] }));
      sub.inputs.push({ param, name, aliases: aliasesOf(param, name), initial: pair?.master ?? null });
    });
    const made = [...subgroups.values()].map((s) => new FlatGroup({ index: flats.length, optimizerGroup: gi, group: s.group, inputs: s.inputs, roundRobin }));
    for (const f of made) flats.push(f);
    // The inner optimizer now sees only this rank's fp32 partitions: its state exists for them alone.
    group.params = made.map((f) => f.master);
  });
  return flats;
}

function lossScalerOf(parts: EngineParts): LossScaler | null {
  const s = parts.state.get('loss_scaler') as Partial<LossScaler> | undefined;
  return s && typeof s.update === 'function' && typeof s.scale === 'number' ? (s as LossScaler) : null;
}

/** bfloat16's inf/NaN policy: the precision updater's when it says, else the config's `bf16.nonfinite`. */
function nonfiniteMode(parts: EngineParts, ctx: StrategyContext): NonFiniteMode {
  const own = (parts.updater as { nonfinite?: unknown }).nonfinite;
  if (own === 'error' || own === 'skip') return own;
  const bf16 = (ctx.config as { bf16?: { nonfinite?: unknown } }).bf16;
  return bf16?.nonfinite === 'skip' ? 'skip' : 'error';
}

function commDtype(name: string | null): DType | null {
  if (name === null) return null;
  const map: Record<string, DType> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16', float32: 'float32', float16: 'float16', bfloat16: 'bfloat16' };
  const d = map[name.toLowerCase()];
  if (!d) throw new RangeError(`communication_data_type: got ${JSON.stringify(name)}; valid: "fp32", "fp16", "bf16"`);
  return d;
}
