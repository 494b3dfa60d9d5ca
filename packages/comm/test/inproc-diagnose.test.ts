// checkWait's verdict on a peer that is no longer running: a peer that arrives, finishes its
// part and ends its script between the waiter's two reads has not failed to arrive.
import { describe, expect, it } from 'vitest';
import { RankFailedError } from '../src/errors.js';
import { checkWait } from '../src/inproc/diagnose.js';
import { RANK_FINISHED, RANK_RUNNING } from '../src/inproc/control.js';
import type { Engine, Task, Wait } from '../src/inproc/engine.js';

function setup(peerArrivesWhileChecked: boolean) {
  const i32 = new Int32Array(new SharedArrayBuffer(64));
  const target = (29 << 2) | 1;
  i32[0] = target; // rank 0 (this one) has arrived
  i32[1] = target - 4; // rank 1 has not, when its counter is first read
  let peerState = RANK_RUNNING;
  const control = {
    rankState(r: number): number {
      if (r === 1 && peerArrivesWhileChecked && peerState === RANK_RUNNING) {
        // the race: rank 1 arrives, takes its data and its script returns, in between
        Atomics.store(i32, 1, target);
        peerState = RANK_FINISHED;
      } else if (r === 1 && !peerArrivesWhileChecked) {
        peerState = RANK_FINISHED;
      }
      return r === 1 ? peerState : RANK_RUNNING;
    },
    rankText: () => 'its script returned',
    abortReason: () => null,
    abortedByTimeout: () => false,
  };
  const g = { n: 2, members: [0, 1], counters: [0, 1], base: 0, me: 0, describe: () => 'group [0, 1]' };
  const e = { control, i32, worldSize: 2 } as unknown as Engine;
  const task = { call: { op: 'broadcast', seq: 29, dtype: 'float32', shapes: [[2]], root: 1 }, timeoutMs: 1000 } as unknown as Task;
  const w = { kind: 'all', g, target, phase: 1 } as unknown as Wait;
  return { e, task, w };
}

describe('inproc checkWait', () => {
  it('a peer that arrived and then finished is not reported as missing', () => {
    const { e, task, w } = setup(true);
    expect(() => checkWait(e, task, w, performance.now() + 60_000)).not.toThrow();
  });

  it('a peer that finished without arriving is', () => {
    const { e, task, w } = setup(false);
    expect(() => checkWait(e, task, w, performance.now() + 60_000)).toThrow(RankFailedError);
    expect(() => checkWait(e, task, w, performance.now() + 60_000)).toThrow(/rank 1 finished \(its script returned\) before arriving at broadcast/);
  });
});
