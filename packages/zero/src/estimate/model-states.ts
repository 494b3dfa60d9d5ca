// Per-rank model-state memory from the ZeRO paper (Rajbhandari et al. 2020, section 3): Psi
// parameters trained with mixed precision keep 2 Psi bytes of 16-bit parameters, 2 Psi of
// 16-bit gradients and K Psi of optimizer state (Adam: fp32 master weights, exp_avg and
// exp_avg_sq, K = 12); in fp32 the parameters and gradients take 4 Psi each and Adam's state
// 8 Psi. Gradients are counted in the dtype they are held in: bf16 without ZeRO accumulates them
// in fp32 (4 Psi), as DeepSpeed does. Stage 1 partitions the optimizer state over the N data-parallel ranks, stage 2 the
// gradients too, stage 3 the parameters too.

export type ModelDType = 'fp32' | 'fp16' | 'bf16';
export type OptimizerKind = 'adam' | 'adamw' | 'sgd' | 'sgd-momentum' | 'lion' | 'adagrad';

export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ['adam', 'adamw', 'sgd', 'sgd-momentum', 'lion', 'adagrad'];
export const MODEL_DTYPES: readonly ModelDType[] = ['fp32', 'fp16', 'bf16'];

export interface ModelStateOptions {
  /** Psi: trainable parameters (shared ones once). */
  params: number;
  /** ZeRO stage 0-3 (0: plain data parallelism, everything replicated). */
  stage: 0 | 1 | 2 | 3;
  /** N: data-parallel ranks the partitions are spread over. */
  worldSize: number;
  /** The dtype the model trains in: fp16 / bf16 mean mixed precision with fp32 masters. */
  dtype: ModelDType;
  /** Default 'adam'. */
  optimizer?: OptimizerKind;
  /**
   * The dtype gradients are held in (data_types.grad_accum_dtype). Default, as DeepSpeed: fp32
   * for bf16 without ZeRO (stage 0), whose bf16 gradients are folded into fp32 sums after every
   * backward and then dropped; the model dtype otherwise.
   */
  gradAccumDtype?: ModelDType;
}

export interface ModelStateBytes {
  /** Bytes per rank of each part, after partitioning. */
  params: number;
  gradients: number;
  optimizer: number;
  total: number;
  /** Bytes per parameter before partitioning (the paper's 2 / 2 / K). */
  bytesPerParam: { params: number; gradients: number; optimizer: number };
  /** What each part holds, e.g. optimizer: ['fp32 master weights', 'fp32 exp_avg', 'fp32 exp_avg_sq']. */
  holds: { params: string; gradients: string; optimizer: string[] };
  /** Which parts are split over the ranks at this stage. */
  partitioned: { params: boolean; gradients: boolean; optimizer: boolean };
  /** Elements of a partitioned part each rank owns: ceil(params / worldSize). */
  partitionElements: number;
}

function optimizerState(kind: OptimizerKind): string[] {
  switch (kind) {
    case 'adam':
    case 'adamw':
      return ['exp_avg', 'exp_avg_sq'];
    case 'sgd-momentum':
      return ['momentum_buffer'];
    case 'lion':
      return ['exp_avg'];
    case 'adagrad':
      return ['sum'];
    case 'sgd':
      return [];
  }
}

/** Model-state bytes per rank for a ZeRO stage (the ZeRO paper's memory model). */
export function modelStateBytes(opts: ModelStateOptions): ModelStateBytes {
  const fn = 'modelStateBytes';
  const { params, stage, worldSize, dtype } = opts;
  const optimizer = opts.optimizer ?? 'adam';
  if (!Number.isSafeInteger(params) || params < 0) throw new RangeError(`${fn}: params must be a non-negative integer, got ${params}`);
  if (![0, 1, 2, 3].includes(stage)) throw new RangeError(`${fn}: stage must be 0, 1, 2 or 3, got ${JSON.stringify(stage)}`);
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`${fn}: worldSize must be an integer >= 1, got ${worldSize}`);
  if (!MODEL_DTYPES.includes(dtype)) throw new RangeError(`${fn}: dtype must be one of ${MODEL_DTYPES.map((d) => `'${d}'`).join(', ')}, got ${JSON.stringify(dtype)}`);
  if (!OPTIMIZER_KINDS.includes(optimizer)) {
    throw new RangeError(`${fn}: optimizer must be one of ${OPTIMIZER_KINDS.map((d) => `'${d}'`).join(', ')}, got ${JSON.stringify(optimizer)}`);
  }
  const gradDtype = opts.gradAccumDtype ?? (dtype === 'bf16' && stage === 0 ? 'fp32' : dtype);
  if (!MODEL_DTYPES.includes(gradDtype)) {
    throw new RangeError(`${fn}: gradAccumDtype must be one of ${MODEL_DTYPES.map((d) => `'${d}'`).join(', ')}, got ${JSON.stringify(gradDtype)}`);
  }
  const mixed = dtype !== 'fp32';
  const width = mixed ? 2 : 4;
  const state = optimizerState(optimizer).map((s) => `fp32 ${s}`);
  const holdsOptimizer = mixed ? ['fp32 master weights', ...state] : state;
  const perParam = { params: width, gradients: gradDtype === 'fp32' ? 4 : 2, optimizer: 4 * holdsOptimizer.length };
  const partitioned = { params: stage >= 3, gradients: stage >= 2, optimizer: stage >= 1 };
  const partitionElements = Math.ceil(params / worldSize);
  const bytes = (part: keyof typeof perParam) => perParam[part] * (partitioned[part] ? partitionElements : params);
  const out = { params: bytes('params'), gradients: bytes('gradients'), optimizer: bytes('optimizer') };
  return {
    ...out,
    total: out.params + out.gradients + out.optimizer,
    bytesPerParam: perParam,
    holds: {
      params: `${dtype} parameters`,
      gradients: gradDtype === dtype ? `${dtype} gradients` : `${gradDtype} gradients (${dtype} ones accumulated in ${gradDtype})`,
      optimizer: holdsOptimizer,
    },
    partitioned,
    partitionElements,
  };
}
