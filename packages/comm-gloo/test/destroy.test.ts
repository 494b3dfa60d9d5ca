// Tearing down: a process that joined through initDistributed and calls only `world.destroy()`
// exits by itself — the rendezvous store it was created with is closed too.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { explain, killAll, run, skipReason } from './helpers.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'destroy-world.ts');
const reason = skipReason();

describe.skipIf(reason !== null)('world.destroy()', () => {
  afterAll(killAll);

  it('ends the distributed state and the store: both ranks exit on their own', async () => {
    const t0 = Date.now();
    const outs = await run(2, 'destroy-world', { script: SCRIPT, deadlineMs: 20_000 });
    expect(outs.map((o) => [o.code, o.signal]), explain(outs)).toEqual([[0, null], [0, null]]);
    expect(outs.map((o) => o.result?.sum)).toEqual([3, 3]);
    expect(Date.now() - t0).toBeLessThan(20_000); // not killed at the deadline
  });
});
