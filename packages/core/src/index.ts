// @ds/core: tensors, autograd, nn, optim, safetensors and the kernels underneath.
import './methods.js';

export { Tensor, type GradFn, type TensorHook, type PostAccumulateGradHook } from './tensor.js';
export { type DType, type StorageArray, DTYPES, isFloating, bytesPerElement, promoteTypes, allocateStorage } from './dtype.js';
export { Device, type DeviceLike } from './device.js';
export { type Shape, numel, shapeStr, broadcastShapes } from './shape.js';
export { backward, noGrad, withGradMode, isGradEnabled, type BackwardOptions } from './autograd.js';
export {
  tensor, empty, zeros, ones, full, zerosLike, onesLike, arange, randn, rand, randint, fromFloat32Array,
  type TensorOptions, type RandomOptions, type NestedNumbers,
} from './creation.js';
export { Generator, defaultGenerator, manualSeed } from './random.js';
export { f32ToF16Bits, f16BitsToF32, f32ToBf16Bits, bf16BitsToF32 } from './half.js';
export { kernels, useKernels, setNumThreads, referenceKernels, type Kernels, type BlasInfo } from './kernels/index.js';
export { flatten as flattenTensors, type FlatBuffer } from './flat.js';
export * as functional from './ops/index.js';
export * as nn from './nn/index.js';
/** Levenshtein distance, for "did you mean" suggestions in error messages. */
export { editDistance } from './nn/module.js';
export * as optim from './optim/index.js';
export {
  loadSafetensors, loadSafetensorsWithMetadata, saveSafetensors, readSafetensorsHeader, SafetensorsError, SUPPORTED_DTYPES,
  type SafetensorsHeader, type SafetensorsDType, type SafetensorsTensorInfo, type LoadSafetensorsOptions, type SafetensorsContents,
} from './safetensors/index.js';
