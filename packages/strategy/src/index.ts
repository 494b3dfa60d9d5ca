export type {
  Checkpointable,
  EngineParts,
  GradientSync,
  LossScale,
  StateValue,
  StepResult,
  Strategy,
  StrategyContext,
  Updater,
} from './types.js';
export { reduceGroupOf, setReduceGroup, trainableParams } from './params.js';
