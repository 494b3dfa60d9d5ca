// DeepSpeed's elastic batch sizing (spec §1.10): pick a global batch that many GPU counts can
// share exactly, then the micro batch for this world size. v0.1 counts GPUs, v0.2 whole nodes.
import type { ConfigIssue } from './errors.js';
import type { ElasticityConfig } from './sections/elasticity.js';

/** The 38 smallest highly composite numbers (enough for batches up to 720,720 × base). */
const HCN = [
  1, 2, 4, 6, 12, 24, 36, 48, 60, 120, 180, 240, 360, 720, 840, 1260, 1680, 2520, 5040, 7560, 10080, 15120, 20160, 25200, 27720, 45360,
  50400, 55440, 83160, 110880, 166320, 221760, 277200, 332640, 498960, 554400, 665280, 720720,
];

export interface ElasticBatch {
  trainBatchSize: number;
  /** Data-parallel world sizes this batch divides exactly (v0.2: multiples of the per-node DP size). */
  validWorldSizes: number[];
  microBatchSize: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** Each base scaled by the largest highly composite number that keeps it <= maxBatch. */
function candidateBatchSizes(bases: number[], maxBatch: number): number[] {
  const out = new Set<number>();
  for (const base of bases) {
    let size = base;
    for (const h of HCN) {
      if (base * h > maxBatch) break;
      size = base * h;
    }
    out.add(size);
  }
  return [...out];
}

/** GPU counts in [minGpus, maxGpus] that split `batch` into whole micro batches. */
export function validGpuCounts(batch: number, micro: number[], minGpus: number, maxGpus: number): number[] {
  const valid = new Set<number>();
  for (const m of micro) {
    if (batch % m !== 0) continue;
    const most = batch / m;
    if (most >= minGpus && most <= maxGpus) valid.add(most);
    for (let i = 1; i <= Math.floor(most / 2); i++) if (most % i === 0 && i >= minGpus && i <= maxGpus) valid.add(i);
  }
  return [...valid].sort((a, b) => a - b);
}

/** Algorithm v0.1: the candidate batch with the most valid GPU counts (ties → larger batch if preferred). */
export function compatibleGpusV01(micro: number[], maxBatch: number, minGpus: number, maxGpus: number, preferLarger: boolean): { batch: number; valid: number[] } {
  const lcm = micro.reduce((a, b) => (a / gcd(a, b)) * b);
  let best = Math.min(...micro);
  let bestValid: number[] = [];
  for (const batch of candidateBatchSizes([...micro, lcm], maxBatch)) {
    const valid = validGpuCounts(batch, micro, minGpus, maxGpus);
    if (valid.length > bestValid.length || (valid.length === bestValid.length && (preferLarger ? batch > best : batch < best))) {
      best = batch;
      bestValid = valid;
    }
  }
  return { batch: best, valid: bestValid };
}

/** Algorithm v0.2: v0.1 over nodes, scaled by the data-parallel ranks per node. */
function compatibleGpusV02(c: ElasticityConfig, dpWorldSize: number): { batch: number; valid: number[] } {
  const dpPerNode = c.num_gpus_per_node / c.model_parallel_size;
  const v01 = compatibleGpusV01(
    c.micro_batch_sizes,
    Math.floor(c.max_train_batch_size / dpPerNode),
    Math.floor(c.min_gpus / c.num_gpus_per_node),
    Math.floor(c.max_gpus / c.num_gpus_per_node),
    c.prefer_larger_batch,
  );
  const valid = v01.valid.map((n) => n * dpPerNode);
  if (valid.includes(dpWorldSize)) return { batch: v01.batch * dpPerNode, valid };
  // This world size is not one the node-level batch serves: size the batch for it alone.
  const candidates = c.micro_batch_sizes.map((m) => Math.floor(c.max_train_batch_size / (m * dpWorldSize)) * m * dpWorldSize);
  return { batch: c.prefer_larger_batch ? Math.max(...candidates) : Math.min(...candidates), valid: [dpWorldSize] };
}

/** The elastic batch for `worldSize` data-parallel ranks, or the issues that prevent one. */
export function computeElasticBatch(c: ElasticityConfig, worldSize: number): { ok: true; batch: ElasticBatch } | { ok: false; issues: ConfigIssue[] } {
  const fail = (path: string, message: string) => ({ ok: false as const, issues: [{ path: `elasticity.${path}`, message }] });
  const tooBig = c.micro_batch_sizes.filter((m) => m > c.max_train_batch_size);
  if (tooBig.length > 0) return fail('micro_batch_sizes', `${JSON.stringify(tooBig)} exceed max_train_batch_size ${c.max_train_batch_size}; every micro batch must be <= it`);
  if (c.max_gpus < c.min_gpus) return fail('max_gpus', `got ${c.max_gpus}; must be >= min_gpus (${c.min_gpus})`);
  if (c.model_parallel_size > 1 && c.version !== 0.2) return fail('model_parallel_size', `got ${c.model_parallel_size}; model parallelism needs elasticity version 0.2 (version is ${c.version})`);

  let found: { batch: number; valid: number[] };
  if (c.version === 0.1) found = compatibleGpusV01(c.micro_batch_sizes, c.max_train_batch_size, c.min_gpus, c.max_gpus, c.prefer_larger_batch);
  else if (c.version === 0.2) {
    if (c.num_gpus_per_node % c.model_parallel_size !== 0) {
      return fail('num_gpus_per_node', `got ${c.num_gpus_per_node}; must be divisible by model_parallel_size (${c.model_parallel_size}) in version 0.2`);
    }
    found = compatibleGpusV02(c, worldSize);
  } else return fail('version', `got ${c.version}; valid: 0.1, 0.2`);

  if (!found.valid.includes(worldSize)) {
    return fail('enabled', `world size ${worldSize} is not one the elastic batch ${found.batch} supports; valid world sizes: ${JSON.stringify(found.valid)}`);
  }
  const micro = [...new Set(c.micro_batch_sizes)].sort((a, b) => b - a).find((m) => Math.floor(found.batch / worldSize) % m === 0);
  if (micro === undefined) {
    return fail('micro_batch_sizes', `none of ${JSON.stringify(c.micro_batch_sizes)} divides the per-rank batch ${Math.floor(found.batch / worldSize)} (batch ${found.batch}, world size ${worldSize})`);
  }
  return { ok: true, batch: { trainBatchSize: found.batch, validWorldSizes: found.valid, microBatchSize: micro } };
}
