// GPT-2's byte-level BPE (the r50k "gpt2" encoding) via js-tiktoken, with the ranks that ship
// inside the package: nothing is downloaded at run time.
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';
import type { Tokenizer } from './types.js';

export const GPT2_EOS_TEXT = '<|endoftext|>';

export interface GPT2EncodeOptions {
  /**
   * Whether "<|endoftext|>" in the text becomes the single EOS id 50256 (true, the default,
   * like Hugging Face's GPT2Tokenizer) or is encoded as ordinary text (false).
   */
  allowSpecial?: boolean;
}

let shared: Tiktoken | null = null;

/** GPT-2 BPE: vocabSize 50257, eosTokenId 50256 ("<|endoftext|>"). */
export class GPT2Tokenizer implements Tokenizer {
  readonly name = 'gpt2';
  readonly vocabSize = 50257;
  readonly eosTokenId = 50256;
  readonly #enc: Tiktoken;

  constructor() {
    // Building the rank tables takes ~100 ms; every instance shares one.
    this.#enc = shared ??= new Tiktoken(gpt2Ranks);
  }

  encode(text: string, opts: GPT2EncodeOptions = {}): number[] {
    return opts.allowSpecial === false ? this.#enc.encode(text, [], []) : this.#enc.encode(text, 'all', []);
  }

  decode(ids: readonly number[]): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`GPT2Tokenizer.decode: id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
      }
    }
    return this.#enc.decode(ids as number[]);
  }
}
