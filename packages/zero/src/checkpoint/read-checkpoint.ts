// Reads a ds checkpoint tag directory the way the engine wrote it: `latest` names the tag, the
// model states hold the full (16-bit or fp32) state dict, and each data-parallel rank's
// zero_pp_rank_{r}_mp_rank_00_optim_states.{json,safetensors} holds its sharded strategy state
// as JSON in which every tensor is a reference into the safetensors file.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadSafetensors, type Tensor } from '@ds/core';
import { parseShardState } from './parse-shard.js';
import { SHARD_FORMAT, type ZeroShardState } from './shard-format.js';

export const MODEL_STATES = 'mp_rank_00_model_states.safetensors';
const SHARD_JSON = /^zero_pp_rank_(\d+)_mp_rank_00_optim_states\.json$/;
const shardTensors = (rank: number) => `zero_pp_rank_${rank}_mp_rank_00_optim_states.safetensors`;
/** The stage-3 state's format tag (written by ../stage3). */
export const STAGE3_PARTITION_FORMAT = 'ds-zero3-partitions';
const PARTITION_FORMATS = [SHARD_FORMAT, STAGE3_PARTITION_FORMAT];

/** The tag directory: `<dir>/<tag>`, the tag in `<dir>/latest`, or `dir` itself when it is a tag directory. */
export async function resolveTagDir(dir: string, tag?: string): Promise<string> {
  if (tag !== undefined) {
    if (tag === '' || tag.startsWith('.') || /[/\\\0]/.test(tag)) throw new RangeError(`checkpoint tag ${JSON.stringify(tag)} is not a valid directory name`);
    const d = path.join(dir, tag);
    if (!(await exists(d))) throw new Error(`zero checkpoint: no tag "${tag}" in ${dir}`);
    return d;
  }
  const latest = path.join(dir, 'latest');
  if (await exists(latest)) {
    const t = (await readFile(latest, 'utf8')).trim();
    const d = path.join(dir, t);
    if (!(await exists(d))) throw new Error(`zero checkpoint: ${latest} names tag "${t}", but ${d} does not exist`);
    return d;
  }
  if (await exists(path.join(dir, MODEL_STATES))) return dir;
  throw new Error(`zero checkpoint: ${dir} has no "latest" file and is not a tag directory (no ${MODEL_STATES}); pass the tag`);
}

/** ZeRO partition states as saved, in rank order: one format across every rank. */
export interface SavedPartitionStates {
  /** `ds-zero-partitions` (stages 1-2) or the stage-3 format. */
  format: string;
  /** Each rank's state with tensors resolved (not yet checked). */
  states: unknown[];
  /** `<tagDir>/zero_pp_rank_<r>_...json` for each rank, for error messages. */
  files: string[];
}

/** Every saved rank's ZeRO state, in rank order, checked against the manifest. */
export async function readPartitionStates(tagDir: string): Promise<SavedPartitionStates> {
  const ranks = (await readdir(tagDir))
    .map((n) => SHARD_JSON.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (ranks.length === 0) throw new Error(`zero checkpoint: ${tagDir} has no zero_pp_rank_*_mp_rank_00_optim_states.json files; was it saved with ZeRO (zero_optimization.stage >= 1)?`);
  ranks.forEach((r, i) => {
    if (r !== i) throw new Error(`zero checkpoint: ${tagDir} has per-rank files for ranks ${ranks.join(', ')}; rank ${i}'s is missing`);
  });
  const manifest = await readManifest(tagDir);
  const states: unknown[] = [];
  const files: string[] = [];
  let format: string | null = null;
  for (const r of ranks) {
    const json = `zero_pp_rank_${r}_mp_rank_00_optim_states.json`;
    await verify(tagDir, manifest, [json, shardTensors(r)]);
    const tensors = await loadSafetensors(path.join(tagDir, shardTensors(r)));
    const doc = JSON.parse(await readFile(path.join(tagDir, json), 'utf8')) as { strategies?: Record<string, unknown> };
    const where = `${tagDir}/${json}`;
    const found = Object.values(doc.strategies ?? {})
      .map((v) => decode(v, tensors, where))
      .filter((v): v is { format: string } => v !== null && typeof v === 'object' && PARTITION_FORMATS.includes((v as { format?: string }).format ?? ''));
    if (found.length !== 1) throw new Error(`${where}: expected one ZeRO partition state (format ${PARTITION_FORMATS.map((f) => `"${f}"`).join(' or ')}), found ${found.length}`);
    const f = found[0]!.format;
    if (format !== null && f !== format) throw new Error(`${where}: saved as "${f}" but rank 0 saved "${format}"; the files come from different runs`);
    format = f;
    states.push(found[0]);
    files.push(where);
  }
  return { format: format!, states, files };
}

/** Stages 1-2 states of every saved rank, checked. */
export async function readShardStates(tagDir: string): Promise<ZeroShardState[]> {
  const saved = await readPartitionStates(tagDir);
  if (saved.format !== SHARD_FORMAT) throw new Error(`zero checkpoint: ${tagDir} holds "${saved.format}" state, not ZeRO stage 1-2 partitions ("${SHARD_FORMAT}")`);
  return saved.states.map((s, r) => parseShardState(s, saved.files[r]!));
}

/** The model states file's tensors (the full state dict as saved, 16-bit under mixed precision). */
export async function readModelStates(tagDir: string): Promise<Record<string, Tensor>> {
  await verify(tagDir, await readManifest(tagDir), [MODEL_STATES]);
  return loadSafetensors(path.join(tagDir, MODEL_STATES));
}

/** The engine's JSON state tree with `{ "__tensor__": name }` references resolved. */
function decode(json: unknown, tensors: Record<string, Tensor>, where: string): unknown {
  if (Array.isArray(json)) return json.map((v) => decode(v, tensors, where));
  if (json === null || typeof json !== 'object') return json;
  const o = json as Record<string, unknown>;
  if (typeof o.__tensor__ === 'string') {
    const t = tensors[o.__tensor__];
    if (!t) throw new Error(`${where}: tensor '${o.__tensor__}' is referenced by the state but missing from the tensor file`);
    return t;
  }
  if (typeof o.__number__ === 'string' && Object.keys(o).length === 1) return Number(o.__number__);
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, decode(v, tensors, where)]));
}

type Manifest = { files?: Record<string, { bytes: number; sha256: string }> } | null;

async function readManifest(tagDir: string): Promise<Manifest> {
  const f = path.join(tagDir, 'manifest.json');
  if (!(await exists(f))) return null;
  return JSON.parse(await readFile(f, 'utf8')) as Manifest;
}

/** Files listed in the manifest must have the size and hash it recorded (a checkpoint without one is read as is). */
async function verify(tagDir: string, manifest: Manifest, names: readonly string[]): Promise<void> {
  for (const n of names) {
    const f = path.join(tagDir, n);
    if (!(await exists(f))) throw new Error(`zero checkpoint: ${f} is missing`);
    const want = manifest?.files?.[n];
    if (!manifest) continue;
    if (!want) throw new Error(`zero checkpoint: ${n} is not listed in ${tagDir}/manifest.json; the checkpoint is incomplete`);
    const bytes = (await stat(f)).size;
    if (bytes !== want.bytes) throw new Error(`zero checkpoint: ${f} has ${bytes} bytes but was saved with ${want.bytes}; the file is truncated or corrupt`);
    if ((await sha256(f)) !== want.sha256) throw new Error(`zero checkpoint: ${f} does not match its sha256 in manifest.json; the file is corrupt`);
  }
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(file).on('data', (d) => h.update(d)).on('end', () => resolve()).on('error', reject);
  });
  return h.digest('hex');
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
