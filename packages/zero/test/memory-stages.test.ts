// Measured per-rank model-state memory against the ZeRO paper's model (modelStateBytes) and
// `ds estimate`'s per-stage breakdown, for stages 0-3 at 2, 4 and 8 in-process ranks, with fp32
// AdamW and with bf16 (fp32 masters).
//
// What is compared, measured after the backward at the accumulation boundary, before the step
// (Adam's state exists from an earlier step; every gradient has been produced and reduced):
// - parameters: the model's parameter storage (the flat 16-bit buffers at stages 1/2) plus the
//   stage-3 partitions. For an fp32 model the optimizer steps the parameters' own fp32 slices
//   (there are no masters); the report files stage 3's as "parameter copies held by the
//   optimizer", and they are counted as parameters here.
// - optimizer: fp32 masters (mixed precision) and Adam's exp_avg / exp_avg_sq.
// - gradients: the paper counts gradients in the model's dtype, full at stages 0/1 and a 1/N
//   partition at stages 2/3. ds reduces into an fp32 partition gradient (so micro-batches
//   accumulate without 16-bit rounding): at stage 1 it is held beside the full gradients, at
//   stages 2/3 it is the partition the paper counts, 4 bytes wide instead of 2 under bf16. Both
//   are asserted exactly, and the paper's figure is compared on elements at the model's width.
//   bf16 without ZeRO accumulates in fp32 too (data_types.grad_accum_dtype), in the masters'
//   gradients, and drops the bf16 ones after every backward: a full fp32 gradient, no bf16 one.
// - not compared: the stage-1/2 gradient bucket (category 'buffers', one reduce_bucket_size).
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchInProcess } from '@ds/comm';
import { estimateCommand } from '../../../apps/ds/src/estimate-command.js';
import { gpt2ParamCount, modelStateBytes, type MemoryReport } from '../src/estimate/index.js';
import { MEMORY_GPT2, type RankMeasurements } from './fixtures/memory-stages.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'memory-stages.ts');
const STAGES = [0, 1, 2, 3] as const;
const TOLERANCE = 0.03;

function entry(report: MemoryReport, what: string): number {
  return report.entries.find((e) => e.what === what)?.bytes ?? 0;
}

/** The report split the way the paper's model counts (see the header). */
function paperView(report: MemoryReport, stage: number, dtype: 'fp32' | 'bf16') {
  const width = dtype === 'fp32' ? 4 : 2;
  const fp32Copies = dtype === 'fp32' ? entry(report, 'float32 parameter copies held by the optimizer') : 0;
  const partitionGrad = entry(report, 'float32 gradients of optimizer-held copies') + entry(report, 'zero-3 fp32 partition gradients');
  const fullGrad = report.gradients - partitionGrad;
  const fp32Accum = stage === 0 && dtype === 'bf16';
  return {
    params: report.parameters + fp32Copies,
    optimizer: report.optimizer - fp32Copies,
    // bf16 at stage 0 holds fp32 gradient sums, which the model counts at 4 bytes
    gradients: fp32Accum ? partitionGrad : stage < 2 ? fullGrad : (partitionGrad / 4) * width,
    fullGrad,
    partitionGrad,
  };
}

function expectWithin(actual: number, expected: number, what: string): void {
  const rel = Math.abs(actual - expected) / expected;
  if (!(rel <= TOLERANCE)) expect.fail(`${what}: measured ${actual} bytes, model ${expected} (${(rel * 100).toFixed(2)} % off, allowed ${TOLERANCE * 100} %)`);
}

/** `ds estimate --model gpt2 ... --ranks N --json`'s per-stage model states. */
function dsEstimate(ranks: number, dtype: 'fp32' | 'bf16') {
  let out = '';
  const code = estimateCommand(
    {
      model: 'gpt2', nEmbd: MEMORY_GPT2.n_embd, nLayer: MEMORY_GPT2.n_layer, vocab: MEMORY_GPT2.vocab_size, nPositions: MEMORY_GPT2.n_positions,
      nodes: 1, ranks, dtype, optimizer: 'adamw', bufferFactor: '1.5', json: true,
    },
    { stdout: (s) => (out += s), stderr: (s) => expect.fail(`ds estimate wrote to stderr: ${s}`) },
  );
  expect(code).toBe(0);
  return JSON.parse(out) as { model: { params: number }; modelStates: { stages: { stage: number; params: number; gradients: number; optimizer: number }[] } };
}

describe.each([2, 4, 8])('model-state memory per rank at %i ranks', (n) => {
  it('matches the ZeRO paper and ds estimate for stages 0-3, fp32 and bf16', async () => {
    const ranks = await launchInProcess<RankMeasurements>({
      nprocs: n, script: FIXTURE, exportName: 'measureStages', args: { stages: [...STAGES], dtypes: ['fp32', 'bf16'] }, timeoutMs: 90_000,
    });
    const psi = ranks[0]!.psi;
    expect(psi).toBe(gpt2ParamCount(MEMORY_GPT2));
    // Every tensor splits evenly, so each rank's share is exactly psi / n.
    expect(psi % n).toBe(0);
    const share = psi / n;
    for (const dtype of ['fp32', 'bf16'] as const) {
      const width = dtype === 'fp32' ? 4 : 2;
      const estimate = dsEstimate(n, dtype);
      expect(estimate.model.params).toBe(psi);
      for (const stage of STAGES) {
        const paper = modelStateBytes({ params: psi, stage, worldSize: n, dtype, optimizer: 'adamw' });
        const cli = estimate.modelStates.stages.find((s) => s.stage === stage)!;
        expect({ params: cli.params, gradients: cli.gradients, optimizer: cli.optimizer }).toEqual({ params: paper.params, gradients: paper.gradients, optimizer: paper.optimizer });
        for (const [rank, r] of ranks.entries()) {
          const run = r.runs.find((x) => x.stage === stage && x.dtype === dtype)!;
          const at = `stage ${stage} ${dtype} rank ${rank}/${n}`;
          const m = paperView(run.report, stage, dtype);
          expectWithin(m.params, paper.params, `${at} parameters`);
          expectWithin(m.optimizer, paper.optimizer, `${at} optimizer state`);
          expectWithin(m.gradients, paper.gradients, `${at} gradients`);
          // What the paper does not model, exactly: full model-dtype gradients until reduction
          // (stages 0/1), the fp32 partition gradient (stages 1-3).
          const fp32Accum = stage === 0 && dtype === 'bf16';
          expect(m.fullGrad, `${at} full gradients`).toBe(stage < 2 && !fp32Accum ? width * psi : 0);
          expect(m.partitionGrad, `${at} fp32 partition gradient`).toBe(fp32Accum ? 4 * psi : stage === 0 ? 0 : 4 * share);
          // Stage 3 holds no whole parameter between uses (persistence threshold 0).
          if (stage === 3) expect(entry(run.report, `${dtype === 'fp32' ? 'float32' : 'bfloat16'} parameters`), `${at} resident parameters`).toBe(0);
        }
      }
    }
    // The partitioned stages really shrink what a rank holds, as the paper's model says.
    const total = (stage: number, dtype: string) => ranks[0]!.runs.find((x) => x.stage === stage && x.dtype === dtype)!.report;
    expect(total(3, 'bf16').optimizer).toBe((12 * psi) / n);
    expect(total(0, 'bf16').optimizer).toBe(12 * psi);
  });
});
