// Two "hosts": rank 0 and rank 1 in network namespaces of their own, joined by a veth pair
// with 10.x addresses, so rendezvous and Gloo traffic cross a real (virtual) link instead of
// loopback. The test creates the namespaces and removes them afterwards; it needs root and
// iproute2, and is skipped (saying why) without them.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, killAll, run, skipReason } from './helpers.js';

const tag = `dsg${process.pid % 100000}`;
const nsA = `${tag}a`;
const nsB = `${tag}b`;
const subnet = `10.${200 + (process.pid % 50)}.${process.pid % 250}`;
const addrA = `${subnet}.1`;
const addrB = `${subnet}.2`;

function ip(...args: string[]): { ok: boolean; err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { ok: r.status === 0, err: (r.error?.message ?? r.stderr ?? '').trim() };
}

function netnsReason(): string | null {
  const native = skipReason();
  if (native) return native;
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  const probe = `${tag}probe`;
  const r = ip('netns', 'add', probe);
  if (!r.ok) return `\`ip netns add\` is unavailable here: ${r.err || 'iproute2 missing?'}`;
  ip('netns', 'del', probe);
  return null;
}

const reason = netnsReason();
if (reason) console.warn(`[comm-gloo] skipping the two-host (network namespace) test: ${reason}`);

function cleanup(): void {
  ip('netns', 'del', nsA);
  ip('netns', 'del', nsB);
}

describe.skipIf(reason !== null)('gloo across two hosts (network namespaces)', () => {
  beforeAll(() => {
    cleanup();
    const steps: string[][] = [
      ['netns', 'add', nsA],
      ['netns', 'add', nsB],
      ['link', 'add', `${tag}va`, 'type', 'veth', 'peer', 'name', `${tag}vb`],
      ['link', 'set', `${tag}va`, 'netns', nsA],
      ['link', 'set', `${tag}vb`, 'netns', nsB],
      ['-n', nsA, 'addr', 'add', `${addrA}/24`, 'dev', `${tag}va`],
      ['-n', nsB, 'addr', 'add', `${addrB}/24`, 'dev', `${tag}vb`],
      ['-n', nsA, 'link', 'set', `${tag}va`, 'up'],
      ['-n', nsB, 'link', 'set', `${tag}vb`, 'up'],
      ['-n', nsA, 'link', 'set', 'lo', 'up'],
      ['-n', nsB, 'link', 'set', 'lo', 'up'],
    ];
    for (const s of steps) {
      const r = ip(...s);
      if (!r.ok) throw new Error(`ip ${s.join(' ')} failed: ${r.err}`);
    }
  });

  afterAll(() => {
    killAll();
    cleanup();
  });

  it('rank 0 in one namespace and rank 1 in another all-reduce over the veth link', async () => {
    const outs = await run(2, 'hosts', {
      masterAddr: addrA,
      prefix: (rank) => ['ip', 'netns', 'exec', rank === 0 ? nsA : nsB],
    });
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    for (const o of outs) {
      expect(o.result.value).toEqual([3, 200]);
      expect(o.result.big).toEqual([3, 3]);
      // Different network namespaces count as different hosts: no shared memory between them.
      expect(o.result.transport.collectives).toBe('tcp');
      // Each rank listened on its own namespace's address (derived from MASTER_ADDR's route).
      expect(o.result.addresses[0]).toMatch(new RegExp(`^\\[${addrA.replace(/\./g, '\\.')}\\]:\\d+$`));
      expect(o.result.addresses[1]).toMatch(new RegExp(`^\\[${addrB.replace(/\./g, '\\.')}\\]:\\d+$`));
    }
  });
});
