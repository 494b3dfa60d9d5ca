// Byte-level tokenizer: one id per UTF-8 byte (0..255), plus an optional EOS id 256.
import type { Tokenizer } from './types.js';

export interface ByteTokenizerOptions {
  /** Add an end-of-text id 256 (vocabSize 257). Default false (vocabSize 256). */
  eos?: boolean;
}

const encoder = new TextEncoder();

export class ByteTokenizer implements Tokenizer {
  readonly name = 'byte';
  readonly vocabSize: number;
  readonly eosTokenId: number | null;

  constructor(opts: ByteTokenizerOptions = {}) {
    this.eosTokenId = opts.eos ? 256 : null;
    this.vocabSize = opts.eos ? 257 : 256;
  }

  encode(text: string): number[] {
    return Array.from(encoder.encode(text));
  }

  /**
   * Bytes back to text. Invalid UTF-8 (e.g. a sequence cut in the middle of a character)
   * becomes U+FFFD; the EOS id becomes "<|endoftext|>".
   */
  decode(ids: readonly number[]): string {
    const decoder = new TextDecoder('utf-8', { fatal: false });
    let out = '';
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) out += decoder.decode(Uint8Array.from(bytes));
      bytes = [];
    };
    for (const id of ids) {
      if (id === this.eosTokenId) {
        flush();
        out += '<|endoftext|>';
      } else if (Number.isInteger(id) && id >= 0 && id < 256) {
        bytes.push(id);
      } else {
        throw new RangeError(`ByteTokenizer.decode: id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
      }
    }
    flush();
    return out;
  }
}
