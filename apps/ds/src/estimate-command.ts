// `ds estimate`: how much memory the model states need per rank and per node, before buying or
// booking the machines. Prints DeepSpeed's ZeRO-2 and ZeRO-3 estimator tables (the same numbers
// as estimate_zero{2,3}_model_states_mem_needs_all_cold) and the ZeRO paper's per-rank breakdown
// of parameters, gradients and optimizer state for each stage.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  formatZero2Estimate, formatZero3Estimate, gpt2ParamCounts, modelStateBytes, zero2Rows, zero3Rows, GPT2_PRESETS, MODEL_DTYPES, OPTIMIZER_KINDS,
  type GPT2Shape, type ModelDType, type OptimizerKind,
} from '@ds/zero';

/** The flags as commander hands them over (numbers already checked where cli.ts parses them). */
export interface EstimateFlags {
  params?: string;
  largestLayer?: string;
  model?: string;
  nEmbd?: number;
  nLayer?: number;
  vocab?: number;
  nPositions?: number;
  nInner?: number;
  nodes: number;
  gpusPerNode?: number;
  ranks?: number;
  stage?: string;
  dtype: string;
  optimizer: string;
  bufferFactor: string;
  json: boolean;
}

export interface EstimateIO {
  stdout(s: string): void;
  stderr(s: string): void;
}

class UsageError extends Error {}

const SUFFIX: Record<string, number> = { k: 1e3, m: 1e6, b: 1e9, g: 1e9, t: 1e12 };

/** "1.5e9", "1500000000", "1.5B", "350M", "7b" -> a whole number of parameters. */
export function parseParamCount(flag: string, text: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgt]?)\s*$/i.exec(text);
  const value = m ? Number(m[1]) * (m[2] ? SUFFIX[m[2].toLowerCase()]! : 1) : NaN;
  if (!Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${flag} must be a positive number of parameters (e.g. 1.5e9, 1500000000, 1.5B, 350M), got ${JSON.stringify(text)}`);
  }
  // 1.1e9 * 3 style products carry float noise; anything further off is a real fraction.
  const rounded = Math.round(value);
  if (Math.abs(value - rounded) > 1e-6 * Math.max(1, value) || !Number.isSafeInteger(rounded)) {
    throw new UsageError(`${flag} must be a whole number of parameters, got ${JSON.stringify(text)} (= ${value})`);
  }
  return rounded;
}

function closest(word: string, options: readonly string[]): string | null {
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0]!;
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const t = d[j]!;
        d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = t;
      }
    }
    return d[b.length]!;
  };
  const best = options.map((o) => [o, dist(word.toLowerCase(), o)] as const).sort((a, b) => a[1] - b[1])[0];
  return best && best[1] <= 2 ? best[0] : null;
}

interface ModelInfo {
  params: number;
  largestLayerParams: number | null;
  source: string;
}

function readGpt2Config(file: string): GPT2Shape {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--model ${file}: not a readable JSON file (${(e as Error).message.split('\n')[0]})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`--model ${file}: expected a JSON object (a GPT-2 config.json)`);
  const cfg = raw as Record<string, unknown>;
  if (cfg.model_type !== undefined && cfg.model_type !== 'gpt2') {
    throw new UsageError(`--model ${file}: model_type is ${JSON.stringify(cfg.model_type)}; ds estimate reads GPT-2 configs (model_type "gpt2")`);
  }
  // Missing sizes take GPT-2's defaults, as @ds/models' resolveConfig does.
  const base = GPT2_PRESETS.gpt2!;
  return {
    vocab_size: (cfg.vocab_size ?? base.vocab_size) as number,
    n_positions: (cfg.n_positions ?? base.n_positions) as number,
    n_embd: (cfg.n_embd ?? base.n_embd) as number,
    n_layer: (cfg.n_layer ?? base.n_layer) as number,
    n_inner: (cfg.n_inner ?? null) as number | null,
  };
}

function modelInfo(f: EstimateFlags): ModelInfo {
  const overrides: [keyof GPT2Shape, string, number | undefined][] = [
    ['n_embd', '--n-embd', f.nEmbd],
    ['n_layer', '--n-layer', f.nLayer],
    ['vocab_size', '--vocab', f.vocab],
    ['n_positions', '--n-positions', f.nPositions],
    ['n_inner', '--n-inner', f.nInner],
  ];
  const given = overrides.filter(([, , v]) => v !== undefined);
  if (f.model === undefined) {
    if (given.length > 0) throw new UsageError(`${given[0]![1]} describes a GPT-2: add --model gpt2 (or a config.json)`);
    if (f.params === undefined) throw new UsageError('say what to estimate: --params <count> (e.g. --params 1.5e9), or --model gpt2 [--n-embd .. --n-layer ..] or --model <config.json>');
    const params = parseParamCount('--params', f.params);
    const largest = f.largestLayer === undefined ? null : parseParamCount('--largest-layer', f.largestLayer);
    if (largest !== null && largest > params) throw new UsageError(`--largest-layer (${largest}) cannot exceed --params (${params})`);
    return { params, largestLayerParams: largest, source: '--params' };
  }
  if (f.params !== undefined) throw new UsageError('--params and --model both give the parameter count; use one');
  if (f.largestLayer !== undefined) throw new UsageError('--largest-layer is derived from --model; drop it or use --params instead of --model');
  let shape: GPT2Shape;
  let source: string;
  const preset = GPT2_PRESETS[f.model.toLowerCase()];
  if (preset) {
    shape = { ...preset };
    source = f.model.toLowerCase();
  } else if (existsSync(f.model)) {
    const file = statSync(f.model).isDirectory() ? path.join(f.model, 'config.json') : f.model;
    if (!existsSync(file)) throw new UsageError(`--model ${f.model}: the directory has no config.json`);
    shape = readGpt2Config(file);
    source = file;
  } else {
    const names = Object.keys(GPT2_PRESETS);
    const hint = closest(f.model, names);
    throw new UsageError(
      `--model ${JSON.stringify(f.model)} is neither a known model (${names.join(', ')}) nor an existing config.json or directory` +
        (hint ? ` (did you mean ${hint}?)` : ''),
    );
  }
  for (const [key, , v] of given) (shape as unknown as Record<string, unknown>)[key] = v;
  if (given.length > 0) source += ` with ${given.map(([, flag, v]) => `${flag} ${v}`).join(' ')}`;
  let counts;
  try {
    counts = gpt2ParamCounts(shape);
  } catch (e) {
    throw new UsageError(`--model ${f.model}: ${(e as Error).message}`);
  }
  return { params: counts.totalParams, largestLayerParams: counts.largestLayerParams, source };
}

function hardware(f: EstimateFlags): { nodes: number; gpusPerNode: number; ranks: number } {
  if (f.gpusPerNode !== undefined && f.ranks !== undefined) throw new UsageError('--gpus-per-node and --ranks both set the rank count; use one');
  const nodes = f.nodes;
  if (f.ranks !== undefined) {
    if (f.ranks % nodes !== 0) throw new UsageError(`--ranks ${f.ranks} does not split evenly over --nodes ${nodes}; give --gpus-per-node instead`);
    return { nodes, gpusPerNode: f.ranks / nodes, ranks: f.ranks };
  }
  const g = f.gpusPerNode ?? 1;
  return { nodes, gpusPerNode: g, ranks: g * nodes };
}

const GIB = 2 ** 30;
const gib = (bytes: number) => `${(bytes / GIB).toFixed(2)} GiB`;

function breakdownText(rows: ReturnType<typeof modelStateBytes>[], stages: number[], dtype: ModelDType, optimizer: OptimizerKind, ranks: number): string {
  const b = rows[0]!.bytesPerParam;
  const kind = dtype === 'fp32' ? 'fp32' : `${dtype} mixed precision`;
  const lines = [
    `Model states per rank (ZeRO paper), ${kind} with ${optimizer}, over ${ranks} data-parallel rank${ranks === 1 ? '' : 's'}:`,
    `  per parameter: ${b.params} B ${dtype} parameters + ${b.gradients} B ${rows[0]!.holds.gradients} + ${b.optimizer} B optimizer state` +
      (rows[0]!.holds.optimizer.length ? ` (${rows[0]!.holds.optimizer.join(', ')})` : ''),
    '  stage |     params |  gradients |  optimizer |      total',
  ];
  // bf16 at stage 0 holds fp32 gradient sums; name the stages that hold something else
  const other = rows.flatMap((r, i) => (r.holds.gradients === rows[0]!.holds.gradients ? [] : [stages[i]!]));
  if (other.length) {
    const r = rows[stages.indexOf(other[0]!)]!;
    lines[1] += `; stage${other.length === 1 ? '' : 's'} ${other.join(', ')}: ${r.bytesPerParam.gradients} B ${r.holds.gradients}`;
  }
  rows.forEach((r, i) => {
    const cell = (bytes: number) => gib(bytes).padStart(10);
    lines.push(`  ${String(stages[i]).padStart(5)} | ${cell(r.params)} | ${cell(r.gradients)} | ${cell(r.optimizer)} | ${cell(r.total)}`);
  });
  return `${lines.join('\n')}\n`;
}

/** Runs `ds estimate`; returns the exit code (1 on bad flags, after saying which). */
export function estimateCommand(f: EstimateFlags, io: EstimateIO): number {
  try {
    return run(f, io);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr(`ds estimate: error: ${e.message}\n`);
    return 1;
  }
}

function run(f: EstimateFlags, io: EstimateIO): number {
  const model = modelInfo(f);
  const hw = hardware(f);
  const stage = f.stage === undefined ? null : (Number(f.stage) as 0 | 1 | 2 | 3);
  if (!MODEL_DTYPES.includes(f.dtype as ModelDType)) throw new UsageError(`--dtype must be one of ${MODEL_DTYPES.join(', ')}, got ${JSON.stringify(f.dtype)}`);
  if (!OPTIMIZER_KINDS.includes(f.optimizer as OptimizerKind)) {
    const hint = closest(f.optimizer, OPTIMIZER_KINDS);
    throw new UsageError(`--optimizer must be one of ${OPTIMIZER_KINDS.join(', ')}, got ${JSON.stringify(f.optimizer)}${hint ? ` (did you mean ${hint}?)` : ''}`);
  }
  const dtype = f.dtype as ModelDType;
  const optimizer = f.optimizer as OptimizerKind;
  const factor = Number(f.bufferFactor);
  if (f.bufferFactor.trim() === '' || !Number.isFinite(factor) || factor < 0) {
    throw new UsageError(`--buffer-factor must be a number >= 0 (DeepSpeed's additional_buffer_factor), got ${JSON.stringify(f.bufferFactor)}`);
  }
  if (stage === 3 && model.largestLayerParams === null) {
    throw new UsageError("--stage 3 needs the largest layer's parameter count: add --largest-layer <count>, or use --model");
  }

  const ds = { numGpusPerNode: hw.gpusPerNode, numNodes: hw.nodes, additionalBufferFactor: factor };
  const showZero2 = stage === null || stage === 1 || stage === 2;
  const showZero3 = (stage === null || stage === 3) && model.largestLayerParams !== null;
  const stages = stage === null ? [0, 1, 2, 3] : [stage];
  const states = stages.map((s) => modelStateBytes({ params: model.params, stage: s as 0 | 1 | 2 | 3, worldSize: hw.ranks, dtype, optimizer }));

  if (f.json) {
    const zero2 = showZero2 ? zero2Rows(model.params, ds).map((r) => ({ offloadOptimizer: r.offloadOptimizer, cpuBytes: r.cpu, gpuBytes: r.gpu })) : null;
    const zero3 = showZero3
      ? zero3Rows(model.params, model.largestLayerParams!, ds).map((r) => ({
          offloadParam: r.offloadParam, offloadOptimizer: r.offloadOptimizer, zeroInit: r.zeroInit, cpuBytes: r.cpu, gpuBytes: r.gpu,
        }))
      : null;
    const out = {
      model: { params: model.params, largestLayerParams: model.largestLayerParams, source: model.source },
      hardware: hw,
      additionalBufferFactor: factor,
      zero2,
      zero3,
      modelStates: {
        dtype,
        optimizer,
        bytesPerParam: states[0]!.bytesPerParam,
        optimizerHolds: states[0]!.holds.optimizer,
        stages: states.map((s, i) => ({ stage: stages[i], params: s.params, gradients: s.gradients, optimizer: s.optimizer, total: s.total })),
      },
    };
    io.stdout(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }

  const parts: string[] = [];
  const largest = model.largestLayerParams === null ? '' : `, largest layer ${model.largestLayerParams.toLocaleString('en-US')}`;
  parts.push(`Model: ${model.params.toLocaleString('en-US')} parameters${largest} (${model.source})\n` +
    `Hardware: ${hw.nodes} node${hw.nodes === 1 ? '' : 's'} x ${hw.gpusPerNode} rank${hw.gpusPerNode === 1 ? '' : 's'} per node = ${hw.ranks} rank${hw.ranks === 1 ? '' : 's'}\n`);
  if (showZero2) parts.push(`ZeRO stages 1 and 2 (DeepSpeed's estimator; GB = 2^30 bytes):\n${formatZero2Estimate(model.params, ds)}`);
  if (showZero3) parts.push(`ZeRO stage 3 (DeepSpeed's estimator; GB = 2^30 bytes):\n${formatZero3Estimate(model.params, model.largestLayerParams!, ds)}`);
  else if (stage === null) parts.push('ZeRO stage 3: add --largest-layer <count> (or use --model) for its table\n');
  parts.push(breakdownText(states, stages, dtype, optimizer, hw.ranks));
  io.stdout(parts.join('\n'));
  return 0;
}
