export { Module, Parameter, type ForwardHook, type ForwardPreHook, type LoadResult } from './module.js';
export { Linear, Embedding, LayerNorm, Dropout, GELU, Sequential, ModuleList, type InitOptions } from './layers.js';
export { clipGradNorm_ } from './clip.js';
