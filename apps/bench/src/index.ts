// ds-bench: `node apps/bench/dist/index.js [suite...] [--quick] [--threads N] [--json-only] [--compare-c]`
// Suites: gemm, adam, gpt2 (the default set), comm (collectives, in-process and gloo) and
// engine (data-parallel GPT-2 through @ds/engine at 1 and 2 ranks, fp32 and bf16), zero (ZeRO stages
// 0-3 and CPU offload at 2 ranks: step time, peak RSS; offload's fused CPU Adam) and zero-nvme
// (the largest GPT-2 shape that trains a step with ZeRO's optimizer offloaded to NVMe). Each measurement is one JSON line on stdout;
// then (unless --json-only) what ran and a table beside the PyTorch baselines.
import { Command, InvalidArgumentError, Option } from 'commander';
import { setNumThreads } from '@ds/core';
import { runAdamSuite } from './adam.js';
import { GPT2_SIZES, type Gpt2Size } from './baselines.js';
import { collectEnv, envSummary } from './env.js';
import { runGemmSuite } from './gemm.js';
import { GPT2_CHILD_FLAG, runGpt2Child, runGpt2Suite } from './gpt2.js';
import { emit, note, renderReport, type BenchRecord } from './report.js';
import { COMM_RANK_FLAG, runCommSuite, runGlooRank } from './comm.js';
import { ENGINE_RANK_FLAG, runEngineRank, runEngineSuite } from './engine.js';
import { ZERO_RANK_FLAG, runZeroRank, runZeroSuite } from './zero.js';
import { NVME_SIZES, ZERO_NVME_CHILD_FLAG, runZeroNvmeChild, runZeroNvmeSuite, type NvmeSize } from './zero-nvme.js';

export const SUITES = ['gemm', 'adam', 'gpt2', 'comm', 'engine', 'zero', 'zero-nvme'] as const;
export type Suite = (typeof SUITES)[number];

interface CliOptions {
  quick?: boolean;
  threads?: number;
  jsonOnly?: boolean;
  compareC?: boolean;
  pytorch?: boolean;
  steps?: number;
  warmup?: number;
  gpt2Child?: string;
  commGlooRank?: string;
  engineRank?: string;
  nvmePath?: string;
  nvmeSizes?: NvmeSize[];
  nvmeOffloadParam?: boolean;
  zeroNvmeChild?: string;
  zeroRank?: string;
}

function positiveInt(name: string, allowZero = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new InvalidArgumentError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer`);
    return n;
  };
}

function nvmeSizes(v: string): NvmeSize[] {
  const sizes = v.split(',').map((x) => x.trim());
  const bad = sizes.filter((x) => !(x in NVME_SIZES));
  if (bad.length) throw new InvalidArgumentError(`unknown size(s) ${bad.join(', ')}; valid: ${Object.keys(NVME_SIZES).join(', ')}`);
  return sizes as NvmeSize[];
}

export function buildProgram(): Command {
  return new Command()
    .name('ds-bench')
    .description('Benchmarks for ds (sgemm, fused AdamW, GPT-2 training) beside PyTorch baselines measured on the same machine kind')
    .argument('[suite...]', `suites to run: ${SUITES.join(', ')} (default: gemm adam gpt2)`)
    .option('--quick', 'smaller run: gemm without 4096^3, fewer reps, gpt2 small only')
    .option('--threads <n>', 'kernel threads (setNumThreads; GEMM included); default: the kernels\' own', positiveInt('--threads'))
    .option('--json-only', 'print only the JSON records (no environment report or table)')
    .option('--compare-c', 'gemm: also compile and run a C program calling cblas_sgemm at the same sizes')
    .option('--pytorch', 'gpt2, engine, comm: also run the same model in PyTorch (python3 with torch; DDP at 2 ranks) right after, and report the ratio')
    .option('--steps <n>', 'gpt2: timed steps per size', positiveInt('--steps'))
    .option('--warmup <n>', 'gpt2: warm-up steps per size (excluded)', positiveInt('--warmup', true))
    .option('--nvme-path <dir>', 'zero-nvme: directory for the swap files (default: the OS temp dir)')
    .option('--nvme-sizes <list>', `zero-nvme: comma-separated sizes, smallest first (${Object.keys(NVME_SIZES).join(', ')})`, nvmeSizes)
    .option('--nvme-offload-param', 'zero-nvme: ZeRO stage 3 with the parameters on NVMe too (offload_param nvme, zeroInit construction)')
    .addOption(new Option(`${ZERO_NVME_CHILD_FLAG} <spec>`, 'internal: one size of the zero-nvme suite').hideHelp())
    .addOption(new Option(`${GPT2_CHILD_FLAG} <size>`, 'internal: run one gpt2 size in this process').hideHelp())
    .addOption(new Option(`${COMM_RANK_FLAG} <maxBytes>`, 'internal: one gloo rank of the comm suite').hideHelp())
    .addOption(new Option(`${ENGINE_RANK_FLAG} <spec>`, 'internal: one rank of the engine suite').hideHelp())
    .addOption(new Option(`${ZERO_RANK_FLAG} <spec>`, 'internal: one rank of the zero suite').hideHelp())
    .showHelpAfterError();
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  program.parse(argv);
  const opts = program.opts<CliOptions>();

  if (opts.gpt2Child !== undefined) {
    const size = opts.gpt2Child;
    if (!(size in GPT2_SIZES)) throw new Error(`${GPT2_CHILD_FLAG}: unknown size ${JSON.stringify(size)}`);
    runGpt2Child(size as Gpt2Size, { quick: !!opts.quick, threads: opts.threads, steps: opts.steps, warmup: opts.warmup });
    return;
  }

  if (opts.zeroNvmeChild !== undefined) {
    await runZeroNvmeChild(JSON.parse(opts.zeroNvmeChild));
    return;
  }

  if (opts.engineRank !== undefined) {
    await runEngineRank(JSON.parse(opts.engineRank));
    return;
  }

  if (opts.zeroRank !== undefined) {
    await runZeroRank(JSON.parse(opts.zeroRank));
    return;
  }

  if (opts.commGlooRank !== undefined) {
    await runGlooRank(Number(opts.commGlooRank));
    return;
  }

  const requested = program.args.length ? program.args : ['gemm', 'adam', 'gpt2'];
  const unknown = requested.filter((s) => !(SUITES as readonly string[]).includes(s));
  if (unknown.length) program.error(`unknown suite(s): ${unknown.join(', ')} (expected ${SUITES.join(', ')})`);
  const suites = [...new Set(requested)] as Suite[];

  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const env = collectEnv();
  const context = envSummary(env);
  note(`ds-bench: ${suites.join(', ')}${opts.quick ? ' (quick)' : ''} on ${env.kernels} kernels, BLAS core ${env.blas.core}, ${env.blas.threads} thread(s), simd ${env.simd}`);

  const records: BenchRecord[] = [];
  const onRecord = (r: BenchRecord): void => {
    records.push(r);
    emit(r);
  };
  for (const suite of suites) {
    if (suite === 'gemm') runGemmSuite({ quick: !!opts.quick, compareC: !!opts.compareC, context, onRecord });
    else if (suite === 'adam') runAdamSuite({ quick: !!opts.quick, context, onRecord });
    else if (suite === 'comm') await runCommSuite({ quick: !!opts.quick, pytorch: !!opts.pytorch, onRecord, script: process.argv[1]! });
    else if (suite === 'engine') await runEngineSuite({ quick: !!opts.quick, pytorch: !!opts.pytorch, onRecord, script: process.argv[1]! });
    else if (suite === 'zero') await runZeroSuite({ quick: !!opts.quick, onRecord, script: process.argv[1]! });
    else if (suite === 'zero-nvme') await runZeroNvmeSuite({ quick: !!opts.quick, onRecord, script: process.argv[1]!, nvmePath: opts.nvmePath, sizes: opts.nvmeSizes, offloadParam: !!opts.nvmeOffloadParam });
    else runGpt2Suite({ quick: !!opts.quick, threads: opts.threads, steps: opts.steps, warmup: opts.warmup, pytorch: !!opts.pytorch, onRecord });
  }
  if (opts.compareC && !suites.includes('gemm')) note('--compare-c applies to the gemm suite only; ignored');
  if (!opts.jsonOnly) process.stdout.write(`${renderReport(records, env)}\n`);
}

// Awaited at the top level: under `ds run --backend inproc` a rank is finished when its module is.
await main().catch((err: unknown) => {
  process.stderr.write(`ds-bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
