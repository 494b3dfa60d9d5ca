// @ds/precision: fp16 / bf16 mixed precision for ds — loss scalers, fp32 master weights, the
// fused unscale / cast kernels, overflow agreement across ranks, and the strategy itself.
export { precision, applyPrecision } from './precision.js';
export { precisionFromConfig, precisionFromConfig as strategyFromConfig, parsePrecisionConfig, precisionOptionsFrom } from './config.js';
export { DynamicLossScaler, LossScaleAtMinimumError } from './dynamic-loss-scaler.js';
export { StaticLossScaler } from './static-loss-scaler.js';
export { MixedPrecisionUpdater, NonFiniteGradientError } from './mixed-precision-updater.js';
export { MasterWeights } from './master-weights.js';
export { Fp32GradAccumulation } from './fp32-grad-accumulation.js';
export { overflowAcross } from './overflow-across.js';
export { castModule, castTensorInPlace } from './cast-module.js';
export { unscaleToMaster } from './kernels/unscale.js';
export { masterToHalf } from './kernels/master-to-half.js';
export { precisionKernels, usePrecisionKernels } from './kernels/binding.js';

// Types
export type { PrecisionOptions, AppliedPrecision } from './precision.js';
export type { PrecisionConfig } from './config.js';
export type { DynamicLossScalerOptions } from './dynamic-loss-scaler.js';
export type { LossScaler } from './loss-scaler.js';
export type { MixedPrecisionUpdaterInit, NonFiniteMode } from './mixed-precision-updater.js';
export type { MasterPair } from './master-weights.js';
export type { UnscaleOptions } from './kernels/unscale.js';
export type { GradAccumDType, GradDType, HalfDType, PrecisionKernels } from './kernels/types.js';
