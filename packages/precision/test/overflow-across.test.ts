// overflowAcross and the updater's skip decision across in-process ranks (threads): one rank's
// inf or NaN makes every rank skip.
import { describe, expect, it } from 'vitest';
import { initDistributed, launchInProcess } from '@ds/comm';
import { overflowAcross } from '@ds/precision';

const script = new URL('./fixtures/ranks.ts', import.meta.url);

describe('overflowAcross', () => {
  it('is the local flag in a world of one', async () => {
    const world = await initDistributed();
    expect(await overflowAcross(true, [world])).toBe(true);
    expect(await overflowAcross(false, [world])).toBe(false);
    expect(await overflowAcross(true, [])).toBe(true);
  });

  it('names a bad argument', async () => {
    const world = await initDistributed();
    await expect(overflowAcross(1 as unknown as boolean, [world])).rejects.toThrow("overflowAcross: 'localOverflow' must be a boolean, got number 1");
    await expect(overflowAcross(false, [world, {} as typeof world])).rejects.toThrow("'groups[1]' must be a ProcessGroup");
  });

  it('4 ranks: true everywhere when any one rank overflows, false when none does', async () => {
    for (const bad of [[], [0], [3], [1, 2]]) {
      const r = await launchInProcess<{ world: boolean; pair: boolean | null; both: boolean }>({ nprocs: 4, script, exportName: 'flags', args: { bad }, timeoutMs: 30_000 });
      const any = bad.length > 0;
      const inPair = bad.some((b) => b < 2);
      r.forEach((x, rank) => {
        expect(x.world, `bad ${bad} rank ${rank}: world`).toBe(any);
        expect(x.pair, `bad ${bad} rank ${rank}: subgroup {0,1}`).toBe(rank < 2 ? inPair : null);
        expect(x.both, `bad ${bad} rank ${rank}: subgroup then world`).toBe(any);
      });
    }
  });

  it('2 ranks training fp16: an inf on one rank skips the step on both; they stay identical', async () => {
    for (const badRank of [0, 1]) {
      const r = await launchInProcess<{ applied: boolean[]; scales: number[]; weights: number[] }>({
        nprocs: 2, script, exportName: 'skipTogether', args: { badRank }, timeoutMs: 30_000,
      });
      for (const x of r) {
        expect(x.applied).toEqual([true, false, true]);
        expect(x.scales).toEqual([1024, 512, 512]);
      }
      expect(r[0]!.weights).toEqual(r[1]!.weights);
    }
  });
});
