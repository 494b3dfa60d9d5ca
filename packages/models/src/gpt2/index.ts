export { GPT2LMHeadModel, GPT2Model, GPT2Block, GPT2Attention, GPT2MLP, Conv1D } from './model.js';
export { type GPT2Config, GPT2_DEFAULTS, resolveConfig } from './config.js';
export { fromPretrained, savePretrained } from './pretrained.js';
export { generate, type GenerateOptions } from './generate.js';
