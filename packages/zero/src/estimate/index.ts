// Memory estimators: DeepSpeed's ZeRO-2/3 model-state estimators and tables, the ZeRO paper's
// per-rank breakdown, parameter counts of a model or a GPT-2 config, and the measured report.
export {
  estimateZero2ModelStatesMemNeeds, estimateZero3ModelStatesMemNeeds, zero2Rows, zero3Rows,
  formatZero2Estimate, formatZero3Estimate, pyFixed2,
} from './deepspeed-estimators.js';
export { modelStateBytes, OPTIMIZER_KINDS, MODEL_DTYPES } from './model-states.js';
export { moduleParamCounts, gpt2ParamCount, gpt2LargestLayerParams, gpt2ParamCounts, GPT2_PRESETS } from './param-count.js';
export { memoryReport, registerMemory, MEMORY_CATEGORIES } from './memory-report.js';

// Types
export type {
  HardwareOptions, Zero2EstimateOptions, Zero3EstimateOptions, MemoryNeeds, Zero3MemoryNeeds, Zero2Row, Zero3Row,
} from './deepspeed-estimators.js';
export type { ModelDType, OptimizerKind, ModelStateOptions, ModelStateBytes } from './model-states.js';
export type { ParamCounts, GPT2Shape } from './param-count.js';
export type { MemoryCategory, MemoryReportInput, MemoryReport, MemoryReportEntry } from './memory-report.js';
