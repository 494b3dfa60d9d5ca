import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostfileError, parseHostfile, readHostfile } from '../src/run/hostfile.js';

describe('parseHostfile', () => {
  it("reads DeepSpeed's good hostfile, skipping blank and comment lines, in order", () => {
    const pool = parseHostfile(
      ['# cluster', 'worker-1 slots=2', '', 'worker-2 slots=2', '   # indented comment', 'localhost slots=1', '123.23.12.10 slots=2', ''].join('\n'),
    );
    expect([...pool]).toEqual([['worker-1', 2], ['worker-2', 2], ['localhost', 1], ['123.23.12.10', 2]]);
  });

  it('tolerates surrounding whitespace, CRLF and trailing text after slots=N', () => {
    const pool = parseHostfile('  a   slots=4   max_slots=8\r\nb\tslots=1 # spare\r\n');
    expect([...pool]).toEqual([['a', 4], ['b', 1]]);
  });

  it('rejects a duplicate host, naming both lines', () => {
    expect(() => parseHostfile('a slots=1\nb slots=1\na slots=2', 'hf')).toThrow(
      /^hf:3: host "a" is listed twice \(first on line 1\)/,
    );
  });

  it('rejects bad lines with their line number and text', () => {
    const bad = (text: string) => {
      try {
        parseHostfile(text, 'hf');
      } catch (e) {
        expect(e).toBeInstanceOf(HostfileError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(bad('this is bad slots=1')).toMatch(/^hf:1: bad entry "this is bad slots=1": expected "<hostname> slots=<count>"/);
    expect(bad('# c\n\nmissingslots')).toMatch(/^hf:3: bad entry "missingslots"/);
    expect(bad('a slots=2\nb slots=two')).toMatch(/^hf:2: bad entry "b slots=two"/);
  });

  it('rejects an empty file or one with only comments', () => {
    expect(() => parseHostfile('', 'hf')).toThrow(/^hf: no hosts/);
    expect(() => parseHostfile('# nothing\n\n', 'hf')).toThrow(/^hf: no hosts/);
  });
});

describe('readHostfile', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-hostfile-'));

  it('returns null for a missing default hostfile and throws for a missing explicit one', () => {
    const missing = path.join(dir, 'nope');
    expect(readHostfile(missing, false)).toBeNull();
    expect(() => readHostfile(missing, true)).toThrow(/hostfile .*nope does not exist/);
  });

  it('parses a file and names it in errors', () => {
    const good = path.join(dir, 'good');
    writeFileSync(good, 'h1 slots=2\nh2 slots=3\n');
    expect([...readHostfile(good, true)!]).toEqual([['h1', 2], ['h2', 3]]);
    const bad = path.join(dir, 'bad');
    writeFileSync(bad, 'h1 slots=2\noops\n');
    expect(() => readHostfile(bad, true)).toThrow(`${bad}:2: bad entry "oops"`);
  });
});
