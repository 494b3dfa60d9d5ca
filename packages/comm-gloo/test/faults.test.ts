// Fault injection: a rank that skips a collective, ranks that call different collectives,
// and a rank killed with SIGKILL. The others must fail within the timeout, naming the rank,
// the collective and its sequence number; no process may be left behind.
import { afterAll, describe, expect, it } from 'vitest';
import { explain, killAll, launch, run, skipReason } from './helpers.js';

const reason = skipReason();
if (reason) console.warn(`[comm-gloo] skipping fault-injection tests: ${reason}`);

// Same host: collectives meet in shared memory; DS_GLOO_SHM_BYTES=0 sends them over TCP as
// between hosts. The diagnosis must not depend on the transport.
const TRANSPORTS = [
  ['shared memory', {}],
  ['tcp', { DS_GLOO_SHM_BYTES: '0' }],
] as const;

describe.skipIf(reason !== null).each(TRANSPORTS)('gloo fault diagnosis (%s)', (_name, transportEnv) => {
  afterAll(killAll);

  it('a rank that skips a collective: the others time out naming it', async () => {
    const outs = await run(3, 'skip', { env: { ...transportEnv, OP_TIMEOUT_MS: '1500', SKIP_SLEEP_MS: '2500' } });
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    for (const r of [0, 2]) {
      const res = outs[r]!.result;
      expect(res.error.name).toBe('CommTimeoutError');
      expect(res.error.missingRanks).toEqual([1]);
      expect(res.error.seq).toBe(1);
      expect(res.error.message).toContain('allReduce #1 (float32 [1024], sum) timed out after 1500 ms waiting for rank 1');
      expect(res.error.message).toContain('ranks 0, 2 did');
      expect(res.elapsedMs).toBeGreaterThanOrEqual(1400);
      expect(res.elapsedMs).toBeLessThan(1500 + 1500);
      // The group is unusable afterwards, and says why at once.
      expect(res.after.name).toBe('GroupAbortedError');
      expect(res.after.message).toContain('unusable after an earlier failure');
    }
  });

  it('without the call check (DS_COMM_CHECK=0) a skipped collective still times out with the op, seq and shape', async () => {
    const outs = await run(2, 'skip', { env: { ...transportEnv, OP_TIMEOUT_MS: '1000', SKIP_SLEEP_MS: '2000', DS_COMM_CHECK: '0' } });
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    const res = outs[0]!.result;
    expect(res.error.name).toBe('CommTimeoutError');
    expect(res.error.message).toContain('allReduce #1 (float32 [1024], sum) timed out after 1000 ms');
  });

  for (const [variant, size, expected] of [
    ['op', 2, 'allReduce #1 mismatch: rank 0 called allReduce(float32 [1024], sum) but rank 1 called broadcast(float32 [1024], src=0)'],
    ['shape', 3, 'allReduce #1 mismatch: rank 0 called allReduce(float32 [1024], sum) but rank 2 called allReduce(float32 [512], sum)'],
    ['large', 3, 'allReduce #1 mismatch: rank 0 called allReduce(float32 [1024], sum) but rank 2 called allReduce(float32 [1048576], sum)'],
    ['dtype', 3, 'allReduce #1 mismatch: rank 0 called allReduce(float16 [1024], sum) but rank 1 called allReduce(float32 [1024], sum), rank 2 called allReduce(float32 [1024], sum)'],
  ] as const) {
    it(`mismatched calls (${variant}) raise the same error on every rank`, async () => {
      const outs = await run(size, 'mismatch', { env: { ...transportEnv, VARIANT: variant } });
      expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
      for (const o of outs) {
        expect(o.result.error.name, explain(outs)).toBe('CommMismatchError');
        expect(o.result.error.message).toBe(expected);
        expect(o.result.error.seq).toBe(1);
      }
    });
  }

  it('allToAll whose split sizes disagree: the rank that would receive the wrong count says so', async () => {
    const outs = await run(2, 'mismatch', { env: { ...transportEnv, VARIANT: 'splits' } });
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    const err = outs[1]!.result.error;
    expect(err?.name, explain(outs)).toBe('CommMismatchError');
    expect(err.message).toContain('mismatch: rank 0 sends 2 elements to rank 1, which expects 3');
  });

  it('a rank killed with SIGKILL: the others fail promptly, naming it', async () => {
    const l = await launch(3, 'kill', { env: { ...transportEnv, OP_TIMEOUT_MS: '5000' } });
    await l.waitFor('ready', [0, 1, 2]);
    l.children[2]!.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    for (const r of [0, 1]) l.children[r]!.send({ kind: 'go' });
    const outs = await l.done;
    expect(outs[2]!.signal).toBe('SIGKILL');
    for (const r of [0, 1]) {
      const res = outs[r]!.result;
      expect(outs[r]!.code, explain(outs)).toBe(0);
      expect(res.error.name).toBe('RankFailedError');
      expect(res.error.failedRanks).toEqual([2]);
      expect(res.error.message).toMatch(/allReduce #1 \(float32 \[65536\], sum\) failed: lost connection to rank 2/);
      expect(res.elapsedMs).toBeLessThan(5000);
    }
  });
});

describe.skipIf(reason !== null)('gloo fault diagnosis in shared memory', () => {
  afterAll(killAll);

  it('a rank that arrives after the others gave up fails at once, quoting their reason', async () => {
    const outs = await run(3, 'late', { env: { OP_TIMEOUT_MS: '1000', SKIP_SLEEP_MS: '2000' } });
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    for (const r of [0, 2]) expect(outs[r]!.result.error.name).toBe('CommTimeoutError');
    const late = outs[1]!.result;
    expect(late.error.name, explain(outs)).toBe('GroupAbortedError');
    expect(late.error.message).toMatch(/^allReduce #1 \(float32 \[1024\], sum\) failed: rank [02] gave up on the group: allReduce #1 \(float32 \[1024\], sum\) timed out after 1000 ms waiting for rank 1/);
    // Not its own 20 s timeout.
    expect(late.elapsedMs).toBeLessThan(1000);
  });
});
