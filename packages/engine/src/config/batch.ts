// The batch-size triad (spec §1.13): train_batch_size = micro batch × accumulation steps ×
// data-parallel world size, with DeepSpeed's derivation order and floor divisions, so the
// same configs pass and fail as in DeepSpeed.
import type { ConfigIssue } from './errors.js';

export interface BatchSizes {
  train_batch_size: number;
  train_micro_batch_size_per_gpu: number;
  gradient_accumulation_steps: number;
}

export interface GivenBatchSizes {
  train_batch_size?: number | null;
  train_micro_batch_size_per_gpu?: number | null;
  gradient_accumulation_steps?: number | null;
}

export type BatchResult = { ok: true; sizes: BatchSizes; derived: (keyof BatchSizes)[] } | { ok: false; issues: ConfigIssue[] };

const TB = 'train_batch_size';
const MB = 'train_micro_batch_size_per_gpu';
const GAS = 'gradient_accumulation_steps';

/**
 * Fill in the missing batch keys for `worldSize` data-parallel ranks and check the triad.
 * `autoKeys` are the keys that were "auto" in the file (only used to explain errors).
 */
export function resolveBatchSizes(given: GivenBatchSizes, worldSize: number, autoKeys: ReadonlySet<string> = new Set()): BatchResult {
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`worldSize: expected an integer >= 1, got ${String(worldSize)}`);
  const W = worldSize;
  const tb = given.train_batch_size ?? null;
  const mb = given.train_micro_batch_size_per_gpu ?? null;
  const gas = given.gradient_accumulation_steps ?? null;
  const how: Partial<Record<keyof BatchSizes, string>> = {};
  let t: number;
  let m: number;
  let g: number;

  if (tb !== null && mb !== null && gas !== null) [t, m, g] = [tb, mb, gas];
  else if (tb !== null && mb !== null) {
    [t, m, g] = [tb, mb, Math.floor(Math.floor(tb / mb) / W)];
    how[GAS] = `(${TB} ${tb} // ${MB} ${mb}) // world size ${W}`;
  } else if (tb !== null && gas !== null) {
    [t, m, g] = [tb, Math.floor(Math.floor(tb / W) / gas), gas];
    how[MB] = `(${TB} ${tb} // world size ${W}) // ${GAS} ${gas}`;
  } else if (mb !== null && gas !== null) {
    [t, m, g] = [mb * gas * W, mb, gas];
    how[TB] = `${MB} ${mb} × ${GAS} ${gas} × world size ${W}`;
  } else if (tb !== null) {
    [t, m, g] = [tb, Math.floor(tb / W), 1];
    how[MB] = `${TB} ${tb} // world size ${W}`;
    how[GAS] = 'default 1';
  } else if (mb !== null) {
    [t, m, g] = [mb * W, mb, 1];
    how[TB] = `${MB} ${mb} × world size ${W}`;
    how[GAS] = 'default 1';
  } else {
    const autos = [TB, MB].filter((k) => autoKeys.has(k));
    const why = autos.length > 0 ? ` (${autos.join(' and ')} ${autos.length > 1 ? 'were' : 'was'} "auto", which ds cannot fill in without a trainer)` : '';
    return {
      ok: false,
      issues: [{ path: TB, message: `one of ${TB} or ${MB} must be given${why}; ${GAS} alone does not determine the batch` }],
    };
  }

  const derived = Object.keys(how) as (keyof BatchSizes)[];
  const label = (key: keyof BatchSizes, v: number) => `${key} ${v}${how[key] ? ` (derived: ${how[key]})` : ''}`;
  const issues: ConfigIssue[] = [];
  for (const [key, v] of [[TB, t], [MB, m], [GAS, g]] as const) {
    if (v <= 0) issues.push({ path: key, message: `${label(key, v)} must be > 0 (${TB} ${t}, ${MB} ${m}, ${GAS} ${g}, world size ${W})` });
  }
  if (issues.length === 0 && t !== m * g * W) {
    issues.push({
      path: TB,
      message:
        `inconsistent batch sizes: ${label(TB, t)} must equal ${label(MB, m)} × ${label(GAS, g)} × data-parallel world size ${W} = ${m * g * W}` +
        `; valid: ${validHint(how, m, g, W)}`,
    });
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, sizes: { [TB]: t, [MB]: m, [GAS]: g } as BatchSizes, derived };
}

function validHint(how: Partial<Record<keyof BatchSizes, string>>, m: number, g: number, W: number): string {
  if (how[GAS] === 'default 1') return `a ${TB} divisible by the world size ${W}`;
  if (how[GAS]) return `a ${TB} divisible by ${MB} × world size = ${m * W}`;
  if (how[MB]) return `a ${TB} divisible by ${GAS} × world size = ${g * W}`;
  return `${TB} ${m * g * W} for these values (or leave one of the three out and let ds derive it)`;
}
