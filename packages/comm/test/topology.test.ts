// Golden: every entry of ../shared/golden/pipe/topology.json (DeepSpeed's topology.py, exact).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  PipeDataParallelTopology, PipeModelDataParallelTopology, PipelineParallelGrid, ProcessTopology, expertGroupLists, primeFactors,
} from '../src/index.js';

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden/pipe/topology.json');
if (!existsSync(GOLDEN)) throw new Error(`golden reference data not found at ${GOLDEN}: the repository expects shared/ beside its root`);

type Coord = Record<string, number>;
interface TopoRecord {
  axes: string[];
  dims: number[];
  world_size: number;
  coords: Coord[];
  get_rank: { coord: Coord; rank: number }[];
  axis_comm_lists: Record<string, number[][]>;
  axis_lists: Record<string, number[][]>;
  filter_match: { filter: Coord; ranks: number[] }[];
  rank_repr_default: string[];
  rank_repr_omit_none: string[];
}
interface GridRank {
  rank: number;
  stage_id: number;
  data_parallel_id: number;
  pipe_parallel_size: number;
  data_parallel_size: number;
  model_parallel_size: number;
  slice_parallel_rank: number;
  is_first_stage: boolean;
  is_last_stage: boolean;
  dp_group: number[];
  pp_group: number[];
  slice_group: number[];
  ds_model_rank: number;
  ds_model_world_size: number;
  stage_to_global: number[];
}
interface Golden {
  topologies: {
    ProcessTopology: { args: { axes: string[]; dims: number[] }; record: TopoRecord }[];
    PipeDataParallelTopology: { args: { num_pp: number; num_dp: number }; record: TopoRecord }[];
    PipeModelDataParallelTopology: { args: { num_pp: number; num_mp: number; num_dp: number }; record: TopoRecord }[];
    PipelineParallelGrid: {
      topology: { class: string; num_pp: number; num_mp: number; num_dp: number } | null;
      grid: {
        world_size: number;
        common: { topology_axes: string[]; topology_dims: number[]; p2p_groups: number[][]; dp_groups: number[][]; pipe_groups: number[][] };
        per_rank: GridRank[];
      };
    }[];
  };
}
const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Golden;

function checkRecord(topo: ProcessTopology, rec: TopoRecord): void {
  expect(topo.axes).toEqual(rec.axes);
  expect(topo.dims).toEqual(rec.dims);
  expect(topo.worldSize()).toBe(rec.world_size);
  expect(Array.from({ length: rec.world_size }, (_, r) => topo.getCoord(r))).toEqual(rec.coords);
  for (const { coord, rank } of rec.get_rank) expect(topo.getRank(coord)).toBe(rank);
  for (const [axis, lists] of Object.entries(rec.axis_comm_lists)) expect(topo.getAxisCommLists(axis), axis).toEqual(lists);
  for (const [axis, lists] of Object.entries(rec.axis_lists)) {
    expect(lists.map((_, idx) => topo.getAxisList(axis, idx)), axis).toEqual(lists);
  }
  for (const { filter, ranks } of rec.filter_match) expect(topo.filterMatch(filter), JSON.stringify(filter)).toEqual(ranks);
  expect(Array.from({ length: rec.world_size }, (_, r) => topo.getRankRepr(r))).toEqual(rec.rank_repr_default);
  expect(Array.from({ length: rec.world_size }, (_, r) => topo.getRankRepr(r, { omitAxes: [] }))).toEqual(rec.rank_repr_omit_none);
}

describe('topology golden (DeepSpeed topology.py)', () => {
  const t = golden.topologies;
  for (const c of t.ProcessTopology) {
    it(`ProcessTopology(${c.args.axes.join(',')} / ${c.args.dims.join('x')})`, () => checkRecord(new ProcessTopology(c.args.axes, c.args.dims), c.record));
  }
  for (const c of t.PipeDataParallelTopology) {
    it(`PipeDataParallelTopology(pp=${c.args.num_pp}, dp=${c.args.num_dp})`, () => checkRecord(new PipeDataParallelTopology(c.args.num_pp, c.args.num_dp), c.record));
  }
  for (const c of t.PipeModelDataParallelTopology) {
    const { num_pp, num_mp, num_dp } = c.args;
    it(`PipeModelDataParallelTopology(pp=${num_pp}, mp=${num_mp}, dp=${num_dp})`, () => checkRecord(new PipeModelDataParallelTopology(num_pp, num_mp, num_dp), c.record));
  }
  for (const c of t.PipelineParallelGrid) {
    const label = c.topology ? `pp=${c.topology.num_pp}, mp=${c.topology.num_mp}, dp=${c.topology.num_dp}` : `default, world ${c.grid.world_size}`;
    it(`PipelineParallelGrid(${label})`, () => {
      const topo = c.topology ? new PipeModelDataParallelTopology(c.topology.num_pp, c.topology.num_mp, c.topology.num_dp) : null;
      for (const want of c.grid.per_rank) {
        const g = new PipelineParallelGrid(want.rank, c.grid.world_size, topo);
        expect(g.topology.axes).toEqual(c.grid.common.topology_axes);
        expect(g.topology.dims).toEqual(c.grid.common.topology_dims);
        expect(g.p2pGroups).toEqual(c.grid.common.p2p_groups);
        expect(g.dpGroups).toEqual(c.grid.common.dp_groups);
        expect(g.pipeGroups).toEqual(c.grid.common.pipe_groups);
        const got: GridRank = {
          rank: g.globalRank,
          stage_id: g.stageId,
          data_parallel_id: g.dataParallelId,
          pipe_parallel_size: g.pipeParallelSize,
          data_parallel_size: g.dataParallelSize,
          model_parallel_size: g.modelParallelSize,
          slice_parallel_rank: g.sliceParallelRank,
          is_first_stage: g.isFirstStage,
          is_last_stage: g.isLastStage,
          dp_group: g.dpGroup,
          pp_group: g.ppGroup,
          slice_group: g.sliceGroup,
          ds_model_rank: g.dsModelRank,
          ds_model_world_size: g.dsModelWorldSize,
          stage_to_global: Array.from({ length: g.pipeParallelSize }, (_, s) => g.stageToGlobal(s)),
        };
        expect(got, `rank ${want.rank}`).toEqual(want);
      }
    });
  }
});

describe('topology helpers', () => {
  it('spec example pipe=2,data=2,model=2', () => {
    const t = new PipeModelDataParallelTopology(2, 2, 2);
    expect(t.getAxisCommLists('pipe')).toEqual([[0, 4], [1, 5], [2, 6], [3, 7]]);
    expect(t.getAxisCommLists('data')).toEqual([[0, 2], [1, 3], [4, 6], [5, 7]]);
    expect(t.getAxisCommLists('model')).toEqual([[0, 1], [2, 3], [4, 5], [6, 7]]);
    expect(t.getDim('expert')).toBe(0);
  });
  it('prime-factor default split (8 -> pp 4, dp 2; 12 -> pp 6, dp 2)', () => {
    expect(primeFactors(12)).toEqual([2, 2, 3]);
    expect(new PipelineParallelGrid(0, 8).topology.dims).toEqual([4, 2]);
    expect(new PipelineParallelGrid(0, 12).topology.dims).toEqual([6, 2]);
  });
  it('errors name what is wrong', () => {
    const t = new ProcessTopology(['a', 'b'], [2, 3]);
    expect(() => t.getRank({ a: 1 })).toThrow(/slices/);
    expect(() => t.getRank({ a: 2, b: 0 })).toThrow(/a=2 is out of range/);
    expect(() => new PipelineParallelGrid(0, 6, new PipeDataParallelTopology(2, 2))).toThrow(/4 ranks .* world has 6/);
  });
  it('expert groups carve the data-parallel groups', () => {
    expect(expertGroupLists([[0, 1, 2, 3]], 2)).toEqual({ expert: [[0, 1], [2, 3]], expertData: [[0, 2], [1, 3]] });
  });
});
