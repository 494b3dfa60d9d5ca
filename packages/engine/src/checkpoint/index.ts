// engine.saveCheckpoint / loadCheckpoint: DeepSpeed's directory layout and `latest` file with
// safetensors + JSON instead of pickles. A tag is staged and renamed into place whole; a load
// verifies every file against the manifest and every tensor against the model and optimizer
// before it changes anything, so it either restores the complete state or nothing.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { defaultGenerator, loadSafetensors, saveSafetensors, type Tensor } from '@ds/core';
import type { StateValue } from '@ds/strategy';
import type { Engine } from '../engine.js';
import {
  commitTag, ensureDir, exists, findTagDir, verifyFiles, writeFileAtomic, writeManifest,
} from './files.js';
import { packState, unpackState, type Json } from './state-tree.js';
import { validateModel, validateOptimizer } from './validate.js';

export const FORMAT_VERSION = 1;
const MODEL_TENSORS = 'mp_rank_00_model_states.safetensors';
const MODEL_JSON = 'mp_rank_00_model_states.json';
const OPTIM_TENSORS = 'mp_rank_00_optim_states.safetensors';
const OPTIM_JSON = 'mp_rank_00_optim_states.json';
const rngFile = (rank: number) => `rng_state_rank_${rank}.json`;
// DeepSpeed's per-rank ZeRO file names, for state that differs between data-parallel ranks.
const shardTensors = (rank: number) => `zero_pp_rank_${rank}_mp_rank_00_optim_states.safetensors`;
const shardJson = (rank: number) => `zero_pp_rank_${rank}_mp_rank_00_optim_states.json`;

export interface SaveCheckpointOptions {
  /** Default `global_step<N>`. */
  tag?: string;
  /** Extra JSON-serialisable values returned by loadCheckpoint. */
  clientState?: Record<string, unknown>;
  /** Point `latest` at this tag (default true). */
  saveLatest?: boolean;
}

export interface LoadCheckpointOptions {
  /** Default: the tag in `<dir>/latest`. */
  tag?: string;
  loadOptimizerStates?: boolean;
  loadLrSchedulerStates?: boolean;
  /** Only the model weights (fine-tuning from a checkpoint). */
  loadModuleOnly?: boolean;
}

export interface LoadCheckpointResult {
  /** The tag directory loaded, or null when there was no checkpoint (no `latest`). */
  path: string | null;
  clientState: Record<string, unknown> | null;
}

export async function saveCheckpoint(engine: Engine, saveDir: string, opts: SaveCheckpointOptions = {}): Promise<string> {
  const tag = String(opts.tag ?? `global_step${engine.globalSteps}`);
  checkTag(tag);
  const world = engine.world;
  const rank = world.rank;
  const staging = path.join(saveDir, `.staging-${tag}`);
  if (rank === 0) {
    await ensureDir(saveDir);
    await rm(staging, { recursive: true, force: true });
    await ensureDir(staging);
  }
  await world.barrier();
  try {
    const files: string[] = [];
    if (rank === 0) {
      // Data-parallel replicas are identical: rank 0 writes the model and optimizer once.
      const model = engine.module.stateDict();
      await saveSafetensors(path.join(staging, MODEL_TENSORS), contiguousAll(model));
      const meta = {
        format: 'ds-checkpoint',
        version: FORMAT_VERSION,
        global_steps: engine.globalSteps,
        global_samples: engine.globalSamples,
        skipped_steps: engine.skippedSteps,
        micro_steps: engine.microSteps,
        dp_world_size: engine.dataParallel.size,
        mp_world_size: 1,
        param_shapes: Object.fromEntries(Object.entries(model).map(([k, t]) => [k, [...t.shape]])),
        lr_scheduler: engine.lrScheduler ? (packState(engine.lrScheduler.stateDict(), 'lr_scheduler', {}) as Json) : null,
        client_state: (opts.clientState ?? {}) as Json,
      };
      await writeFileAtomic(path.join(staging, MODEL_JSON), `${JSON.stringify(meta, null, 1)}\n`);

      const tensors: Record<string, Tensor> = {};
      const optimizer = engine.optimizer && engine.parts.checkpointOptimizer ? packState(engine.optimizer.stateDict(), 'optimizer', tensors) : null;
      const strategies: Record<string, Json> = {};
      for (const [name, c] of engine.parts.state) if (!c.sharded) strategies[name] = packState(c.stateDict(), `strategy.${name}`, tensors);
      await saveSafetensors(path.join(staging, OPTIM_TENSORS), contiguousAll(tensors));
      await writeFileAtomic(path.join(staging, OPTIM_JSON), `${JSON.stringify({ optimizer, strategies }, null, 1)}\n`);
      files.push(MODEL_TENSORS, MODEL_JSON, OPTIM_TENSORS, OPTIM_JSON);
    }
    await writeFileAtomic(path.join(staging, rngFile(rank)), `${JSON.stringify({ rank, generator: defaultGenerator.getState().map(String) })}\n`);
    const sharded = [...engine.parts.state].filter(([, c]) => c.sharded);
    if (sharded.length > 0) {
      const tensors: Record<string, Tensor> = {};
      const states: Record<string, Json> = {};
      for (const [name, c] of sharded) states[name] = packState(c.stateDict(), `strategy.${name}`, tensors);
      await saveSafetensors(path.join(staging, shardTensors(rank)), contiguousAll(tensors));
      await writeFileAtomic(path.join(staging, shardJson(rank)), `${JSON.stringify({ rank, dp_world_size: world.size, strategies: states }, null, 1)}\n`);
    }
    await world.barrier();
    if (rank === 0) {
      for (let r = 0; r < world.size; r++) files.push(rngFile(r));
      if (sharded.length > 0) for (let r = 0; r < world.size; r++) files.push(shardTensors(r), shardJson(r));
      await writeManifest(staging, tag, files);
      await commitTag(saveDir, staging, tag);
      if (opts.saveLatest ?? true) await writeFileAtomic(path.join(saveDir, 'latest'), tag);
    }
  } catch (e) {
    if (rank === 0) await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  await world.barrier();
  return path.join(saveDir, tag);
}

export async function loadCheckpoint(engine: Engine, loadDir: string, opts: LoadCheckpointOptions = {}): Promise<LoadCheckpointResult> {
  let tag = opts.tag;
  if (tag === undefined) {
    const latest = path.join(loadDir, 'latest');
    if (!(await exists(latest))) return { path: null, clientState: null };
    tag = (await readFile(latest, 'utf8')).trim();
  }
  checkTag(tag);
  const dir = await findTagDir(loadDir, tag);
  if (!dir) throw new Error(`loadCheckpoint: no checkpoint with tag "${tag}" in ${loadDir}`);
  const moduleOnly = opts.loadModuleOnly ?? false;
  const loadOptim = !moduleOnly && (opts.loadOptimizerStates ?? true);
  const loadSched = !moduleOnly && (opts.loadLrSchedulerStates ?? true);
  const rank = engine.world.rank;

  const needed = [MODEL_TENSORS, MODEL_JSON];
  if (loadOptim) needed.push(OPTIM_TENSORS, OPTIM_JSON);
  const manifest = await verifyFiles(dir, needed);
  const rngName = manifest.files[rngFile(rank)] ? rngFile(rank) : null;
  if (rngName) await verifyFiles(dir, [rngName]);

  // Read and check everything first: nothing below may fail after the first state changes.
  const model = await loadSafetensors(path.join(dir, MODEL_TENSORS));
  const meta = JSON.parse(await readFile(path.join(dir, MODEL_JSON), 'utf8')) as {
    global_steps: number; global_samples: number; skipped_steps: number; micro_steps: number; dp_world_size: number;
    lr_scheduler: Json; client_state: Record<string, unknown>;
  };
  validateModel(engine.module, model, dir);
  let optimizerState: StateValue = null;
  let strategies: Record<string, StateValue> = {};
  let shardedStates: Map<string, StateValue[]> = new Map();
  if (loadOptim) {
    const tensors = await loadSafetensors(path.join(dir, OPTIM_TENSORS));
    const json = JSON.parse(await readFile(path.join(dir, OPTIM_JSON), 'utf8')) as { optimizer: Json; strategies: Record<string, Json> };
    optimizerState = json.optimizer === null ? null : unpackState(json.optimizer, tensors, `${dir}/${OPTIM_JSON}`);
    if (engine.optimizer && engine.parts.checkpointOptimizer && optimizerState === null) throw new Error(`loadCheckpoint: ${dir} holds no optimizer state but this engine has an optimizer; pass loadOptimizerStates: false to load the weights only`);
    if (engine.optimizer && engine.parts.checkpointOptimizer) validateOptimizer(engine.optimizer, optimizerState, dir);
    strategies = Object.fromEntries(Object.entries(json.strategies).map(([k, v]) => [k, unpackState(v, tensors, `${dir}/${OPTIM_JSON}`)]));
    shardedStates = await readShards(dir, manifest.files, engine, rank);
    for (const [name, c] of engine.parts.state) {
      if (c.sharded) continue;
      if (!(name in strategies)) throw new Error(`loadCheckpoint: ${dir} has no "${name}" state, which this engine's strategies need (was it saved with a different precision or strategy setup?)`);
    }
  }
  const rng = rngName ? (JSON.parse(await readFile(path.join(dir, rngName), 'utf8')) as { generator: string[] }).generator.map(Number) : null;

  engine.module.loadStateDict(model, true);
  if (loadOptim && engine.optimizer) {
    if (engine.parts.checkpointOptimizer) engine.optimizer.loadStateDict(optimizerState as never);
    for (const [name, c] of engine.parts.state) {
      if (!c.sharded) c.loadStateDict(strategies[name]!);
      else {
        const all = shardedStates.get(name)!;
        if (all.length === engine.dataParallel.size) c.loadStateDict(all[rank]!);
        else c.loadShardedStateDict!(all);
      }
    }
  } else {
    // The weights changed under any copies a strategy keeps (fp32 masters): let it re-derive them.
    for (const c of engine.parts.state.values()) c.afterModuleLoad?.();
  }
  if (loadSched && engine.lrScheduler && meta.lr_scheduler !== null) {
    engine.lrScheduler.loadStateDict(unpackState(meta.lr_scheduler, {}, dir) as Record<string, unknown>);
  }
  if (!moduleOnly) {
    engine.globalSteps = meta.global_steps;
    engine.globalSamples = meta.global_samples;
    engine.skippedSteps = meta.skipped_steps;
    engine.microSteps = meta.micro_steps;
  }
  if (rng) defaultGenerator.setState(rng);
  return { path: dir, clientState: meta.client_state ?? {} };
}

/** Every saved rank's sharded state, checked first: a missing or corrupt shard fails the load before anything changes. */
async function readShards(dir: string, files: Record<string, unknown>, engine: Engine, rank: number): Promise<Map<string, StateValue[]>> {
  const out = new Map<string, StateValue[]>();
  const names = [...engine.parts.state].filter(([, c]) => c.sharded).map(([n]) => n);
  if (names.length === 0) return out;
  const saved = Object.keys(files).filter((f) => /^zero_pp_rank_\d+_mp_rank_00_optim_states\.json$/.test(f)).length;
  if (saved === 0) throw new Error(`loadCheckpoint: ${dir} has no per-rank (zero_pp_rank_*) state, which this engine's strategies (${names.join(', ')}) need`);
  const here = engine.dataParallel.size;
  if (saved !== here) {
    const cannot = names.filter((n) => !engine.parts.state.get(n)!.loadShardedStateDict);
    if (cannot.length) throw new Error(`loadCheckpoint: ${dir} was saved by ${saved} data-parallel ranks and this run has ${here}; the state of ${cannot.join(', ')} cannot be resharded`);
  }
  const ranks = saved === here ? [rank] : Array.from({ length: saved }, (_, r) => r);
  await verifyFiles(dir, ranks.flatMap((r) => [shardTensors(r), shardJson(r)]));
  for (const n of names) out.set(n, new Array<StateValue>(saved));
  for (const r of ranks) {
    const tensors = await loadSafetensors(path.join(dir, shardTensors(r)));
    const json = JSON.parse(await readFile(path.join(dir, shardJson(r)), 'utf8')) as { strategies: Record<string, Json> };
    for (const n of names) {
      if (!(n in json.strategies)) throw new Error(`loadCheckpoint: ${dir}/${shardJson(r)} has no "${n}" state`);
      out.get(n)![r] = unpackState(json.strategies[n]!, tensors, `${dir}/${shardJson(r)}`);
    }
  }
  return out;
}

function checkTag(tag: string): void {
  if (tag === '' || tag.startsWith('.') || /[/\\\0]/.test(tag)) {
    throw new RangeError(`checkpoint tag ${JSON.stringify(tag)} is not a valid directory name (non-empty, no "/", "\\", not starting with ".")`);
  }
}

function contiguousAll(tensors: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(tensors)) out[k] = t.isContiguous() ? t : t.contiguous();
  return out;
}

