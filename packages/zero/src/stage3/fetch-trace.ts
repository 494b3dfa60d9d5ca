// The order modules fetched their parameters in, recorded on the first pass and replayed on
// later ones to prefetch ahead and to keep soon-reused parameters (spec §2.5, DeepSpeed's
// PartitionedParameterCoordinator trace): INVALID -> RECORD (first pass) -> COMPLETE.
import type { nn } from '@ds/core';
import type { PartitionedParam } from './partitioned-param.js';

export type Phase = 'forward' | 'backward';

/** A module and the partitioned parameters it needs gathered while it runs. */
export interface FetchUnit {
  readonly module: nn.Module;
  /** Non-persistent parameters (own, then external ones found in use), sorted by creation id. */
  readonly params: PartitionedParam[];
}

interface Event {
  unit: FetchUnit;
  phase: Phase;
}

interface QueueEntry {
  rec: PartitionedParam;
  step: number;
}

export type TraceMode = 'invalid' | 'record' | 'complete';

export class FetchTrace {
  #mode: TraceMode = 'invalid';
  #events: Event[] = [];
  #step = 0;
  #queue: QueueEntry[] = [];
  #head = 0;
  #mostRecent = new Map<PartitionedParam, number>();
  #invalidations = 0;

  get mode(): TraceMode {
    return this.#mode;
  }

  get isComplete(): boolean {
    return this.#mode === 'complete';
  }

  /** Index of the next fetch in the pass. */
  get step(): number {
    return this.#step;
  }

  get length(): number {
    return this.#events.length;
  }

  /** Times a replay diverged from the recording (the next pass records again). */
  get invalidations(): number {
    return this.#invalidations;
  }

  /** Start of a forward pass (DeepSpeed `reset_step`). */
  beginPass(): void {
    if (this.#mode === 'record' && this.#events.length > 0) this.#mode = 'complete';
    else if (this.#mode === 'complete' && this.#step !== this.#events.length) this.#restart();
    else if (this.#mode !== 'complete') this.#restart();
    this.#step = 0;
    this.#mostRecent = new Map();
    this.#queue = [];
    this.#head = 0;
    if (this.#mode === 'complete') {
      this.#events.forEach((e, step) => {
        for (const rec of e.unit.params) if (!rec.persistent) this.#queue.push({ rec, step });
      });
    }
  }

  /**
   * `unit` is fetching: record it, or check it is the module the recording expects next and
   * take its parameters off the prefetch queue. A divergence invalidates the trace.
   */
  observe(unit: FetchUnit, phase: Phase): void {
    if (this.#mode === 'record') {
      this.#events.push({ unit, phase });
      return;
    }
    if (this.#mode !== 'complete') return;
    const expected = this.#events[this.#step];
    if (!expected || expected.unit !== unit || expected.phase !== phase) {
      this.invalidate();
      return;
    }
    const needed = new Set(unit.params.filter((r) => !r.persistent && (this.#mostRecent.get(r) ?? -Infinity) < this.#step));
    const popped = new Set<PartitionedParam>();
    while (this.#head < this.#queue.length && popped.size < needed.size) {
      const e = this.#queue[this.#head++]!;
      this.#mostRecent.set(e.rec, e.step);
      popped.add(e.rec);
    }
    for (const r of needed) {
      if (!popped.has(r)) {
        this.invalidate();
        return;
      }
    }
  }

  /** The fetch of the current step is done. */
  advance(): void {
    this.#step++;
  }

  /**
   * Parameters to all-gather ahead: queue entries are taken while the elements chosen stay
   * under `budget`; released ones are chosen, every one taken is marked as fetched for its step.
   */
  prefetchCandidates(budget: number): PartitionedParam[] {
    if (this.#mode !== 'complete' || budget <= 0) return [];
    const chosen: PartitionedParam[] = [];
    const picked = new Set<PartitionedParam>();
    let numel = 0;
    while (this.#head < this.#queue.length && numel < budget) {
      const e = this.#queue[this.#head++]!;
      if (e.rec.status === 'released' && !picked.has(e.rec)) {
        picked.add(e.rec);
        chosen.push(e.rec);
        numel += e.rec.numel;
      }
      this.#mostRecent.set(e.rec, Math.max(this.#mostRecent.get(e.rec) ?? -Infinity, e.step));
    }
    return chosen;
  }

  /**
   * Whether `rec`, used by the module that just finished, should stay gathered: it was already
   * prefetched for a later step, or it is used again within `maxReuseDistance` elements of
   * upcoming fetches.
   */
  keeps(rec: PartitionedParam, maxReuseDistance: number): boolean {
    if (this.#mode !== 'complete') return false;
    if ((this.#mostRecent.get(rec) ?? -Infinity) > this.#step) return true;
    let traversed = 0;
    for (let s = this.#step; s < this.#events.length; s++) {
      if (traversed >= maxReuseDistance) break;
      for (const r of this.#events[s]!.unit.params) {
        if (r === rec) return true;
        traversed += r.numel;
      }
    }
    return false;
  }

  /** The first `limit` distinct non-persistent parameters a pass fetches, in order (empty until complete). */
  upcoming(limit: number): PartitionedParam[] {
    const out: PartitionedParam[] = [];
    if (this.#mode !== 'complete') return out;
    const seen = new Set<PartitionedParam>();
    for (const e of this.#events) {
      for (const rec of e.unit.params) {
        if (out.length >= limit) return out;
        if (rec.persistent || seen.has(rec)) continue;
        seen.add(rec);
        out.push(rec);
      }
    }
    return out;
  }

  /** Stop replaying this pass; the next pass records afresh. */
  invalidate(): void {
    if (this.#mode === 'invalid') return;
    this.#mode = 'invalid';
    this.#invalidations++;
    this.#queue = [];
    this.#head = 0;
  }

  #restart(): void {
    this.#mode = 'record';
    this.#events = [];
  }
}
