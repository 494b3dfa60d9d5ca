// The functional namespace: torch.nn.functional names in camelCase plus the tensor ops.
export { add, sub, mul, div, pow, neg, exp, log, sqrt, rsqrt, abs, sign, tanh, relu, sigmoid, square, maximum, minimum } from './elementwise.js';
export { sum, mean, max, amax, sumToShape, type Dims } from './reduce.js';
export { matmul, addmm } from './matmul.js';
export {
  reshape, view, permute, transpose, narrow, split, chunk, cat, stack, unsqueeze, squeeze, flatten, expand, contiguous, clone, to,
} from './view.js';
export {
  softmax, logSoftmax, layerNorm, gelu, embedding, crossEntropy, scaledDotProductAttention, dropout, linear, where, maskedFill,
  type GeluApproximate, type CrossEntropyOptions, type AttentionOptions,
} from './nn.js';
export { linearCrossEntropy, type LinearCrossEntropyOptions } from './linear-cross-entropy.js';
export { fill_, zero_, copy_, add_, sub_, mul_, div_, writeElements } from './inplace.js';
