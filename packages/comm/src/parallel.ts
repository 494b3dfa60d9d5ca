// buildParallelGroups: the data / tensor / pipeline / expert process groups for a parallel
// shape, created on a world group in DeepSpeed's order and mapping (PipeModelDataParallelTopology,
// tensor fastest, then data, then pipe).
import { PipeModelDataParallelTopology, PipelineParallelGrid } from './topology.js';
import type { ProcessGroup } from './types.js';

export interface ParallelShape {
  /** Pipeline stages (default 1). */
  pipe?: number;
  /** Tensor-parallel ranks (DeepSpeed's / Megatron's "model" axis; default 1). */
  tensor?: number;
  /** Data-parallel ranks (default: whatever the world leaves). */
  data?: number;
  /** Expert-parallel ranks, carved out of each data-parallel group (default 1). */
  expert?: number;
}

export interface ParallelGroups {
  topology: PipeModelDataParallelTopology;
  grid: PipelineParallelGrid;
  /** This rank's coordinates. */
  coord: { pipe: number; data: number; tensor: number };
  /** Gradient all-reduce group: same pipe stage and tensor rank. */
  data: ProcessGroup;
  /** This rank's pipeline (one rank per stage). */
  pipe: ProcessGroup;
  /** Tensor-parallel group (a singleton when tensor = 1). */
  tensor: ProcessGroup;
  /** DeepSpeed's "model parallel" group: every pipe x tensor rank of this data index (overflow / norm reductions). */
  model: ProcessGroup;
  /** Expert-parallel group: `expert` consecutive ranks of the data-parallel group (all-to-all of tokens). */
  expert: ProcessGroup;
  /** Expert-data-parallel group: the ranks holding the same experts (their gradients are reduced here). */
  expertData: ProcessGroup;
}

/** Expert-parallel and expert-data-parallel rank lists within data-parallel groups (DeepSpeed's layout). */
export function expertGroupLists(dpGroups: readonly (readonly number[])[], expert: number): { expert: number[][]; expertData: number[][] } {
  const ep: number[][] = [];
  const edp: number[][] = [];
  for (const g of dpGroups) {
    if (g.length % expert !== 0) throw new RangeError(`expert parallel size ${expert} does not divide the data-parallel size ${g.length}`);
    for (let k = 0; k < g.length / expert; k++) ep.push(g.slice(k * expert, (k + 1) * expert));
    for (let i = 0; i < expert; i++) edp.push(g.filter((_, j) => j % expert === i));
  }
  return { expert: ep, expertData: edp };
}

/**
 * Create every group of a pipe x data x tensor (x expert) layout on `world` (every member
 * must call it with the same shape). Ranks of the topology are ranks of `world`.
 */
export async function buildParallelGroups(world: ProcessGroup, shape: ParallelShape = {}): Promise<ParallelGroups> {
  const pipe = shape.pipe ?? 1;
  const tensor = shape.tensor ?? 1;
  const expert = shape.expert ?? 1;
  for (const [k, v] of Object.entries({ pipe, tensor, expert, ...(shape.data !== undefined ? { data: shape.data } : {}) })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`buildParallelGroups: ${k} must be a positive integer, got ${String(v)}`);
  }
  if (world.size % (pipe * tensor) !== 0) {
    throw new RangeError(`buildParallelGroups: pipe ${pipe} x tensor ${tensor} = ${pipe * tensor} does not divide the ${world.size} ranks of the group`);
  }
  const data = shape.data ?? world.size / (pipe * tensor);
  if (pipe * tensor * data !== world.size) {
    throw new RangeError(`buildParallelGroups: pipe ${pipe} x data ${data} x tensor ${tensor} = ${pipe * data * tensor} ranks, but the group has ${world.size}`);
  }
  if (data % expert !== 0) throw new RangeError(`buildParallelGroups: expert ${expert} must divide data ${data}`);
  const topology = new PipeModelDataParallelTopology(pipe, tensor, data);
  const grid = new PipelineParallelGrid(world.rank, world.size, topology);
  const { expert: epLists, expertData: edpLists } = expertGroupLists(grid.dpGroups, expert);

  const create = async (lists: readonly (readonly number[])[], what: string): Promise<ProcessGroup> => {
    let mine: ProcessGroup | null = null;
    for (const l of lists) {
      const g = await world.newGroup(l.map((r) => world.ranks[r]!));
      if (g) mine = g;
    }
    if (!mine) throw new Error(`buildParallelGroups: rank ${world.rank} is in no ${what} group`);
    return mine;
  };
  const dsModelLists = Array.from({ length: data }, (_, d) => [...topology.getAxisList('data', d)].sort((a, b) => a - b));
  const model = await create(dsModelLists, 'model-parallel');
  const dataGroup = await create(grid.dpGroups, 'data-parallel');
  const pipeGroup = await create(grid.pipeGroups, 'pipeline');
  const tensorGroup = await create(grid.sliceGroups, 'tensor-parallel');
  const expertGroup = await create(epLists, 'expert-parallel');
  const expertDataGroup = await create(edpLists, 'expert-data-parallel');
  const c = topology.getCoord(world.rank);
  return {
    topology,
    grid,
    coord: { pipe: c.pipe!, data: c.data!, tensor: c.model! },
    data: dataGroup,
    pipe: pipeGroup,
    tensor: tensorGroup,
    model,
    expert: expertGroup,
    expertData: expertDataGroup,
  };
}
