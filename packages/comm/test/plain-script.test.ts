// A rank script that does not await its main() (the usual Node pattern) runs to the end of its
// event loop under the in-process launcher, as it would as a process.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchInProcess } from '../src/index.js';

const script = new URL('./fixtures/plain-script.ts', import.meta.url);

describe('in-process ranks running plain scripts', () => {
  it.each([['returns', 'end'], ['calls process.exit(0)', 'exit']])('finishes when its event loop is empty (script %s)', async (_what, mode) => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'ds-plain-')), 'sum.json');
    const file = new URL(script).pathname;
    const results = await launchInProcess({ nprocs: 3, script, argv: [process.execPath, file, out, mode], timeoutMs: 10_000 });
    expect(results).toEqual([undefined, undefined, undefined]);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual([6]);
  });
});
