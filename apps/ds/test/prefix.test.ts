import { describe, expect, it } from 'vitest';
import { LinePrefixer, rankPrefix, TailBuffer } from '../src/run/prefix.js';

describe('LinePrefixer', () => {
  it('prefixes complete lines and holds a partial line until it ends', () => {
    const writes: string[] = [];
    const p = new LinePrefixer(rankPrefix(2), (s) => writes.push(s));
    p.push(Buffer.from('a\nb'));
    expect(writes).toEqual(['[rank 2] a\n']);
    p.push(Buffer.from('c\nd\ne\n'));
    expect(writes).toEqual(['[rank 2] a\n', '[rank 2] bc\n[rank 2] d\n[rank 2] e\n']);
    p.push(Buffer.from('tail'));
    p.end();
    expect(writes.at(-1)).toBe('[rank 2] tail\n');
  });

  it('keeps multi-byte characters split across chunks intact', () => {
    const writes: string[] = [];
    const p = new LinePrefixer('> ', (s) => writes.push(s));
    const bytes = Buffer.from('héllo €\n');
    p.push(bytes.subarray(0, 2));
    p.push(bytes.subarray(2, 8));
    p.push(bytes.subarray(8));
    expect(writes.join('')).toBe('> héllo €\n');
  });

  it('reports every line to the tail callback, including blank ones', () => {
    const lines: string[] = [];
    const p = new LinePrefixer('', () => {}, (l) => lines.push(l));
    p.push('x\n\ny');
    p.end();
    expect(lines).toEqual(['x', '', 'y']);
  });
});

describe('TailBuffer', () => {
  it('keeps the last N lines', () => {
    const t = new TailBuffer(3);
    for (let i = 0; i < 10; i++) t.push(`l${i}`);
    expect(t.lines()).toEqual(['l7', 'l8', 'l9']);
  });
});
