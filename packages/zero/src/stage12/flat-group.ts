// One flat group: the trainable parameters of one optimizer param group that share a reduce
// group and a dtype, packed into one flat buffer (the parameters become views into it) and
// partitioned over the reduce group. This rank keeps an fp32 master of its partition (the
// partition itself when the model is fp32) and a partition-sized fp32 gradient.
import { flattenTensors, noGrad, zeros, type DType, type Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import { planFlatLayout, roundRobinOrder, type FlatLayout, type Fragment } from './partition-layout.js';

/** A parameter as the flat group receives it. */
export interface FlatParamInput {
  /** The tensor the model computes with (16-bit under mixed precision). */
  param: Tensor;
  /** Its dotted name in the model's state dict. */
  name: string;
  /** Further state-dict names of the same tensor (tied weights). */
  aliases: string[];
  /** fp32 values to start the master from (precision's master), or null to widen `param`. */
  initial: Tensor | null;
}

export interface FlatGroupInit {
  index: number;
  optimizerGroup: number;
  group: ProcessGroup;
  inputs: readonly FlatParamInput[];
  roundRobin: boolean;
}

export class FlatGroup {
  /** Position among every flat group of the run (checkpoint order). */
  readonly index: number;
  /** The optimizer param group whose parameters these are. */
  readonly optimizerGroup: number;
  /** The group gradients are reduced and partitions gathered over. */
  readonly group: ProcessGroup;
  /** Model parameters in flat order. */
  readonly params: readonly Tensor[];
  readonly names: readonly string[];
  readonly aliases: readonly (readonly string[])[];
  readonly layout: FlatLayout;
  /** The model-dtype buffer every parameter of the group is a view into. */
  readonly flat: Tensor;
  /** This rank's slice of `flat`. */
  readonly partition: Tensor;
  /** The fp32 tensor the optimizer steps: `partition` itself for an fp32 model, else a copy. */
  readonly master: Tensor;
  /** This rank's averaged (still loss-scaled) gradient, accumulated over micro-batches. */
  readonly grad: Tensor;
  readonly dtype: DType;

  constructor(init: FlatGroupInit) {
    const { group, inputs } = init;
    this.index = init.index;
    this.optimizerGroup = init.optimizerGroup;
    this.group = group;
    const order = init.roundRobin ? roundRobinOrder(inputs.length, group.size) : inputs.map((_, i) => i);
    const ordered = order.map((i) => inputs[i]!);
    this.params = ordered.map((x) => x.param);
    this.names = ordered.map((x) => x.name);
    this.aliases = ordered.map((x) => x.aliases);
    this.dtype = this.params[0]!.dtype;
    this.layout = planFlatLayout(this.params.map((p) => p.numel), group.size);
    const pad = this.layout.padding > 0 ? [zeros([this.layout.padding], { dtype: this.dtype })] : [];
    // NOTE: rebind re-points every parameter at its slice (torch's `p.data = view`), so module
    // fields, tied references and hooks all see the flat buffer the all-gather writes into.
    this.flat = flattenTensors([...this.params, ...pad], { rebind: true }).flat;
    const ps = this.layout.partitionSize;
    this.partition = this.flat.asStrided([ps], [1], group.rank * ps);
    if (this.dtype === 'float32') {
      this.master = this.partition;
    } else {
      this.master = zeros([ps]);
      const dst = this.master.data<'float32'>();
      for (const f of this.fragments()) {
        const src = ordered[f.param]!.initial ?? this.params[f.param]!;
        const values = src.dtype === 'float32' && src.isContiguous() ? src.data<'float32'>() : src.toFloat32Array();
        dst.set(values.subarray(f.paramStart, f.paramStart + f.length), f.partStart);
      }
    }
    this.grad = zeros([ps]);
    this.master.grad = this.grad;
  }

  get rank(): number {
    return this.group.rank;
  }
  get worldSize(): number {
    return this.group.size;
  }
  /** Offset of this rank's partition in the flat buffer. */
  get partitionStart(): number {
    return this.group.rank * this.layout.partitionSize;
  }
  /** The pieces of parameters inside this rank's partition. */
  fragments(): readonly Fragment[] {
    return this.layout.partitions[this.group.rank]!.fragments;
  }

  /** Widen this rank's 16-bit partition into the master (the weights changed under it). */
  refreshMasterFromPartition(): void {
    if (this.master === this.partition) return;
    noGrad(() => this.master.copy_(this.partition));
  }
}
