// zeroInit builds a model already partitioned: no rank ever holds more than its partitions plus
// the one parameter being created, the slices are exactly those of the normally built model,
// and it trains like it. withGatheredParameters gives whole weights and re-partitions a modifier
// rank's edits (partitions and fp32 masters); gatherFullStateDict assembles the model on rank 0.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { launchInProcess, LaunchError } from '@ds/comm';
import { GPT2LMHeadModel } from '@ds/models';
import { CONFIG, type ConstructionResult, type GatheredResult, type TrainResult } from './fixtures/stage3-init.js';
import { runProcesses } from './fixtures/stage3-processes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, 'fixtures', 'stage3-init.ts');

function launch<R>(n: number, exportName: string, args: unknown = {}): Promise<R[]> {
  return launchInProcess<R, unknown>({ nprocs: n, script: FIXTURE, exportName, args, timeoutMs: 60_000 });
}

/** The normally built model's parameters by name, flattened. */
function reference(): Record<string, Float32Array> {
  const model = new GPT2LMHeadModel(CONFIG, { seed: 0 });
  return Object.fromEntries([...model.namedParameters()].map(([n, p]) => [n, p.toFloat32Array()]));
}

describe('zeroInit', () => {
  for (const n of [2, 4]) {
    it(`builds GPT-2 on ${n} ranks holding at most its partitions plus one parameter, with the normal model's slices`, async () => {
      const out = await launch<ConstructionResult>(n, 'construct');
      const ref = reference();
      for (const r of out) {
        expect(r.peakElements).toBeLessThanOrEqual(r.partitionElements + r.largestParam);
        expect(r.peakElements).toBeLessThan(r.modelElements);
        expect(r.residentElements).toBe(0);
        // Ψ/W per rank, plus less than one element of padding per parameter.
        expect(r.partitionElements).toBeGreaterThanOrEqual(r.modelElements / n);
        expect(r.partitionElements).toBeLessThan(r.modelElements / n + Object.keys(r.partitions).length);
      }
      for (const [name, full] of Object.entries(ref)) {
        const ps = Math.ceil(full.length / n);
        expect(out[0]!.shapes[name]!.reduce((a, b) => a * b, 1)).toBe(full.length);
        const joined = out.flatMap((r) => r.partitions[name]!);
        expect(joined).toHaveLength(ps * n);
        // The slices in rank order are the parameter (scaled in place after registration for
        // wte / wpe), then zero padding.
        expect(joined.slice(0, full.length)).toEqual(Array.from(full));
        expect(joined.slice(full.length).every((v) => v === 0)).toBe(true);
      }
    });
  }

  it('rejects ranks that construct different initial values, naming the parameter', async () => {
    const err = await launch(2, 'construct', { seedPerRank: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect(String((err as Error).message)).toMatch(/rank 1 of the group constructed different initial values for 'transformer\.wte\.weight'/);
  });

  it('trains exactly like the normally built model under stage 3; a modifier-rank edit reaches partitions and masters', async () => {
    const out = await launch<TrainResult>(2, 'train');
    for (const r of out) {
      expect(r.mode).toBe('partitioned');
      expect(r.residentElements).toBe(0);
      expect(r.partitioned).toEqual(r.normal);
      expect(r.masterAfterEdit).toEqual(Array(32).fill(0.25));
      expect(r.lossAfterEdit).toBe(r.baselineLossAfterEdit);
    }
  });

  it('zeroInit over 2 processes (gloo): stays partitioned and trains exactly like the normally built model', async () => {
    const out = await runProcesses<TrainResult>(FIXTURE, 2, 'DS_ZERO3_INIT_SCENARIO', {});
    for (const r of out) {
      expect(r.mode).toBe('partitioned');
      expect(r.residentElements).toBe(0);
      expect(r.partitioned).toEqual(r.normal);
      expect(r.masterAfterEdit).toEqual(Array(32).fill(0.25));
      expect(r.lossAfterEdit).toBe(r.baselineLossAfterEdit);
    }
  });
});

describe('withGatheredParameters and gatherFullStateDict', () => {
  it('gives whole weights, keeps a modifier rank’s edits and discards the others’', async () => {
    const out = await launch<GatheredResult>(2, 'gathered');
    const ref = reference();
    for (const [rank, r] of out.entries()) {
      expect(r.wteShapeInside).toEqual([256, 64]);
      expect(r.wteShapeAfter).toEqual([0]);
      expect(r.wte).toEqual(Array.from(ref['transformer.wte.weight']!));
      expect(r.lnAfterModify).toEqual(Array(64).fill(7));
      expect(r.lnAfterDiscard).toEqual(Array(64).fill(7));
      expect(r.lnPartition).toEqual(Array(32).fill(7));
      if (rank === 0) {
        const full = r.full!;
        expect(Object.keys(full).sort()).toEqual(Object.keys(new GPT2LMHeadModel(CONFIG, { seed: 0 }).stateDict()).sort());
        for (const [name, values] of Object.entries(ref)) {
          if (name === 'transformer.ln_f.weight') expect(full[name]).toEqual(Array(64).fill(7));
          else expect(full[name], name).toEqual(Array.from(values));
        }
      } else {
        expect(r.full).toBeNull();
      }
    }
  });
});
