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
export { gradHolderOf, reduceGroupOf, setGradHolder, setReduceGroup, trainableParams } from './params.js';
