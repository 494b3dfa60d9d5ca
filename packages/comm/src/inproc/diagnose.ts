// Why a wait cannot finish: dead peers, an aborted group or an expired deadline, with the
// diagnosis every rank reports (the collective, its sequence number, who did not arrive and
// what they last called, what the others called).
import { CommTimeoutError, GroupAbortedError, RankFailedError } from '../errors.js';
import type { CollectiveCall } from '../types.js';
import { formatCall, listRanks, rankLabel } from '../validate.js';
import { RANK_FAILED, RANK_RUNNING, REC_SEQ, TEXT_BYTES } from './control.js';
import type { Engine, GroupState, Task, Wait } from './engine.js';

type GroupWait = Extract<Wait, { g: GroupState }>;

/** Throw if the wait can no longer succeed (deadline passed, a peer died, the group aborted). */
export function checkWait(e: Engine, task: Task, w: Wait, deadline: number): void {
  const call = task.call;
  if (w.kind !== 'zero') {
    const g = w.g;
    const missing = laggards(e, w);
    // A peer may arrive, finish its part and end its script between reading its counter and
    // reading its state: it is dead to this wait only if, once seen stopped, it still has not
    // arrived (it bumps its counter before it can stop, so a second read is final).
    const dead = missing.filter(
      (m) => e.control.rankState(g.members[m]!) !== RANK_RUNNING && Atomics.load(e.i32, g.counters[m]!) < w.target,
    );
    if (dead.length) {
      const what = dead
        .map((m) => {
          const r = g.members[m]!;
          const state = e.control.rankState(r) === RANK_FAILED ? 'failed' : 'finished';
          return `${rankLabel(m, g.members)} ${state} (${e.control.rankText(r) || 'no reason given'})`;
        })
        .join('; ');
      throw new RankFailedError(`${call.op} #${call.seq} on ${g.describe()} failed: ${what} before arriving at ${formatCall(call)}`, {
        op: call.op,
        seq: call.seq,
        groupRanks: g.members,
        failedRanks: dead,
      });
    }
    const reason = e.control.abortReason(g.base);
    if (reason !== null) {
      // a peer timed out in this same wait: report the timeout from here too, with this rank's view
      if (missing.length && e.control.abortedByTimeout(g.base)) throw timeoutError(e, call, w, missing, task.timeoutMs);
      throw new GroupAbortedError(`${call.op} #${call.seq} on ${g.describe()}: the group was aborted by an earlier failure: ${reason}`, {
        op: call.op,
        seq: call.seq,
        groupRanks: g.members,
      });
    }
    if (performance.now() >= deadline) throw timeoutError(e, call, w, missing, task.timeoutMs);
    return;
  }
  if (performance.now() >= deadline) {
    const dead = Array.from({ length: e.worldSize }, (_, r) => r).filter((r) => e.control.rankState(r) !== RANK_RUNNING);
    throw new CommTimeoutError(
      `${call.op} #${call.seq} timed out after ${task.timeoutMs} ms waiting for peers to finish reading ${w.what} from the previous collective` +
        (dead.length ? ` (stopped ranks: ${dead.join(', ')})` : ' (a peer is stuck or failed mid-collective)'),
      { op: call.op, seq: call.seq, groupRanks: [], missingRanks: [], timeoutMs: task.timeoutMs },
    );
  }
}

function laggards(e: Engine, w: GroupWait): number[] {
  const out: number[] = [];
  for (let m = 0; m < w.g.n; m++) if (Atomics.load(e.i32, w.g.counters[m]!) < w.target) out.push(m);
  return out;
}

/** The timeout error: who did not arrive (and what they last called), and what the others called. */
export function timeoutError(e: Engine, call: CollectiveCall, w: GroupWait, missing: number[], timeoutMs: number): CommTimeoutError {
  const g = w.g;
  const parts = missing.map((m) => {
    const c = Atomics.load(e.i32, g.counters[m]!);
    if (c === 0) return `${rankLabel(m, g.members)} did not arrive (it has not called any collective on this group)`;
    const seqOf = c >> 2;
    if (seqOf === call.seq) return `${rankLabel(m, g.members)} arrived but did not reach phase ${w.phase} (stuck or failed mid-collective)`;
    return `${rankLabel(m, g.members)} did not arrive (its last call on this group was #${seqOf} ${recordTextFor(e, g, m, seqOf)})`;
  });
  const arrived = g.members.map((_, m) => m).filter((m) => !missing.includes(m));
  const byCall = new Map<string, number[]>();
  for (const m of arrived) {
    const text = recordTextFor(e, g, m, call.seq) ?? '?';
    byCall.set(text, [...(byCall.get(text) ?? []), m]);
  }
  const arrivedText = [...byCall].map(([text, ms]) => `${listRanks(ms, g.members)} called ${text}`).join('; ');
  return new CommTimeoutError(
    `${call.op} #${call.seq} timed out after ${timeoutMs} ms on ${g.describe()}: ${parts.join('; ')}${arrivedText ? `; ${arrivedText}` : ''}`,
    { op: call.op, seq: call.seq, groupRanks: g.members, missingRanks: missing, timeoutMs },
  );
}

function recordTextFor(e: Engine, g: GroupState, m: number, seq: number): string {
  const rb = g.record(m, seq);
  if (e.i32[rb + REC_SEQ] !== seq) return '(call not recorded)';
  return g.recordText(m, seq).slice(0, TEXT_BYTES);
}
