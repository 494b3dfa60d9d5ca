// Tensor methods where PyTorch has them, forwarding to the functional ops. Kept apart from
// tensor.ts so the class file stays about storage and autograd fields.
import { backward, installAutogradOps, type BackwardOptions } from './autograd.js';
import { onesLike } from './creation.js';
import type { DType } from './dtype.js';
import * as F from './ops/index.js';
import type { Dims, TensorOrNumber } from './ops/internal.js';
import type { Shape } from './shape.js';
import { Tensor } from './tensor.js';

declare module './tensor.js' {
  interface Tensor {
    backward(grad?: Tensor, opts?: BackwardOptions): void;
    add(other: TensorOrNumber, alpha?: number): Tensor;
    sub(other: TensorOrNumber, alpha?: number): Tensor;
    mul(other: TensorOrNumber): Tensor;
    div(other: TensorOrNumber): Tensor;
    pow(exponent: TensorOrNumber): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    abs(): Tensor;
    tanh(): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    square(): Tensor;
    matmul(other: Tensor): Tensor;
    sum(dims?: Dims, keepdim?: boolean): Tensor;
    mean(dims?: Dims, keepdim?: boolean): Tensor;
    max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
    amax(dims?: Dims, keepdim?: boolean): Tensor;
    softmax(dim?: number): Tensor;
    logSoftmax(dim?: number): Tensor;
    reshape(...shape: number[] | [Shape]): Tensor;
    view(...shape: number[] | [Shape]): Tensor;
    permute(...dims: number[] | [readonly number[]]): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    /** Transpose of a 2-D tensor. */
    readonly T: Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    split(size: number | readonly number[], dim?: number): Tensor[];
    chunk(chunks: number, dim?: number): Tensor[];
    unsqueeze(dim: number): Tensor;
    squeeze(dim?: number): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    expand(...shape: number[] | [Shape]): Tensor;
    contiguous(): Tensor;
    clone(): Tensor;
    to(dtype: DType): Tensor;
    float(): Tensor;
    half(): Tensor;
    bfloat16(): Tensor;
    maskedFill(mask: Tensor, value: number): Tensor;
    fill_(value: number): Tensor;
    zero_(): Tensor;
    copy_(src: Tensor): Tensor;
    add_(other: TensorOrNumber, alpha?: number): Tensor;
    sub_(other: TensorOrNumber, alpha?: number): Tensor;
    mul_(s: TensorOrNumber): Tensor;
    div_(s: number): Tensor;
  }
}

function shapeArgs(args: readonly unknown[]): number[] {
  return (args.length === 1 && Array.isArray(args[0]) ? args[0] : args) as number[];
}

const P = Tensor.prototype;
P.backward = function (grad, opts) {
  backward(this, grad, opts);
};
P.add = function (o, alpha) {
  return F.add(this, o, alpha);
};
P.sub = function (o, alpha) {
  return F.sub(this, o, alpha);
};
P.mul = function (o) {
  return F.mul(this, o);
};
P.div = function (o) {
  return F.div(this, o);
};
P.pow = function (e) {
  return F.pow(this, e);
};
P.neg = function () {
  return F.neg(this);
};
P.exp = function () {
  return F.exp(this);
};
P.log = function () {
  return F.log(this);
};
P.sqrt = function () {
  return F.sqrt(this);
};
P.rsqrt = function () {
  return F.rsqrt(this);
};
P.abs = function () {
  return F.abs(this);
};
P.tanh = function () {
  return F.tanh(this);
};
P.relu = function () {
  return F.relu(this);
};
P.sigmoid = function () {
  return F.sigmoid(this);
};
P.square = function () {
  return F.square(this);
};
P.matmul = function (o) {
  return F.matmul(this, o);
};
P.sum = function (dims, keepdim) {
  return F.sum(this, dims, keepdim);
};
P.mean = function (dims, keepdim) {
  return F.mean(this, dims, keepdim);
};
P.max = function (dim, keepdim) {
  return F.max(this, dim, keepdim);
};
P.amax = function (dims, keepdim) {
  return F.amax(this, dims, keepdim);
};
P.softmax = function (dim) {
  return F.softmax(this, dim);
};
P.logSoftmax = function (dim) {
  return F.logSoftmax(this, dim);
};
P.reshape = function (...shape) {
  return F.reshape(this, shapeArgs(shape));
};
P.view = function (...shape) {
  return F.view(this, shapeArgs(shape));
};
P.permute = function (...dims) {
  return F.permute(this, shapeArgs(dims));
};
P.transpose = function (a, b) {
  return F.transpose(this, a, b);
};
Object.defineProperty(P, 'T', {
  get(this: Tensor) {
    if (this.ndim !== 2) throw new RangeError(`T: expected a 2-D tensor, got ${this.ndim} dims (use transpose(dim0, dim1))`);
    return F.transpose(this, 0, 1);
  },
});
P.narrow = function (d, s, l) {
  return F.narrow(this, d, s, l);
};
P.split = function (s, d) {
  return F.split(this, s, d);
};
P.chunk = function (c, d) {
  return F.chunk(this, c, d);
};
P.unsqueeze = function (d) {
  return F.unsqueeze(this, d);
};
P.squeeze = function (d) {
  return F.squeeze(this, d);
};
P.flatten = function (s, e) {
  return F.flatten(this, s, e);
};
P.expand = function (...shape) {
  return F.expand(this, shapeArgs(shape));
};
P.contiguous = function () {
  return F.contiguous(this);
};
P.clone = function () {
  return F.clone(this);
};
P.to = function (dtype) {
  return F.to(this, dtype);
};
P.float = function () {
  return F.to(this, 'float32');
};
P.half = function () {
  return F.to(this, 'float16');
};
P.bfloat16 = function () {
  return F.to(this, 'bfloat16');
};
P.maskedFill = function (m, v) {
  return F.maskedFill(this, m, v);
};
P.fill_ = function (v) {
  return F.fill_(this, v);
};
P.zero_ = function () {
  return F.zero_(this);
};
P.copy_ = function (s) {
  return F.copy_(this, s);
};
P.add_ = function (o, alpha) {
  return F.add_(this, o, alpha);
};
P.sub_ = function (o, alpha) {
  return F.sub_(this, o, alpha);
};
P.mul_ = function (s) {
  return F.mul_(this, s);
};
P.div_ = function (s) {
  return F.div_(this, s);
};

installAutogradOps({
  add: (a, b) => F.add(a, b),
  onesLike: (t) => onesLike(t),
  clone: (t) => F.clone(t),
  accumulateInto: (dst, src) => {
    F.add_(dst, src);
  },
});
