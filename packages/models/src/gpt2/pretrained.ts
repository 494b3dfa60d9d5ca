// Hugging Face directory layout: config.json + model.safetensors with HF parameter names.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadSafetensorsWithMetadata, saveSafetensors, type Tensor } from '@ds/core';
import { GPT2_DEFAULTS, resolveConfig, type GPT2Config } from './config.js';
import { GPT2LMHeadModel } from './model.js';

// HF checkpoints name the tied head and, in older versions, the attention mask buffers;
// none of them carries a value we need.
const IGNORED = [/^lm_head\.weight$/, /\.attn\.(masked_)?bias$/];

/** Read `dir/config.json` and `dir/model.safetensors` into a GPT2LMHeadModel. */
export async function fromPretrained(dir: string): Promise<GPT2LMHeadModel> {
  const configPath = path.join(dir, 'config.json');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`fromPretrained: cannot read ${configPath}: ${(e as Error).message}`);
  }
  const known = Object.keys(GPT2_DEFAULTS);
  const cfg: Partial<GPT2Config> = {};
  for (const k of known) if (k in raw && raw[k] !== undefined) (cfg as Record<string, unknown>)[k] = raw[k];
  const model = new GPT2LMHeadModel(resolveConfig(cfg, configPath));
  const { tensors: weights, metadata } = await loadSafetensorsWithMetadata(path.join(dir, 'model.safetensors'));
  model.checkpointMetadata = { ...metadata };
  const state: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(weights)) {
    if (IGNORED.some((re) => re.test(name))) continue;
    // Some exports drop the "transformer." prefix.
    state[name.startsWith('transformer.') ? name : `transformer.${name}`] = t;
  }
  model.loadStateDict(state);
  return model;
}

/** Write `dir/config.json` and `dir/model.safetensors` (HF names, tied head omitted). */
export async function savePretrained(model: GPT2LMHeadModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', ...model.config, n_ctx: model.config.n_positions, torch_dtype: 'float32' };
  const tmp = path.join(dir, `config.json.tmp-${process.pid}`);
  await writeFile(tmp, JSON.stringify(config, null, 2) + '\n');
  await rename(tmp, path.join(dir, 'config.json'));
  // Keep the metadata the weights came with, so load + save reproduces the file byte for byte.
  await saveSafetensors(path.join(dir, 'model.safetensors'), model.stateDict(), { format: 'pt', ...model.checkpointMetadata });
}
