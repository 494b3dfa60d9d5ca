// Elementwise ops with broadcasting and their gradients.
import { needsGrad, record } from '../autograd.js';
import { promoteTypes, type DType } from '../dtype.js';
import { BinaryOp, UnaryOp, kernels } from '../kernels/index.js';
import { broadcastShapes, broadcastStrides, numel, sameShape, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumToShape } from './reduce.js';
import { bits16, bf16Tensor, f32, wrap, describe, type TensorOrNumber } from './util.js';
import { uninitF32, uninitU16 } from '../alloc.js';

const NAMES: Record<BinaryOp, string> = {
  [BinaryOp.Add]: 'add',
  [BinaryOp.Sub]: 'sub',
  [BinaryOp.Mul]: 'mul',
  [BinaryOp.Div]: 'div',
  [BinaryOp.Pow]: 'pow',
  [BinaryOp.Max]: 'maximum',
  [BinaryOp.Min]: 'minimum',
};

function resultType(a: Tensor, b: TensorOrNumber): DType {
  if (typeof b === 'number') return a.dtype === 'int32' || a.dtype === 'int64' ? (Number.isInteger(b) ? a.dtype : 'float32') : a.dtype;
  return promoteTypes(a.dtype, b.dtype);
}

/** Forward of a binary op on float32 data, no autograd. */
export function binaryRaw(op: BinaryOp, a: Tensor, b: TensorOrNumber, what = NAMES[op]): Tensor {
  let dtype = resultType(a, b);
  // torch: `/` is true division, so integer operands give a float result
  if (op === BinaryOp.Div && (dtype === 'int32' || dtype === 'int64')) dtype = 'float32';
  if (dtype === 'bfloat16' && a.dtype === 'bfloat16') {
    const fast = binaryBf16(op, a, b, what);
    if (fast) return fast;
  }
  if (typeof b === 'number') {
    const out = uninitF32(a.numel);
    kernels().binaryScalar(op, f32(a), b, out);
    return wrap(out, a.shape, dtype);
  }
  const shape = broadcastShapes(a.shape, b.shape, what);
  const out = uninitF32(numel(shape));
  const [ad, ao, as] = operand(a, shape);
  const [bd, bo, bs] = operand(b, shape);
  kernels().binary(op, Int32Array.from(shape), ad, ao, as, bd, bo, bs, out);
  return wrap(out, shape, dtype);
}

/** bf16 op bf16 (or a number) straight on the 16-bit storage; null for a mixed-dtype pair. */
function binaryBf16(op: BinaryOp, a: Tensor, b: TensorOrNumber, what: string): Tensor | null {
  if (typeof b === 'number') {
    const out = uninitU16(a.numel);
    kernels().binaryScalarBf16(op, bits16(a), b, out);
    return bf16Tensor(out, a.shape);
  }
  if (b.dtype !== 'bfloat16') return null;
  const shape = broadcastShapes(a.shape, b.shape, what);
  const out = uninitU16(numel(shape));
  kernels().binaryBf16(op, Int32Array.from(shape), a.storage as Uint16Array, a.offset,
    Int32Array.from(broadcastStrides(a.shape, a.strides, shape)), b.storage as Uint16Array, b.offset,
    Int32Array.from(broadcastStrides(b.shape, b.strides, shape)), out);
  return bf16Tensor(out, shape);
}

function operand(t: Tensor, shape: Shape): [Float32Array, number, Int32Array] {
  if (t.dtype === 'float32') {
    return [t.storage as Float32Array, t.offset, Int32Array.from(broadcastStrides(t.shape, t.strides, shape))];
  }
  const data = f32(t);
  const strides = new Tensor(data, t.shape, 'float32').strides;
  return [data, 0, Int32Array.from(broadcastStrides(t.shape, strides, shape))];
}

function asTensorOperand(v: TensorOrNumber, what: string, arg: string): TensorOrNumber {
  if (typeof v === 'number' || v instanceof Tensor) return v;
  throw new TypeError(`${what}: ${arg} must be a Tensor or a number, got ${describe(v)}`);
}

export function add(a: Tensor, b: TensorOrNumber, alpha = 1): Tensor {
  asTensorOperand(b, 'add', 'other');
  if (alpha !== 1) b = typeof b === 'number' ? b * alpha : mul(b, alpha);
  const out = binaryRaw(BinaryOp.Add, a, b);
  if (!needsGrad(a, typeof b === 'number' ? null : b)) return out;
  const bt = typeof b === 'number' ? null : b;
  return record(out, 'AddBackward', [a, bt], (g) => [sumToShape(g, a.shape), bt ? sumToShape(g, bt.shape) : null]);
}

export function sub(a: Tensor, b: TensorOrNumber, alpha = 1): Tensor {
  asTensorOperand(b, 'sub', 'other');
  if (alpha !== 1) b = typeof b === 'number' ? b * alpha : mul(b, alpha);
  const out = binaryRaw(BinaryOp.Sub, a, b);
  if (!needsGrad(a, typeof b === 'number' ? null : b)) return out;
  const bt = typeof b === 'number' ? null : b;
  return record(out, 'SubBackward', [a, bt], (g) => [sumToShape(g, a.shape), bt ? sumToShape(neg(g), bt.shape) : null]);
}

export function mul(a: Tensor, b: TensorOrNumber): Tensor {
  asTensorOperand(b, 'mul', 'other');
  const out = binaryRaw(BinaryOp.Mul, a, b);
  if (!needsGrad(a, typeof b === 'number' ? null : b)) return out;
  if (typeof b === 'number') return record(out, 'MulBackward', [a], (g) => [mul(g, b)]);
  return record(out, 'MulBackward', [a, b], (g) => [
    a.requiresGrad ? sumToShape(mul(g, b), a.shape) : null,
    b.requiresGrad ? sumToShape(mul(g, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: TensorOrNumber): Tensor {
  asTensorOperand(b, 'div', 'other');
  const out = binaryRaw(BinaryOp.Div, a, b);
  if (!needsGrad(a, typeof b === 'number' ? null : b)) return out;
  if (typeof b === 'number') return record(out, 'DivBackward', [a], (g) => [div(g, b)]);
  return record(out, 'DivBackward', [a, b], (g) => [
    a.requiresGrad ? sumToShape(div(g, b), a.shape) : null,
    // d(a/b)/db = -a/b^2 = -out/b
    b.requiresGrad ? sumToShape(neg(div(mul(g, out), b)), b.shape) : null,
  ]);
}

export function pow(a: Tensor, exponent: TensorOrNumber): Tensor {
  asTensorOperand(exponent, 'pow', 'exponent');
  const out = binaryRaw(BinaryOp.Pow, a, exponent);
  if (!needsGrad(a, typeof exponent === 'number' ? null : exponent)) return out;
  if (typeof exponent === 'number') {
    return record(out, 'PowBackward', [a], (g) => [
      exponent === 0 ? mul(g, 0) : mul(g, mul(binaryRaw(BinaryOp.Pow, a, exponent - 1), exponent)),
    ]);
  }
  return record(out, 'PowBackward', [a, exponent], (g) => [
    a.requiresGrad ? sumToShape(mul(g, mul(exponent, binaryRaw(BinaryOp.Pow, a, sub(exponent, 1)))), a.shape) : null,
    exponent.requiresGrad ? sumToShape(mul(g, mul(out, log(a))), exponent.shape) : null,
  ]);
}

function minmax(op: BinaryOp.Max | BinaryOp.Min, a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw(op, a, b);
  if (!needsGrad(a, b)) return out;
  // Gradient goes to the selected input; ties split evenly (as torch does).
  return record(out, op === BinaryOp.Max ? 'MaximumBackward' : 'MinimumBackward', [a, b], (g) => {
    const pickA = binaryRaw(BinaryOp.Sub, binaryRaw(BinaryOp.Mul, eqMask(out, a), 1), binaryRaw(BinaryOp.Mul, eqMask(a, b), 0.5));
    const pickB = binaryRaw(BinaryOp.Sub, binaryRaw(BinaryOp.Mul, eqMask(out, b), 1), binaryRaw(BinaryOp.Mul, eqMask(a, b), 0.5));
    return [sumToShape(mul(g, pickA), a.shape), sumToShape(mul(g, pickB), b.shape)];
  });
}

function eqMask(x: Tensor, y: Tensor): Tensor {
  const shape = broadcastShapes(x.shape, y.shape, 'eq');
  const xd = f32(expandRaw(x, shape));
  const yd = f32(expandRaw(y, shape));
  const out = new Float32Array(xd.length);
  for (let i = 0; i < out.length; i++) out[i] = xd[i] === yd[i] ? 1 : 0;
  return wrap(out, shape);
}

function expandRaw(t: Tensor, shape: Shape): Tensor {
  if (sameShape(t.shape, shape)) return t;
  return t.asStrided(shape, broadcastStrides(t.shape, t.strides, shape));
}

export function maximum(a: Tensor, b: Tensor): Tensor {
  return minmax(BinaryOp.Max, a, b);
}
export function minimum(a: Tensor, b: Tensor): Tensor {
  return minmax(BinaryOp.Min, a, b);
}

function unaryRaw(op: UnaryOp, a: Tensor): Tensor {
  if (a.dtype === 'bfloat16') {
    const bits = uninitU16(a.numel);
    kernels().unaryBf16(op, bits16(a), bits);
    return bf16Tensor(bits, a.shape);
  }
  const out = uninitF32(a.numel);
  kernels().unary(op, f32(a), out);
  return wrap(out, a.shape, a.dtype === 'int32' || a.dtype === 'int64' ? 'float32' : a.dtype);
}

export function neg(a: Tensor): Tensor {
  const out = unaryRaw(UnaryOp.Neg, a);
  return needsGrad(a) ? record(out, 'NegBackward', [a], (g) => [neg(g)]) : out;
}

export function exp(a: Tensor): Tensor {
  const out = unaryRaw(UnaryOp.Exp, a);
  return needsGrad(a) ? record(out, 'ExpBackward', [a], (g) => [mul(g, out)]) : out;
}

export function log(a: Tensor): Tensor {
  const out = unaryRaw(UnaryOp.Log, a);
  return needsGrad(a) ? record(out, 'LogBackward', [a], (g) => [div(g, a)]) : out;
}

export function sqrt(a: Tensor): Tensor {
  const out = unaryRaw(UnaryOp.Sqrt, a);
  return needsGrad(a) ? record(out, 'SqrtBackward', [a], (g) => [div(g, mul(out, 2))]) : out;
}

export function rsqrt(a: Tensor): Tensor {
  const out = unaryRaw(UnaryOp.Rsqrt, a);
  // d/dx x^-1/2 = -1/2 x^-3/2 = -0.5 * out^3
  return needsGrad(a) ? record(out, 'RsqrtBackward', [a], (g) => [mul(g, mul(pow(out, 3), -0.5))]) : out;
}

export function abs(a: Tensor): Tensor {
  const out = unaryRaw(UnaryOp.Abs, a);
  return needsGrad(a) ? record(out, 'AbsBackward', [a], (g) => [mul(g, sign(a))]) : out;
}

export function sign(a: Tensor): Tensor {
  const d = f32(a);
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i]! > 0 ? 1 : d[i]! < 0 ? -1 : 0;
  return wrap(out, a.shape, a.dtype);
}

export function tanh(a: Tensor): Tensor {
  const out = unaryRaw(UnaryOp.Tanh, a);
  return needsGrad(a) ? record(out, "TanhBackward", [a], (g) => [mul(g, rsub(mul(out, out), 1))]) : out;
}

export function relu(a: Tensor): Tensor {
  const out = unaryRaw(UnaryOp.Relu, a);
  return needsGrad(a) ? record(out, 'ReluBackward', [a], (g) => [mul(g, gtZero(out))]) : out;
}

export function sigmoid(a: Tensor): Tensor {
  const out = unaryRaw(UnaryOp.Sigmoid, a);
  return needsGrad(a) ? record(out, 'SigmoidBackward', [a], (g) => [mul(g, mul(out, rsub(out, 1)))]) : out;
}

export function square(a: Tensor): Tensor {
  const out = unaryRaw(UnaryOp.Square, a);
  return needsGrad(a) ? record(out, 'SquareBackward', [a], (g) => [mul(g, mul(a, 2))]) : out;
}

/** s - a */
export function rsub(a: Tensor, s: number): Tensor {
  return add(neg(a), s);
}

function gtZero(t: Tensor): Tensor {
  const d = f32(t);
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i]! > 0 ? 1 : 0;
  return wrap(out, t.shape);
}
