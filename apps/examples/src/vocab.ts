// Compact vocabulary: GPT-2's BPE has 50,257 ids, but a small model (vocab 8192) cannot
// embed them all. We keep the `size - 1` BPE tokens the corpus uses most often, renumber
// them 0 .. size-2 by descending frequency, and send every other token to one <unk> id
// (size - 1). The model only ever sees compact ids; `toSource` maps them back to BPE ids
// for decoding. On the Brown Corpus the 8191 most frequent tokens cover ~91 % of the tokens.
import type { Tokenizer } from '@ds/models';

export const UNK_TEXT = '<unk>';

export interface CompactVocabJSON {
  size: number;
  unkId: number;
  /** Source (tokenizer) id of compact id i, for i < unkId. */
  sourceIds: number[];
}

export class CompactVocab {
  /** Compact id of each source id (unkId when not kept). */
  readonly #toCompact: Map<number, number>;

  private constructor(
    /** Number of compact ids the model must embed (kept tokens + <unk>). */
    readonly size: number,
    /** The <unk> id: size - 1. */
    readonly unkId: number,
    /** sourceIds[c] = the tokenizer id behind compact id c (c < unkId). */
    readonly sourceIds: Int32Array,
  ) {
    this.#toCompact = new Map();
    sourceIds.forEach((s, c) => this.#toCompact.set(s, c));
  }

  /**
   * Keep the `size - 1` most frequent ids of `ids` (ties: lower id first) plus any `force`d
   * ids (e.g. EOS). When the data uses fewer distinct ids, the vocabulary is smaller than
   * `size`; the model may still be built with the requested size (the extra rows go unused).
   */
  static fromIds(ids: ArrayLike<number>, size: number, opts: { force?: readonly number[] } = {}): CompactVocab {
    if (!Number.isInteger(size) || size < 2) throw new RangeError(`CompactVocab: size must be an integer >= 2, got ${size}`);
    const counts = new Map<number, number>();
    for (let i = 0; i < ids.length; i++) counts.set(ids[i]!, (counts.get(ids[i]!) ?? 0) + 1);
    const force = [...new Set(opts.force ?? [])];
    if (force.length > size - 1) throw new RangeError(`CompactVocab: ${force.length} forced ids do not fit in size ${size}`);
    const ranked = [...counts.entries()]
      .filter(([id]) => !force.includes(id))
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .map(([id]) => id);
    const keep = ranked.slice(0, size - 1 - force.length);
    // forced ids take the slot their frequency earns, else the last kept slots
    const kept = [...keep, ...force].sort((a, b) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0) || a - b);
    return new CompactVocab(kept.length + 1, kept.length, Int32Array.from(kept));
  }

  static fromJSON(json: CompactVocabJSON): CompactVocab {
    if (json.unkId !== json.sourceIds.length || json.size !== json.unkId + 1) {
      throw new RangeError(`CompactVocab.fromJSON: inconsistent sizes (size ${json.size}, unkId ${json.unkId}, ${json.sourceIds.length} ids)`);
    }
    return new CompactVocab(json.size, json.unkId, Int32Array.from(json.sourceIds));
  }

  toJSON(): CompactVocabJSON {
    return { size: this.size, unkId: this.unkId, sourceIds: Array.from(this.sourceIds) };
  }

  /** Compact id of one source id. */
  compactId(sourceId: number): number {
    return this.#toCompact.get(sourceId) ?? this.unkId;
  }

  /** Source ids -> compact ids (unknown -> unkId). */
  encode(sourceIds: ArrayLike<number>): Int32Array {
    const out = new Int32Array(sourceIds.length);
    for (let i = 0; i < out.length; i++) out[i] = this.compactId(sourceIds[i]!);
    return out;
  }

  /** Compact ids -> source ids; <unk> (and ids out of range) become null. */
  toSource(compactIds: ArrayLike<number>): (number | null)[] {
    return Array.from(compactIds as ArrayLike<number>, (c) => (c >= 0 && c < this.unkId ? this.sourceIds[c]! : null));
  }

  /** Fraction of `sourceIds` that are not <unk>. */
  coverage(sourceIds: ArrayLike<number>): number {
    if (sourceIds.length === 0) return 1;
    let known = 0;
    for (let i = 0; i < sourceIds.length; i++) if (this.#toCompact.has(sourceIds[i]!)) known++;
    return known / sourceIds.length;
  }

  /** Decode compact ids to text with `tokenizer`, writing "<unk>" for unknown tokens. */
  decode(tokenizer: Tokenizer, compactIds: ArrayLike<number>): string {
    let out = '';
    let run: number[] = [];
    for (const s of this.toSource(compactIds)) {
      if (s === null) {
        if (run.length) out += tokenizer.decode(run);
        run = [];
        out += UNK_TEXT;
      } else run.push(s);
    }
    if (run.length) out += tokenizer.decode(run);
    return out;
  }
}
