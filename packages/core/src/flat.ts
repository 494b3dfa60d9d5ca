// Flat buffers: many tensors packed into one contiguous storage, each left as a view into
// it. ZeRO partitions the flat buffer; optimizers can run one fused kernel over it.
import { allocateStorage, type DType } from './dtype.js';
import { noGrad } from './autograd.js';
import { Tensor } from './tensor.js';

export interface FlatBuffer {
  /** The 1-D tensor holding every element. */
  flat: Tensor;
  /** Element offset of each input tensor inside `flat`. */
  offsets: number[];
  /** Views into `flat` with the inputs' shapes, in input order. */
  views: Tensor[];
}

/**
 * Pack `tensors` (all of one dtype) into one buffer. With `rebind` the inputs themselves
 * are re-pointed at their slice (torch's `p.data = view`), so parameters keep their
 * identity while living in the flat buffer. `align` pads each start to a multiple of it.
 */
export function flatten(tensors: readonly Tensor[], opts: { rebind?: boolean; align?: number; dtype?: DType } = {}): FlatBuffer {
  const dtype = opts.dtype ?? tensors[0]?.dtype ?? 'float32';
  const align = opts.align ?? 1;
  const offsets: number[] = [];
  let total = 0;
  tensors.forEach((t, i) => {
    if (t.dtype !== dtype) throw new TypeError(`flatten: tensor ${i} has dtype ${t.dtype}, expected ${dtype}`);
    offsets.push(total);
    total += Math.ceil(t.numel / align) * align;
  });
  const storage = allocateStorage(dtype, total);
  const flat = new Tensor(storage, [total], dtype);
  const views = tensors.map((t, i) => {
    const v = flat.asStrided(t.shape, new Tensor(storage, t.shape, dtype).strides, offsets[i]!);
    noGrad(() => v.copy_(t.detach()));
    if (opts.rebind) t.setData(v);
    return v;
  });
  return { flat, offsets, views };
}
