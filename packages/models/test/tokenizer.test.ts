import { describe, expect, it } from 'vitest';
import { ByteTokenizer, GPT2Tokenizer } from '../src/index.js';

describe('GPT2Tokenizer', () => {
  const tok = new GPT2Tokenizer();

  it('has GPT-2 vocabulary constants', () => {
    expect(tok.vocabSize).toBe(50257);
    expect(tok.eosTokenId).toBe(50256);
    expect(tok.name).toBe('gpt2');
  });

  it('matches known GPT-2 encodings', () => {
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode(' the')).toEqual([262]);
    expect(tok.encode('The')).toEqual([464]);
    expect(tok.encode('hello')).toEqual([31373]);
    expect(tok.encode(' Hello')).toEqual([18435]);
    expect(tok.encode('!')).toEqual([0]);
    expect(tok.encode('Hello, world!')).toEqual([15496, 11, 995, 0]);
    expect(tok.encode('')).toEqual([]);
  });

  it('treats <|endoftext|> as EOS by default and as text on request', () => {
    expect(tok.encode('<|endoftext|>')).toEqual([50256]);
    expect(tok.encode('a<|endoftext|>b')).toEqual([...tok.encode('a'), 50256, ...tok.encode('b')]);
    expect(tok.encode('<|endoftext|>', { allowSpecial: false })).toEqual([27, 91, 437, 1659, 5239, 91, 29]);
    expect(tok.decode([50256])).toBe('<|endoftext|>');
  });

  it('decodes known ids', () => {
    expect(tok.decode([15496, 995])).toBe('Hello world');
    expect(tok.decode([262])).toBe(' the');
  });

  it('round-trips unicode text', () => {
    const texts = [
      'The quick brown fox jumps over the lazy dog.\n\n  Indented\ttab',
      'naïve café, Straße, Ærøskøbing — “quotes” … ½',
      '日本語のテキスト、中文文本, 한국어 텍스트',
      'emoji 🦀🚀👩‍👩‍👧 and a flag 🇩🇪',
      'mixed 123 4567 numbers, symbols #$%^&*() and   spaces   ',
    ];
    for (const t of texts) {
      const ids = tok.encode(t);
      expect(ids.every((i) => Number.isInteger(i) && i >= 0 && i < tok.vocabSize)).toBe(true);
      expect(tok.decode(ids)).toBe(t);
    }
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => tok.decode([50257])).toThrow(RangeError);
    expect(() => tok.decode([-1])).toThrow(/outside the vocabulary/);
  });
});

describe('ByteTokenizer', () => {
  it('maps UTF-8 bytes to ids 0..255', () => {
    const tok = new ByteTokenizer();
    expect(tok.vocabSize).toBe(256);
    expect(tok.eosTokenId).toBeNull();
    expect(tok.encode('Hi!')).toEqual([72, 105, 33]);
    expect(tok.encode('é')).toEqual([0xc3, 0xa9]);
    expect(tok.encode('€')).toEqual([0xe2, 0x82, 0xac]);
    expect(tok.encode('🦀')).toEqual([0xf0, 0x9f, 0xa6, 0x80]);
  });

  it('round-trips text with multi-byte characters', () => {
    const tok = new ByteTokenizer();
    for (const t of ['plain ascii', 'naïve café — ½', '日本語 中文 한국어', '🦀🚀👩‍👩‍👧 🇩🇪', '']) {
      const ids = tok.encode(t);
      expect(ids.length).toBe(Buffer.byteLength(t, 'utf8'));
      expect(ids.every((i) => i >= 0 && i < 256)).toBe(true);
      expect(tok.decode(ids)).toBe(t);
    }
  });

  it('has an optional EOS id 256', () => {
    const tok = new ByteTokenizer({ eos: true });
    expect(tok.vocabSize).toBe(257);
    expect(tok.eosTokenId).toBe(256);
    const ids = [...tok.encode('a€'), 256, ...tok.encode('b')];
    expect(tok.decode(ids)).toBe('a€<|endoftext|>b');
    expect(() => new ByteTokenizer().decode([256])).toThrow(RangeError);
  });

  it('replaces a truncated multi-byte sequence with U+FFFD', () => {
    const tok = new ByteTokenizer();
    expect(tok.decode([0xe2, 0x82])).toBe('\ufffd');
  });
});
