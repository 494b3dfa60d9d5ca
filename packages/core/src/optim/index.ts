// torch.optim equivalents: the Optimizer base class, SGD, Adam and AdamW, plus DeepSpeed's Lion.
export {
  Optimizer,
  type ParamGroup,
  type ParamGroupInput,
  type ParamState,
  type SavedParamGroup,
  type OptimizerStateDict,
  type OptimizerSpec,
} from './optimizer.js';
export { SGD, type SGDHyperparameters, type SGDOptions, type SGDParamGroup } from './sgd.js';
export { Adam, AdamW, type AdamHyperparameters, type AdamOptions, type AdamParamGroup } from './adam.js';
export { Lion, type LionHyperparameters, type LionOptions, type LionParamGroup } from './lion.js';
