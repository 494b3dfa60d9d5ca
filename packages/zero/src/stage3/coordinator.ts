// The stage-3 parameter coordinator: gathers a module's parameters just before it runs (forward
// and backward), releases them after, and prefetches what the recorded trace says comes next.
//
// NOTE: models call submodules' `forward` directly as often as through `call()` (GPT-2's layer
// norms and projections), and read other modules' weights directly (the tied LM head reads
// `wte.weight`), so module hooks alone would miss most uses. Each module's `forward` is wrapped
// on the instance, and each parameter field becomes a getter that gathers the parameter when
// it is read inside a forward (DeepSpeed's external parameters, found by access as its
// ZeROOrderedDict does). Outside a forward a read returns the parameter as it is: it never
// starts a collective that other ranks would not join.
import { isGradEnabled, nn, Tensor } from '@ds/core';
import { FetchTrace, type FetchUnit, type Phase } from './fetch-trace.js';
import type { PartitionedParam } from './partitioned-param.js';

export interface CoordinatorOptions {
  /** Elements gathered ahead of use (stage3_prefetch_bucket_size; 0 = no prefetch). */
  prefetchBucketSize: number;
  /** Most non-persistent elements gathered at once before prefetching stops (stage3_max_live_parameters). */
  maxLiveParameters: number;
  /** A parameter used again within this many elements of fetches stays gathered (stage3_max_reuse_distance). */
  maxReuseDistance: number;
}

/** What the coordinator did, for tests and diagnostics. */
export interface CoordinatorStats {
  /** All-gathers issued because a module needed the parameter now. */
  fetches: number;
  /** All-gathers issued ahead of use from the trace. */
  prefetches: number;
  releases: number;
  /** Highest number of non-persistent elements gathered or in flight at once. */
  peakLiveElements: number;
  /** Fetch events of the recorded training trace (0 until one is complete). */
  traceLength: number;
  traceInvalidations: number;
}

interface Unit extends FetchUnit {
  readonly params: PartitionedParam[];
  /** Every partitioned parameter the module uses, persistent ones included. */
  readonly known: Set<PartitionedParam>;
}

/** A module running forward and the parameters it holds in use until it returns. */
interface Frame {
  unit: Unit;
  held: PartitionedParam[];
}

export class ParameterCoordinator {
  readonly #records: readonly PartitionedParam[];
  readonly #opts: CoordinatorOptions;
  readonly #units = new Map<nn.Module, Unit>();
  readonly #traces = new Map<string, FetchTrace>();
  #trace: FetchTrace | null = null;
  readonly #stack: Frame[] = [];
  readonly #undo: (() => void)[] = [];
  #live = 0;
  #stats: CoordinatorStats = { fetches: 0, prefetches: 0, releases: 0, peakLiveElements: 0, traceLength: 0, traceInvalidations: 0 };

  constructor(model: nn.Module, records: readonly PartitionedParam[], opts: CoordinatorOptions) {
    this.#records = records;
    this.#opts = opts;
    const byParam = new Map(records.map((r) => [r.param as Tensor, r]));
    for (const m of model.modules()) {
      const own: PartitionedParam[] = [];
      for (const [, p] of m.namedParameters('', false)) {
        const rec = byParam.get(p);
        if (rec) own.push(rec);
      }
      const unit: Unit = { module: m, params: own.filter((r) => !r.persistent).sort((a, b) => a.id - b.id), known: new Set(own) };
      this.#units.set(m, unit);
      this.#wrapForward(m, unit);
      this.#wrapFields(m, own);
    }
    for (const rec of records) if (!rec.persistent && rec.status !== 'released') this.#live += rec.numel;
  }

  get stats(): CoordinatorStats {
    const training = this.#traces.get('train');
    return { ...this.#stats, traceLength: training?.isComplete ? training.length : 0, traceInvalidations: [...this.#traces.values()].reduce((n, t) => n + t.invalidations, 0) };
  }

  /** Remove the forward wrappers and field getters (the parameters stay as they are). */
  uninstall(): void {
    for (const undo of this.#undo.splice(0).reverse()) undo();
  }

  /** The gradient of `rec` was taken: nothing in this backward reads the parameter again. */
  afterGrad(rec: PartitionedParam): void {
    if (rec.persistent || rec.status !== 'gathered' || rec.activeUses > 0) return;
    this.#release(rec);
  }

  /** The first `limit` parameters the next training pass fetches (empty until its trace is recorded). */
  nextTrainingFetches(limit: number): PartitionedParam[] {
    return this.#traces.get('train')?.upcoming(limit) ?? [];
  }

  /** Finish every gather in flight (their swap buffers go back to the pool). */
  async drain(): Promise<void> {
    for (const rec of this.#records) if (rec.status === 'inflight') await rec.finishGather();
  }

  /**
   * Finish every gather in flight and release every non-persistent parameter (their full
   * values are stale once the optimizer changed the partitions); then refresh the persistent ones.
   */
  async afterUpdate(): Promise<void> {
    for (const rec of this.#records) if (rec.status === 'inflight') await rec.finishGather();
    for (const rec of this.#records) if (!rec.persistent && rec.status === 'gathered') this.#release(rec);
    for (const rec of this.#records) if (rec.persistent) rec.startRefresh();
    for (const rec of this.#records) if (rec.persistent) await rec.finishGather();
  }

  // ---- forward ------------------------------------------------------------------------------

  #wrapForward(m: nn.Module, unit: Unit): void {
    const hadOwn = Object.prototype.hasOwnProperty.call(m, 'forward');
    const previous = Object.getOwnPropertyDescriptor(m, 'forward');
    const original = m.forward;
    const coordinator = this;
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      return coordinator.#runForward(unit, () => original.apply(m, args));
    };
    Object.defineProperty(m, 'forward', { value: wrapped, configurable: true, writable: true, enumerable: false });
    this.#undo.push(() => {
      if (hadOwn && previous) Object.defineProperty(m, 'forward', previous);
      else delete (m as unknown as { forward?: unknown }).forward;
    });
  }

  #wrapFields(m: nn.Module, own: PartitionedParam[]): void {
    for (const rec of own) {
      for (const key of Object.getOwnPropertyNames(m)) {
        const d = Object.getOwnPropertyDescriptor(m, key);
        if (!d || !('value' in d) || d.value !== rec.param || !d.configurable) continue;
        const coordinator = this;
        Object.defineProperty(m, key, {
          configurable: true,
          enumerable: d.enumerable ?? true,
          get() {
            coordinator.#onFieldRead(rec);
            return rec.param;
          },
          set(v: unknown) {
            Object.defineProperty(m, key, { value: v, writable: true, configurable: true, enumerable: d.enumerable ?? true });
          },
        });
        this.#undo.push(() => {
          const now = Object.getOwnPropertyDescriptor(m, key);
          if (now && 'get' in now) Object.defineProperty(m, key, d);
        });
      }
    }
  }

  #runForward(unit: Unit, run: () => unknown): unknown {
    if (this.#stack.length === 0) this.#beginPass(unit.module.training);
    const frame: Frame = { unit, held: [...unit.known] };
    for (const rec of frame.held) rec.activeUses++;
    this.#stack.push(frame);
    let out: unknown;
    try {
      this.#fetch(unit, 'forward');
      out = run();
    } catch (e) {
      this.#trace?.invalidate();
      throw e;
    } finally {
      this.#stack.pop();
      for (const rec of frame.held) rec.activeUses--;
    }
    if (isGradEnabled()) this.#hookOutputs(unit, out);
    this.#releaseAfterForward(unit);
    return out;
  }

  /** A parameter field was read: inside a forward, make sure it is gathered (an external use). */
  #onFieldRead(rec: PartitionedParam): void {
    const frame = this.#stack[this.#stack.length - 1];
    if (!frame || rec.persistent) return;
    const unit = frame.unit;
    if (!unit.known.has(rec)) {
      // Later passes gather it with the module that reads it (and the trace prefetches it).
      unit.known.add(rec);
      unit.params.push(rec);
      unit.params.sort((a, b) => a.id - b.id);
    }
    if (!frame.held.includes(rec)) {
      frame.held.push(rec);
      rec.activeUses++;
    }
    if (rec.status === 'released') this.#issue(rec, false);
    if (rec.status === 'inflight') this.#wait(rec);
  }

  #beginPass(training: boolean): void {
    // Whatever the last pass left (prefetches it never used, parameters gathered for its
    // backward) is finished and released before this pass starts from a clean state.
    for (const rec of this.#records) if (rec.status === 'inflight') this.#wait(rec);
    for (const rec of this.#records) if (!rec.persistent && rec.status === 'gathered' && rec.activeUses === 0) this.#release(rec);
    const key = `${training ? 'train' : 'eval'}${isGradEnabled() ? '' : '-nograd'}`;
    let trace = this.#traces.get(key);
    if (!trace) this.#traces.set(key, (trace = new FetchTrace()));
    this.#trace = trace;
    trace.beginPass();
  }

  #fetch(unit: Unit, phase: Phase): void {
    const trace = this.#trace;
    trace?.observe(unit, phase);
    for (const rec of unit.params) if (rec.status === 'released') this.#issue(rec, false);
    if (trace?.isComplete && this.#opts.prefetchBucketSize > 0) {
      const room = Math.min(this.#opts.prefetchBucketSize, this.#opts.maxLiveParameters - this.#live);
      for (const rec of trace.prefetchCandidates(room)) {
        // A partition on NVMe needs a free swap buffer; prefetching stops when none is (spec §2.5).
        if (rec.store && !rec.store.isResident(rec) && !rec.store.canLoad()) break;
        this.#issue(rec, true);
      }
    }
    for (const rec of unit.params) if (rec.status === 'inflight') this.#wait(rec);
    trace?.advance();
  }

  #releaseAfterForward(unit: Unit): void {
    for (const rec of unit.params) {
      if (rec.persistent || rec.status !== 'gathered' || rec.activeUses > 0) continue;
      if (this.#trace?.keeps(rec, this.#opts.maxReuseDistance)) continue;
      this.#release(rec);
    }
  }

  // ---- backward -----------------------------------------------------------------------------

  /** Gather the module's parameters again when the gradient of its output arrives. */
  #hookOutputs(unit: Unit, out: unknown): void {
    if (unit.params.length === 0) return;
    const tensors: Tensor[] = [];
    collectTensors(out, tensors, 0);
    if (tensors.length === 0) return;
    let fired = false;
    for (const t of tensors) {
      t.registerHook(() => {
        if (fired) return;
        fired = true;
        this.#fetch(unit, 'backward');
      });
    }
  }

  // ---- gathering ----------------------------------------------------------------------------

  #issue(rec: PartitionedParam, prefetch: boolean): void {
    if (rec.store && !rec.store.isResident(rec) && !rec.store.canLoad()) {
      // Every swap buffer holds the partition of a gather in flight: finishing them frees the buffers.
      for (const r of this.#records) if (r.status === 'inflight') this.#wait(r);
    }
    rec.startGather();
    if (prefetch) this.#stats.prefetches++;
    else this.#stats.fetches++;
    this.#live += rec.numel;
    if (this.#live > this.#stats.peakLiveElements) this.#stats.peakLiveElements = this.#live;
  }

  #wait(rec: PartitionedParam): void {
    rec.finishGatherNow();
  }

  #release(rec: PartitionedParam): void {
    rec.release();
    this.#live -= rec.numel;
    this.#stats.releases++;
  }
}

/** Tensors that require grad and were made by an op (hooks on leaves would outlive the pass). */
function collectTensors(v: unknown, out: Tensor[], depth: number): void {
  if (depth > 4 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    if (v.requiresGrad && !v.isLeaf) out.push(v);
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) collectTensors(x, out, depth + 1);
    return;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null || v instanceof Map) {
    const values = v instanceof Map ? [...v.values()] : Object.values(v);
    for (const x of values) collectTensors(x, out, depth + 1);
  }
}
