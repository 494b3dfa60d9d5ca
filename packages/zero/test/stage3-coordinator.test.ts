// The stage-3 coordinator on a stack of Linear layers at 2 in-process ranks: DeepSpeed's pinned
// gather/release behaviour (test_zero.py TestZero3ParamPartitioningBase, max_reuse_distance 0),
// prefetching that changes only when parameters arrive, never the numbers, and the
// stage3_max_live_parameters cap.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import { LAYERS, WIDTH, tinyModel, type TinyArgs, type TinyResult } from './fixtures/stage3-tiny.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, 'fixtures', 'stage3-tiny.ts');
const LAYER_ELEMENTS = WIDTH * WIDTH + WIDTH;
const MODEL_ELEMENTS = LAYERS * LAYER_ELEMENTS;

function run(zero: TinyArgs['zero'], steps = 3): Promise<TinyResult[]> {
  return launchInProcess<TinyResult, TinyArgs>({ nprocs: 2, script: FIXTURE, exportName: 'tinyRun', args: { steps, zero }, timeoutMs: 60_000 });
}

const BASE = { param_persistence_threshold: 0, max_reuse_distance: 0 };

describe('ZeRO-3 coordinator', () => {
  it('without prefetch a layer is gathered only while it runs (released before and right after its forward)', async () => {
    const out = await run({ ...BASE, prefetch_bucket_size: 0 });
    for (const r of out) {
      for (const step of [0, 1, 2]) {
        expect(r.before[step]).toEqual(Array(LAYERS).fill('released'));
        expect(r.after[step]).toEqual(Array(LAYERS).fill('released'));
      }
      expect(r.stats.prefetches).toBe(0);
      // Forward and backward each fetch every layer's weight and bias once per step.
      expect(r.stats.fetches).toBe(3 * 2 * 2 * LAYERS);
      // Never more than one layer's parameters plus the biases waiting for their gradient.
      expect(r.stats.peakLiveElements).toBeLessThanOrEqual(LAYER_ELEMENTS + LAYERS * WIDTH);
    }
  });

  it('with prefetch (bucket = the whole model) later iterations find layers in flight or gathered, and keep them after the forward', async () => {
    const out = await run({ ...BASE, prefetch_bucket_size: MODEL_ELEMENTS });
    for (const r of out) {
      // The first iteration records the trace; nothing is prefetched yet.
      expect(r.before[0]).toEqual(Array(LAYERS).fill('released'));
      expect(r.after[0]).toEqual(Array(LAYERS).fill('released'));
      for (const step of [1, 2]) {
        for (let l = 1; l < LAYERS; l++) expect(['inflight', 'gathered']).toContain(r.before[step]![l]);
        // Their backward use was already prefetched, so they are not released (spec §2.5); the
        // last layer's backward is the very next fetch, which no prefetch claimed before it ran.
        expect(r.after[step]).toEqual([...Array(LAYERS - 1).fill('gathered'), 'released']);
      }
      expect(r.stats.prefetches).toBeGreaterThan(0);
      expect(r.stats.traceLength).toBe(2 * LAYERS + 1);
      expect(r.stats.traceInvalidations).toBe(0);
    }
  });

  it('prefetch on and off give bit-identical losses and weights', async () => {
    const off = await run({ ...BASE, prefetch_bucket_size: 0 }, 4);
    const on = await run({ ...BASE, prefetch_bucket_size: 2 * LAYER_ELEMENTS, max_reuse_distance: 1_000_000 }, 4);
    expect(on[0]!.stats.prefetches).toBeGreaterThan(0);
    expect(off[0]!.stats.prefetches).toBe(0);
    for (let r = 0; r < 2; r++) expect(on[r]!.losses).toEqual(off[r]!.losses);
    expect(on[0]!.weights).not.toBeNull();
    expect(on[0]!.weights).toEqual(off[0]!.weights);
    expect(on[1]!.weights).toBeNull();
    // Training moved the weights: two runs that never stepped would compare equal too.
    const initial = tinyModel().stateDict();
    for (const [name, values] of Object.entries(on[0]!.weights!)) {
      expect(values).toHaveLength(initial[name]!.numel);
      expect(values).not.toEqual(Array.from(initial[name]!.toFloat32Array()));
    }
  });

  it('all-reduce instead of reduce-scatter, small buckets, sub-groups and no overlap change nothing in the numbers', async () => {
    const base = await run({ ...BASE, prefetch_bucket_size: 0 });
    const variant = await run({
      ...BASE,
      prefetch_bucket_size: 0,
      reduce_scatter: false,
      reduce_bucket_size: LAYER_ELEMENTS + 1,
      sub_group_size: 2 * WIDTH,
      overlap_comm: false,
    });
    for (let r = 0; r < 2; r++) expect(variant[r]!.losses).toEqual(base[r]!.losses);
    expect(variant[0]!.weights).toEqual(base[0]!.weights);
    // One flat partition for the whole optimizer group, against sub-groups closed as soon as they
    // reach 16 elements: [w0], [b0 w1], [b1 w2], [b2 w3], [b3] (weight slices are 32, bias slices 4).
    expect(base[0]!.flats).toBe(1);
    expect(variant[0]!.flats).toBe(LAYERS + 1);
  });

  it('stage3_max_live_parameters caps what prefetch gathers ahead', async () => {
    const unlimited = await run({ ...BASE, prefetch_bucket_size: MODEL_ELEMENTS, max_reuse_distance: 1_000_000 });
    const capped = await run({ ...BASE, prefetch_bucket_size: MODEL_ELEMENTS, max_reuse_distance: 0, max_live_parameters: LAYER_ELEMENTS });
    expect(unlimited[0]!.stats.peakLiveElements).toBe(MODEL_ELEMENTS);
    // The cap bounds prefetching; a module's own fetch may still add one layer (and biases awaiting gradients).
    expect(capped[0]!.stats.peakLiveElements).toBeLessThan(MODEL_ELEMENTS);
    expect(capped[0]!.stats.peakLiveElements).toBeLessThanOrEqual(2 * LAYER_ELEMENTS + LAYERS * WIDTH);
    expect(capped[0]!.losses).toEqual(unlimited[0]!.losses);
  });
});
