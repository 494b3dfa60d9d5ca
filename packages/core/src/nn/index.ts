export { Module, Parameter, withParameterRegistrationHook, type ForwardHook, type ForwardPreHook, type LoadResult, type ParameterRegistrationHook } from './module.js';
export { Linear, Embedding, LayerNorm, Dropout, GELU, Sequential, ModuleList, type InitOptions } from './layers.js';
export { clipGradNorm_ } from './clip.js';
