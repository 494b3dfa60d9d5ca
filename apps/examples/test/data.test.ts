import { describe, expect, it } from 'vitest';
import { Generator } from '@ds/core';
import { ByteTokenizer, GPT2Tokenizer } from '@ds/models';
import { BatchSampler, detokenizeBrown, encodeDocuments, loadBrownCorpus, splitDocuments } from '../src/data.js';
import { CompactVocab, UNK_TEXT } from '../src/vocab.js';

describe('Brown Corpus', () => {
  const docs = loadBrownCorpus();

  it('loads all 500 documents of English text', () => {
    expect(docs.length).toBe(500);
    const chars = docs.reduce((n, d) => n + d.text.length, 0);
    expect(chars).toBeGreaterThan(5_000_000);
    expect(docs[0]!.id).toBe('ca01');
    expect(docs[0]!.category).toBe('news');
    expect(new Set(docs.map((d) => d.category)).size).toBe(15);
    expect(docs[0]!.text.startsWith('The Fulton County Grand Jury said Friday an investigation of')).toBe(true);
    const all = docs.map((d) => d.text).join('\n');
    for (const w of [' the ', ' and ', ' of ', ' which ', ' government ', ' said ']) expect(all).toContain(w);
    // the POS tags are gone (one odd token in cj76, "material/hr./*0F./in./nil", keeps a slash)
    expect((all.match(/\/(at|nn|vbd|in)\b/g) ?? []).length).toBeLessThan(3);
  });

  it('detokenizes tagged text', () => {
    const raw = "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, (/( see/vb above/rb )/) ./.\n\n\n\tIt's/pps+bez over/rb !/.\n";
    expect(detokenizeBrown(raw)).toBe('The jury said "no evidence", (see above).\nIt\'s over!');
  });

  it('selects an even spread of documents with maxDocs', () => {
    const few = loadBrownCorpus({ maxDocs: 10 });
    expect(few.length).toBe(10);
    expect(new Set(few.map((d) => d.category)).size).toBeGreaterThan(5);
  });

  it('splits by document', () => {
    const { train, val } = splitDocuments(docs);
    expect(train.length).toBe(450);
    expect(val.length).toBe(50);
    expect(new Set(val.map((d) => d.category)).size).toBeGreaterThan(10);
  });
});

describe('CompactVocab', () => {
  const tok = new GPT2Tokenizer();
  const docs = loadBrownCorpus({ maxDocs: 20 });
  const ids = encodeDocuments(tok, docs);

  it('separates documents with EOS', () => {
    expect(ids.filter((i) => i === tok.eosTokenId).length).toBe(20);
    expect(ids.at(-1)).toBe(tok.eosTokenId);
  });

  it('keeps the most frequent tokens and maps the rest to <unk>', () => {
    const vocab = CompactVocab.fromIds(ids, 512, { force: [tok.eosTokenId] });
    expect(vocab.size).toBe(512);
    expect(vocab.unkId).toBe(511);
    const compact = vocab.encode(ids);
    expect(compact.every((c) => c >= 0 && c < 512)).toBe(true);
    expect(vocab.sourceIds[0]).toBe(tok.encode(' the')[0]); // most frequent token
    expect(vocab.compactId(tok.eosTokenId)).toBeLessThan(511);
    const cov = vocab.coverage(ids);
    expect(cov).toBeGreaterThan(0.6);
    expect(cov).toBeLessThan(1);
    // every kept token maps back to itself; unknown ones become null
    const back = vocab.toSource(compact);
    for (let i = 0; i < ids.length; i++) {
      if (compact[i] === vocab.unkId) expect(back[i]).toBeNull();
      else expect(back[i]).toBe(ids[i]);
    }
  });

  it('round-trips text whose tokens are all in the vocabulary', () => {
    const vocab = CompactVocab.fromIds(ids, 8192);
    const text = 'The jury said that the city of Atlanta';
    const compact = vocab.encode(tok.encode(text));
    expect(compact.includes(vocab.unkId)).toBe(false);
    expect(vocab.decode(tok, compact)).toBe(text);
    // through JSON too
    const again = CompactVocab.fromJSON(JSON.parse(JSON.stringify(vocab.toJSON())));
    expect(Array.from(again.encode(tok.encode(text)))).toEqual(Array.from(compact));
    expect(again.decode(tok, compact)).toBe(text);
  });

  it('renders <unk> in decoded text', () => {
    // ' the' and ' cat' occur twice, ' dog' once: size 3 keeps ' the', ' cat' and <unk>
    const vocab = CompactVocab.fromIds(tok.encode(' the cat the cat the dog'), 3);
    expect(vocab.toSource([0, 1])).toEqual([262, tok.encode(' cat')[0]]);
    const compact = vocab.encode(tok.encode(' the cat the dog'));
    expect(Array.from(compact)).toEqual([0, 1, 0, 2]);
    expect(vocab.decode(tok, compact)).toBe(` the cat the${UNK_TEXT}`);
  });
});

describe('BatchSampler', () => {
  it('returns [batch, seq] windows with targets shifted by one', () => {
    const data = Int32Array.from({ length: 1000 }, (_, i) => i);
    const sampler = new BatchSampler(data, 4, 16, new Generator(7));
    for (let n = 0; n < 5; n++) {
      const { inputs, targets } = sampler.next();
      expect(inputs.shape).toEqual([4, 16]);
      expect(targets.shape).toEqual([4, 16]);
      expect(inputs.dtype).toBe('int64');
      const x = inputs.toArray() as bigint[][];
      const y = targets.toArray() as bigint[][];
      for (let b = 0; b < 4; b++) {
        for (let t = 0; t < 16; t++) {
          expect(y[b]![t]).toBe(x[b]![t]! + 1n); // data[i] = i, so the next token is +1
          if (t > 0) expect(x[b]![t]).toBe(x[b]![t - 1]! + 1n); // contiguous window
        }
        expect(Number(y[b]![15])).toBeLessThan(1000);
      }
    }
  });

  it('is reproducible from the seed', () => {
    const docs = loadBrownCorpus({ maxDocs: 4 });
    const data = encodeDocuments(new ByteTokenizer({ eos: true }), docs);
    const a = new BatchSampler(data, 2, 32, new Generator(3)).next();
    const b = new BatchSampler(data, 2, 32, new Generator(3)).next();
    expect(a.inputs.toArray()).toEqual(b.inputs.toArray());
    expect(a.targets.toArray()).toEqual(b.targets.toArray());
  });

  it('rejects data shorter than one window', () => {
    expect(() => new BatchSampler(new Int32Array(10), 1, 10, new Generator(0))).toThrow(RangeError);
  });
});
