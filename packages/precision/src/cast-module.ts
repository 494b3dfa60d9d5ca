// Casting a model to float16 / bfloat16 in place, as torch's `module.half()` does: each
// parameter (and floating-point buffer) keeps its identity, so module fields, tied weights,
// registered hooks and metadata all follow, and only the storage and dtype change.
import { isFloating, noGrad, type DType, type nn, type Tensor } from '@ds/core';

/**
 * Give `t` a new storage of `dtype` holding its values rounded to nearest even; its gradient is
 * dropped (it had the old dtype). No-op when `t` already has `dtype`.
 */
export function castTensorInPlace(t: Tensor, dtype: DType): void {
  if (t.dtype === dtype) return;
  if (!isFloating(t.dtype) || !isFloating(dtype)) {
    throw new TypeError(`castTensorInPlace: only floating-point tensors are cast, got ${t.dtype} -> ${dtype}`);
  }
  const cast = noGrad(() => t.detach().to(dtype).contiguous());
  // Replacing the Parameter instead would leave every module field and hook pointing at the
  // float32 original; setData keeps the tensor and swaps its storage (and drops its grad).
  t.setData(cast, { changeDtype: true });
}

/**
 * Cast every floating-point parameter and buffer of `model` (tied ones once) to `dtype`, in
 * place; returns the parameters in `namedParameters` order with their dotted names.
 */
export function castModule(model: nn.Module, dtype: 'float16' | 'bfloat16'): Map<Tensor, string> {
  const names = new Map<Tensor, string>();
  for (const [name, p] of model.namedParameters()) {
    names.set(p, name);
    if (isFloating(p.dtype)) castTensorInPlace(p, dtype);
  }
  const seen = new Set<Tensor>();
  for (const [, b] of model.namedBuffers()) {
    if (seen.has(b)) continue;
    seen.add(b);
    if (isFloating(b.dtype)) castTensorInPlace(b, dtype);
  }
  return names;
}
