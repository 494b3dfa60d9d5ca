// ZeRO-Offload and ZeRO-Infinity building blocks: the CPU Adam, asynchronous file I/O (native
// addon or fs twin), swap buffers and files, the tensor swapper and the NVMe optimizer step.
export { cpuAdam, cpuAdamFromConfig, cpuAdamOptionsFromConfig, resolveCpuAdamOptions, CPU_ADAM_DEFAULTS } from './cpu-adam.js';
export { fileIO, useFileIO, nativeFileIO, referenceFileIO, nativeZeroAddon, nativeZeroLoadError } from './file-io.js';
export { SwapBufferPool } from './swap-buffer-pool.js';
export { SwapFile } from './swap-file.js';
export { TensorSwapper, swapPath, asFloat32 } from './tensor-swapper.js';
export { NvmeAdamState, nvmeOptimizerStep } from './nvme-adam.js';
export { NvmeOptimizer } from './nvme-optimizer.js';
export { attachNvmeStage12, attachNvmeStage3, nvmeOffloadOf, nvmePathOf, NvmeCheckpointState } from './nvme-stages.js';

// Types
export type { CpuAdamOptions, CpuAdamHyperparameters, OptimizerSection } from './cpu-adam.js';
export type { FileIO, FileTarget, OpenedFile, NativeZeroAddon } from './file-io.js';
export type { SwapBuffer, SwapBufferPoolOptions } from './swap-buffer-pool.js';
export type { SwapRegion } from './swap-file.js';
export type { TensorSwapperOptions, Resident, SwapStats } from './tensor-swapper.js';
export type { NvmeAdamArray, NvmeAdamStateOptions, NvmeStepOptions, SubGroup } from './nvme-adam.js';
export type { NvmeTarget, NvmeOptimizerOptions, NvmeOptimizerStats } from './nvme-optimizer.js';
export type { NvmeAttachOptions, OffloadStepUpdater } from './nvme-stages.js';
