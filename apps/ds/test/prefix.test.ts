import { describe, expect, it } from 'vitest';
import { LinePrefixer, rankPrefix, TailBuffer } from '../src/run/prefix.js';

describe('LinePrefixer', () => {
  it('live: a line from another stream first ends the bar that is mid-line', () => {
    const writes: string[] = [];
    const screen = { open: null };
    const err = new LinePrefixer('[rank 0] ', (s) => writes.push(s), undefined, { live: true, screen });
    const out = new LinePrefixer('[rank 0] ', (s) => writes.push(s), undefined, { live: true, screen });
    err.push('\rbar 1/2');
    out.push('saved checkpoint\n');
    err.push('\rbar 2/2');
    expect(writes.join('')).toBe('[rank 0] \r[rank 0] bar 1/2\n[rank 0] saved checkpoint\n[rank 0] \r[rank 0] bar 2/2');
  });

  it('live: writes partial lines at once, prefixing after every return to column 0', () => {
    const writes: string[] = [];
    const tail: string[] = [];
    const p = new LinePrefixer('[rank 0] ', (s) => writes.push(s), (l) => tail.push(l), { live: true });
    p.push('step 1\r');
    p.push('step 2\x1b');
    expect(writes.join('')).toBe('[rank 0] step 1\r[rank 0] step 2'); // the cut-off escape waits
    p.push('[0Kx\x1b[1Gstep 3\nnext');
    expect(writes.join('')).toBe('[rank 0] step 1\r[rank 0] step 2\x1b[0Kx\x1b[1G[rank 0] step 3\n[rank 0] next');
    p.end();
    expect(writes.join('')).toMatch(/\[rank 0\] next\n$/);
    // the failure tail sees what the terminal showed: the last redraw, no escape codes
    expect(tail).toEqual(['step 3', 'next']);
  });

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
