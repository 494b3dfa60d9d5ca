// Helpers shared by the optimizers: argument checks worded alike and float32 working views.
import { writeValues } from '../ops/inplace.js';
import { f32, describe } from '../ops/util.js';
import { isFloating } from '../dtype.js';
import { shapeStr, sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';

export function checkNonNegative(name: string, key: string, v: unknown, where: string): void {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${name}: ${key} must be a number, got ${describe(v)}${where}`);
  if (!(v >= 0)) throw new RangeError(`${name}: ${key} must be >= 0, got ${v}${where}`);
}

export function checkBoolean(name: string, key: string, v: unknown, where: string): void {
  if (typeof v !== 'boolean') throw new TypeError(`${name}: ${key} must be a boolean, got ${describe(v)}${where}`);
}

/** The parameter's gradient after checking it can drive an element-wise update. */
export function checkedGrad(name: string, p: Tensor, groupIndex: number, i: number): Tensor | null {
  const g = p.grad;
  if (!g) return null;
  if (!sameShape(g.shape, p.shape)) {
    throw new RangeError(`${name}: the gradient of param group ${groupIndex} params[${i}] has shape ${shapeStr(g.shape)} but the parameter has shape ${shapeStr(p.shape)}`);
  }
  if (!isFloating(g.dtype) || !isFloating(p.dtype)) {
    throw new TypeError(`${name}: param group ${groupIndex} params[${i}] must be floating point with a floating-point gradient, got ${p.dtype} with a ${g.dtype} gradient`);
  }
  return g;
}

/** A state tensor of a parameter, or a clear error when a loaded checkpoint lacks it. */
export function stateTensor(name: string, st: Record<string, Tensor | number>, key: string, groupIndex: number, i: number): Tensor {
  const t = st[key];
  if (!(t instanceof Tensor)) {
    throw new TypeError(`${name}: state '${key}' of param group ${groupIndex} params[${i}] must be a Tensor, got ${describe(t)}`);
  }
  return t;
}

/**
 * Float32 elements of `t` to update in place. Zero-copy for contiguous float32 tensors; for
 * any other layout or dtype a copy whose `commit()` writes the values back (rounding to
 * 16-bit floats where needed), so one update path serves every parameter.
 */
export interface WorkingView {
  data: Float32Array;
  commit(): void;
}

export function workingView(t: Tensor): WorkingView {
  if (t.dtype === 'float32' && t.isContiguous()) return { data: t.data<'float32'>(), commit: () => {} };
  const data = f32(t);
  return { data, commit: () => writeValues(t, data) };
}
