// In-place updates for optimizers, gradient buffers and initialisation. They bypass
// autograd, so they refuse to run on a tensor that requires grad while grad mode is on.
import { isGradEnabled } from '../autograd.js';
import { storageFromNumbers } from '../creation.js';
import type { StorageArray } from '../dtype.js';
import { BinaryOp, kernels } from '../kernels/index.js';
import { broadcastShapes, broadcastStrides, sameShape, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';
import { contiguous, expand } from './view.js';
import { f32 } from './util.js';

function guard(t: Tensor, what: string): void {
  if (t.requiresGrad && isGradEnabled()) {
    throw new Error(`${what}: a tensor that requires grad is being modified in place; wrap the update in noGrad(() => ...)`);
  }
}

/** Write float32 values (row-major for t's shape) into t's storage, honouring its strides and dtype. */
export function writeValues(t: Tensor, values: Float32Array): void {
  if (t.dtype === 'float32' && t.isContiguous()) {
    t.data<'float32'>().set(values);
    return;
  }
  writeElements(t, t.dtype === 'float32' ? values : storageFromNumbers(t.dtype, values));
}

/** Write raw elements of t's storage type (row-major for t's shape) into t, honouring its strides. */
export function writeElements(t: Tensor, elements: StorageArray): void {
  if (t.isContiguous()) {
    (t.data() as Float32Array).set(elements as Float32Array);
    return;
  }
  const shape = t.shape;
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  const dst = t.storage as unknown as { [i: number]: number | bigint };
  const src = elements as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < elements.length; i++) {
    let o = t.offset;
    for (let d = 0; d < nd; d++) o += idx[d]! * t.strides[d]!;
    dst[o] = src[i]!;
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

export function fill_(t: Tensor, value: number): Tensor {
  guard(t, 'fill_');
  if (t.isContiguous() && t.dtype === 'float32') t.data<'float32'>().fill(value);
  else writeValues(t, new Float32Array(t.numel).fill(value));
  return t;
}

export function zero_(t: Tensor): Tensor {
  return fill_(t, 0);
}

/** Copy `src` (broadcastable to t) into t. */
export function copy_(t: Tensor, src: Tensor): Tensor {
  guard(t, 'copy_');
  if (!sameShape(broadcastShapes(t.shape, src.shape, 'copy_'), t.shape)) {
    throw new RangeError(`copy_: source of shape ${shapeStr(src.shape)} cannot be broadcast to ${shapeStr(t.shape)}`);
  }
  if (t.dtype === src.dtype && t.isContiguous() && src.isContiguous() && sameShape(t.shape, src.shape)) {
    (t.data() as Float32Array).set(src.data() as Float32Array);
    return t;
  }
  const s = sameShape(t.shape, src.shape) ? src : contiguous(expand(src.detach(), t.shape));
  if (t.dtype === s.dtype) {
    writeElements(t, s.data());
    return t;
  }
  writeValues(t, f32(s));
  return t;
}

/** t += alpha * other (other broadcastable to t). */
export function add_(t: Tensor, other: Tensor | number, alpha = 1): Tensor {
  guard(t, 'add_');
  if (typeof other === 'number') {
    const v = f32(t);
    const out = new Float32Array(v.length);
    kernels().binaryScalar(0, v, other * alpha, out);
    writeValues(t, out);
    return t;
  }
  if (t.dtype === 'float32' && t.isContiguous() && other.dtype === 'float32' && sameShape(t.shape, other.shape)) {
    kernels().axpy(alpha, f32(other), t.data<'float32'>());
    return t;
  }
  // bf16 gradient accumulation: t + other rounded once, what axpy with alpha 1 gives in float32.
  if (alpha === 1 && t.dtype === 'bfloat16' && other.dtype === 'bfloat16' && t.isContiguous() && other.storage !== t.storage) {
    const bits = t.data<'bfloat16'>();
    kernels().binaryBf16(BinaryOp.Add, Int32Array.from(t.shape), bits, 0, Int32Array.from(t.strides), other.storage as Uint16Array,
      other.offset, Int32Array.from(broadcastStrides(other.shape, other.strides, t.shape)), bits);
    return t;
  }
  const o = sameShape(t.shape, other.shape) ? other : contiguous(expand(other.detach(), t.shape));
  const v = f32(t).slice();
  kernels().axpy(alpha, f32(o), v);
  writeValues(t, v);
  return t;
}

export function sub_(t: Tensor, other: Tensor | number, alpha = 1): Tensor {
  return add_(t, other, -alpha);
}

/** t *= s (a number or a broadcastable tensor). */
export function mul_(t: Tensor, s: Tensor | number): Tensor {
  guard(t, 'mul_');
  if (typeof s === 'number') {
    if (t.dtype === 'float32' && t.isContiguous()) kernels().scale(t.data<'float32'>(), s);
    else if (t.dtype === 'bfloat16' && t.isContiguous()) {
      // binaryScalar's Mul applies s exactly as scale does; the product is rounded once.
      const bits = t.data<'bfloat16'>();
      kernels().binaryScalarBf16(BinaryOp.Mul, bits, s, bits);
    } else {
      const v = f32(t).slice();
      kernels().scale(v, s);
      writeValues(t, v);
    }
    return t;
  }
  const o = f32(sameShape(t.shape, s.shape) ? s : contiguous(expand(s.detach(), t.shape)));
  const out = f32(t).slice();
  for (let i = 0; i < out.length; i++) out[i]! *= o[i]!;
  writeValues(t, out);
  return t;
}

export function div_(t: Tensor, s: number): Tensor {
  return mul_(t, 1 / s);
}
