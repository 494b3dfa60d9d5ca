// zero_to_fp32 (spec §6.5 of the engine spec): the full fp32 state dict of a ZeRO checkpoint
// (stages 1-3), from every rank's fp32 partitions, with the model's state-dict names (Hugging
// Face names for @ds/models), so it loads into the model without ZeRO or the original world size.
import { isFloating, saveSafetensors, Tensor } from '@ds/core';
import type { StateValue } from '@ds/strategy';
import { assembleParams } from './assemble-params.js';
import { parseShardState } from './parse-shard.js';
import { readModelStates, readPartitionStates, resolveTagDir, STAGE3_PARTITION_FORMAT } from './read-checkpoint.js';

/**
 * Every tensor of the checkpoint's model state dict as fp32: trained parameters from the fp32
 * partitions (not the rounded 16-bit weights), frozen parameters and floating-point buffers
 * widened from the model states, other buffers as saved. `dir` is the save directory (the tag
 * defaults to `latest`) or a tag directory.
 */
export async function consolidateZeroCheckpoint(dir: string, tag?: string): Promise<Record<string, Tensor>> {
  const tagDir = await resolveTagDir(dir, tag);
  const model = await readModelStates(tagDir);
  const saved = await readPartitionStates(tagDir);
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(model)) out[name] = isFloating(t.dtype) && t.dtype !== 'float32' ? t.to('float32') : t;
  const trained: { name: string; aliases: string[]; shape: readonly number[]; values: Tensor }[] = [];
  if (saved.format === STAGE3_PARTITION_FORMAT) {
    const { consolidateStage3States } = await import('../stage3/index.js');
    for (const [name, t] of Object.entries(consolidateStage3States(saved.states as StateValue[]))) trained.push({ name, aliases: [], shape: t.shape, values: t });
  } else {
    const states = saved.states.map((s, r) => parseShardState(s, saved.files[r]!));
    for (const p of assembleParams(states, `zero checkpoint ${tagDir}`, { optimizerState: false }).values()) {
      trained.push({ name: p.name, aliases: p.aliases, shape: p.shape, values: new Tensor(p.fp32, p.shape, 'float32') });
    }
  }
  for (const p of trained) {
    const inModel = model[p.name];
    // (A stage-3 model file may hold released, empty placeholders: only real tensors are checked.)
    if (inModel && inModel.numel > 0 && inModel.shape.join(',') !== p.shape.join(',')) {
      throw new Error(`zero checkpoint ${tagDir}: '${p.name}' has shape [${inModel.shape.join(', ')}] in the model states but [${p.shape.join(', ')}] in the partitions`);
    }
    out[p.name] = p.values;
    // Tied weights are one tensor under several names: every name gets the same values.
    for (const alias of p.aliases) out[alias] = p.values;
  }
  return out;
}

/** Consolidate and write one safetensors file (model state-dict names, fp32). Returns the tensor count. */
export async function writeFp32Checkpoint(dir: string, outFile: string, tag?: string): Promise<number> {
  const tensors = await consolidateZeroCheckpoint(dir, tag);
  // A tied tensor is stored once per name; safetensors has no aliasing.
  await saveSafetensors(outFile, tensors, { format: 'pt', source: 'ds zero_to_fp32' });
  return Object.keys(tensors).length;
}

const USAGE = 'usage: zero_to_fp32 <checkpoint_dir> <output_file.safetensors> [-t|--tag TAG]';

/**
 * The zero_to_fp32 command line: `<checkpoint_dir> <output_file> [-t TAG]`. Returns the exit
 * code (0 ok, 1 failure, 2 usage) and reports through `io`, so a CLI can call it directly.
 */
export async function zeroToFp32Main(
  argv: readonly string[],
  io: { log(line: string): void; error(line: string): void } = { log: (l) => console.log(l), error: (l) => console.error(l) },
): Promise<number> {
  const positional: string[] = [];
  let tag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-t' || a === '--tag') {
      tag = argv[++i];
      if (tag === undefined) {
        io.error(`${a} needs a value\n${USAGE}`);
        return 2;
      }
    } else if (a === '-h' || a === '--help') {
      io.log(USAGE);
      return 0;
    } else if (a.startsWith('-')) {
      io.error(`unknown option ${a}\n${USAGE}`);
      return 2;
    } else positional.push(a);
  }
  if (positional.length !== 2) {
    io.error(`expected a checkpoint directory and an output file, got ${positional.length} argument(s)\n${USAGE}`);
    return 2;
  }
  const [dir, outFile] = positional as [string, string];
  try {
    const n = await writeFp32Checkpoint(dir, outFile, tag);
    io.log(`wrote ${n} fp32 tensors to ${outFile}`);
    return 0;
  } catch (e) {
    io.error(`zero_to_fp32: ${(e as Error).message}`);
    return 1;
  }
}
