// Named-axis process topologies, exactly as deepspeed.runtime.pipe.topology: ranks enumerate
// the Cartesian product of the axes in row-major order (last axis fastest).
//   PipeDataParallelTopology(pp, dp)            axes [pipe, data]          rank = pipe*dp + data
//   PipeModelDataParallelTopology(pp, mp, dp)   axes [pipe, data, model]   rank = (pipe*dp + data)*mp + model
// PipelineParallelGrid reproduces the per-rank groups DeepSpeed's grid builds (rank lists);
// buildParallelGroups creates the matching ProcessGroups on a world group.

export type Coord = Record<string, number>;

export class ProcessTopology {
  readonly axes: readonly string[];
  readonly dims: readonly number[];
  readonly #strides: number[];

  constructor(axes: readonly string[], dims: readonly number[]) {
    if (axes.length !== dims.length) throw new RangeError(`ProcessTopology: ${axes.length} axes but ${dims.length} dims`);
    if (new Set(axes).size !== axes.length) throw new RangeError(`ProcessTopology: duplicate axis in ${JSON.stringify(axes)}`);
    for (const d of dims) if (!Number.isInteger(d) || d < 1) throw new RangeError(`ProcessTopology: dims must be positive integers, got ${JSON.stringify(dims)}`);
    this.axes = [...axes];
    this.dims = [...dims];
    this.#strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  }

  worldSize(): number {
    return this.dims.reduce((a, b) => a * b, 1);
  }
  getAxisNames(): string[] {
    return [...this.axes];
  }
  /** Size of an axis (0 when the topology has no such axis, as DeepSpeed). */
  getDim(axis: string): number {
    const i = this.axes.indexOf(axis);
    return i < 0 ? 0 : this.dims[i]!;
  }

  /** The rank at a full coordinate (every axis named). */
  getRank(coord: Coord): number {
    const keys = Object.keys(coord);
    if (keys.length !== this.axes.length) throw new RangeError('getRank() does not support slices. Use filterMatch()');
    let rank = 0;
    this.axes.forEach((a, i) => {
      const v = coord[a];
      if (v === undefined) throw new RangeError(`getRank: missing axis '${a}' in ${JSON.stringify(coord)}`);
      if (!Number.isInteger(v) || v < 0 || v >= this.dims[i]!) throw new RangeError(`getRank: ${a}=${v} is out of range [0, ${this.dims[i]})`);
      rank += v * this.#strides[i]!;
    });
    return rank;
  }

  getCoord(rank: number): Coord {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.worldSize()) throw new RangeError(`getCoord: rank ${rank} not found in topology of ${this.worldSize()} ranks`);
    const c: Coord = {};
    this.axes.forEach((a, i) => {
      c[a] = Math.floor(rank / this.#strides[i]!) % this.dims[i]!;
    });
    return c;
  }

  /** e.g. "model_01" (omitted axes skipped; indices zero-padded to 2 digits). */
  getRankRepr(rank: number, opts: { omitAxes?: readonly string[]; innerSep?: string; outerSep?: string } = {}): string {
    const omit = new Set(opts.omitAxes ?? ['data', 'pipe']);
    const coord = this.getCoord(rank);
    return this.axes
      .filter((a) => !omit.has(a))
      .map((a) => `${a}${opts.innerSep ?? '_'}${String(coord[a]).padStart(2, '0')}`)
      .join(opts.outerSep ?? '-');
  }

  /** Ranks whose coordinate on `axis` is `idx`, in rank order. */
  getAxisList(axis: string, idx: number): number[] {
    return this.filterMatch({ [axis]: idx });
  }

  /** Ranks matching every given coordinate, in rank order. */
  filterMatch(filter: Coord): number[] {
    const out: number[] = [];
    for (let r = 0; r < this.worldSize(); r++) {
      const c = this.getCoord(r);
      if (Object.entries(filter).every(([k, v]) => c[k] === v)) out.push(r);
    }
    return out;
  }

  /**
   * One list per combination of the other axes (row-major), each ordered by `axis`: the
   * groups that communicate along `axis`. An unknown axis gives [].
   */
  getAxisCommLists(axis: string): number[][] {
    const ai = this.axes.indexOf(axis);
    if (ai < 0) return [];
    const others = this.axes.map((_, i) => i).filter((i) => i !== ai);
    const lists: number[][] = [];
    const total = others.reduce((a, i) => a * this.dims[i]!, 1);
    for (let k = 0; k < total; k++) {
      let rem = k;
      let base = 0;
      for (let j = others.length - 1; j >= 0; j--) {
        const i = others[j]!;
        base += (rem % this.dims[i]!) * this.#strides[i]!;
        rem = Math.floor(rem / this.dims[i]!);
      }
      lists.push(Array.from({ length: this.dims[ai]! }, (_, v) => base + v * this.#strides[ai]!));
    }
    return lists;
  }
}

export class PipeDataParallelTopology extends ProcessTopology {
  constructor(numPp: number, numDp: number) {
    super(['pipe', 'data'], [numPp, numDp]);
  }
}

export class PipeModelDataParallelTopology extends ProcessTopology {
  constructor(numPp: number, numMp: number, numDp: number) {
    super(['pipe', 'data', 'model'], [numPp, numDp, numMp]);
  }
}

/** Prime factors in ascending order (DeepSpeed's _prime_factors). */
export function primeFactors(n: number): number[] {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError('Values must be strictly positive.');
  const out: number[] = [];
  for (let p = 2; n > 1; ) {
    if (n % p === 0) {
      out.push(p);
      n /= p;
    } else p++;
  }
  return out;
}

/**
 * DeepSpeed's PipelineParallelGrid for one global rank, as rank lists (no communication).
 * Without a topology the world is split into pipe x data from its prime factors (alternately).
 */
export class PipelineParallelGrid {
  readonly topology: ProcessTopology;
  readonly globalRank: number;
  readonly worldSize: number;
  readonly dataParallelSize: number;
  readonly pipeParallelSize: number;
  readonly modelParallelSize: number;
  readonly sliceParallelSize: number;
  readonly stageId: number;
  readonly dataParallelId: number;
  /** DeepSpeed's "model parallel" group: every pipe x model rank of this data index. */
  readonly dsModelGroup: number[];
  readonly dsModelRank: number;
  readonly dsModelWorldSize: number;
  readonly dpGroups: number[][];
  readonly dpGroup: number[];
  readonly pipeGroups: number[][];
  readonly ppGroup: number[];
  readonly sliceGroups: number[][];
  readonly sliceGroup: number[];
  readonly p2pGroups: number[][];
  readonly isFirstStage: boolean;
  readonly isLastStage: boolean;

  constructor(globalRank: number, worldSize: number, topology?: ProcessTopology | null) {
    this.globalRank = globalRank;
    this.worldSize = worldSize;
    if (topology) this.topology = topology;
    else {
      let pp = 1;
      let dp = 1;
      primeFactors(worldSize).forEach((p, i) => {
        if (i % 2 === 0) pp *= p;
        else dp *= p;
      });
      this.topology = new PipeDataParallelTopology(pp, dp);
    }
    const topo = this.topology;
    if (topo.worldSize() !== worldSize) {
      throw new RangeError(`PipelineParallelGrid: the topology has ${topo.worldSize()} ranks (${topo.axes.map((a, i) => `${a}=${topo.dims[i]}`).join(', ')}) but the world has ${worldSize}`);
    }
    this.dataParallelSize = Math.max(topo.getDim('data'), 1);
    this.pipeParallelSize = Math.max(topo.getDim('pipe'), 1);
    this.modelParallelSize = Math.max(topo.getDim('model'), 1);
    this.sliceParallelSize = this.modelParallelSize;
    const coord = topo.getCoord(globalRank);
    this.stageId = coord.pipe ?? 0;
    this.dataParallelId = coord.data ?? 0;

    this.dsModelGroup = [];
    this.dsModelRank = -1;
    this.dsModelWorldSize = 0;
    for (let dp = 0; dp < this.dataParallelSize; dp++) {
      const ranks = [...topo.getAxisList('data', dp)].sort((a, b) => a - b);
      if (ranks.includes(globalRank)) {
        this.dsModelGroup = ranks;
        this.dsModelWorldSize = ranks.length;
        this.dsModelRank = ranks.indexOf(globalRank);
      }
    }
    this.dpGroups = topo.getAxisCommLists('data');
    this.dpGroup = this.dpGroups.find((g) => g.includes(globalRank)) ?? [];
    this.isFirstStage = this.stageId === 0;
    this.isLastStage = this.stageId === this.pipeParallelSize - 1;
    this.pipeGroups = topo.getAxisCommLists('pipe');
    this.ppGroup = this.pipeGroups.find((g) => g.includes(globalRank)) ?? [];
    this.p2pGroups = this.#p2p();
    this.sliceGroups = this.modelParallelSize === 1 ? Array.from({ length: worldSize }, (_, r) => [r]) : topo.getAxisCommLists('model');
    this.sliceGroup = this.sliceGroups.find((g) => g.includes(globalRank)) ?? [globalRank];
  }

  #p2p(): number[][] {
    const lists = this.topology.getAxisCommLists('pipe');
    const out: number[][] = [];
    for (let r = 0; r < this.worldSize; r++) {
      const l = lists.find((x) => x.includes(r));
      if (!l) continue;
      out.push([r, l[(l.indexOf(r) + 1) % this.pipeParallelSize]!]);
    }
    return out;
  }

  /** The global rank of `stageId` with this rank's other coordinates (optionally overridden). */
  stageToGlobal(stageId: number, overrides: Coord = {}): number {
    return this.topology.getRank({ ...this.topology.getCoord(this.globalRank), pipe: stageId, ...overrides });
  }

  get sliceParallelRank(): number {
    return this.topology.axes.includes('model') ? this.topology.getCoord(this.globalRank).model! : 0;
  }
}
