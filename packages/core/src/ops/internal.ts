export type { TensorOrNumber } from './util.js';
export type { Dims } from './reduce.js';
