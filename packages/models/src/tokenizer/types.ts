/** What the models and examples need from a tokenizer. */
export interface Tokenizer {
  /** Short name, e.g. "gpt2" or "byte". */
  readonly name: string;
  /** Number of ids encode() can produce (ids are 0 .. vocabSize-1). */
  readonly vocabSize: number;
  /** End-of-text id, or null when the tokenizer has none. */
  readonly eosTokenId: number | null;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}
