// Measured model-state memory of this rank: the bytes actually held by the model's parameters
// and gradients, the optimizer's state (and the fp32 copies it steps instead of 16-bit
// parameters), plus whatever a strategy registered (flat partitions, swap buffers, bucket
// buffers it owns). Every backing array is counted once, so views into a flat buffer count the
// buffer, padding included; that is what the rank really holds.
import { Tensor, type nn, type optim } from '@ds/core';

export type MemoryCategory = 'parameters' | 'gradients' | 'optimizer' | 'buffers';

export const MEMORY_CATEGORIES: readonly MemoryCategory[] = ['parameters', 'gradients', 'optimizer', 'buffers'];

interface Registration {
  category: MemoryCategory;
  name: string;
  bytes: () => number;
}

// One registry per rank: ranks are processes or worker threads, each with its own module state.
const registry = new Set<Registration>();

/**
 * Report memory that the walk cannot see (a stage's flat fp32 partition, swap buffers,
 * communication buckets): `bytes` is called at every report. Remove the entry when the owner
 * is closed.
 */
export function registerMemory(category: MemoryCategory, bytes: () => number, opts: { name?: string } = {}): { remove(): void } {
  if (!MEMORY_CATEGORIES.includes(category)) {
    throw new RangeError(`registerMemory: category must be one of ${MEMORY_CATEGORIES.map((c) => `'${c}'`).join(', ')}, got ${JSON.stringify(category)}`);
  }
  if (typeof bytes !== 'function') throw new TypeError(`registerMemory: bytes must be a function returning a byte count, got ${typeof bytes}`);
  const entry: Registration = { category, name: opts.name ?? category, bytes };
  registry.add(entry);
  return { remove: () => void registry.delete(entry) };
}

/** What memoryReport measures: engine parts (or anything with a model and an optimizer), or tensors. */
export type MemoryReportInput =
  | { model?: nn.Module | null; optimizer?: optim.Optimizer<object> | null }
  | readonly Tensor[];

export interface MemoryReportEntry {
  category: MemoryCategory;
  /** e.g. "bfloat16 parameters", "optimizer state 'expAvg'", or a registered name. */
  what: string;
  bytes: number;
}

export interface MemoryReport {
  /** Bytes of the model's parameters. */
  parameters: number;
  /** Bytes of their gradients, and of the gradients of optimizer-held copies. */
  gradients: number;
  /** Bytes of optimizer state tensors and of parameter copies only the optimizer holds (fp32 masters). */
  optimizer: number;
  /** Registered buffers outside the three model-state categories. */
  buffers: number;
  total: number;
  entries: MemoryReportEntry[];
}

export function memoryReport(input: MemoryReportInput, opts: { registered?: boolean } = {}): MemoryReport {
  const seen = new Set<unknown>();
  const sums = new Map<string, MemoryReportEntry>();
  const add = (category: MemoryCategory, what: string, bytes: number) => {
    const k = `${category}\u0000${what}`;
    const e = sums.get(k);
    if (e) e.bytes += bytes;
    else sums.set(k, { category, what, bytes });
  };
  const count = (category: MemoryCategory, what: string, t: Tensor | null | undefined) => {
    if (!(t instanceof Tensor)) return;
    // The backing array, once: a flat buffer's views (and tied parameters) share one.
    const storage = t.storage;
    if (seen.has(storage)) return;
    seen.add(storage);
    add(category, what, storage.byteLength);
  };

  const modelParams: Tensor[] = [];
  let optimizer: optim.Optimizer<object> | null = null;
  if (Array.isArray(input)) {
    input.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new TypeError(`memoryReport: element ${i} is not a Tensor`);
      modelParams.push(t);
    });
  } else if (input !== null && typeof input === 'object') {
    const { model, optimizer: opt } = input as { model?: nn.Module | null; optimizer?: optim.Optimizer<object> | null };
    if (model) modelParams.push(...model.parameters());
    optimizer = opt ?? null;
  } else {
    throw new TypeError('memoryReport: expected { model, optimizer } (e.g. engine.parts) or an array of tensors');
  }

  const inModel = new Set<Tensor>(modelParams);
  for (const p of modelParams) count('parameters', `${p.dtype} parameters`, p);
  for (const p of modelParams) count('gradients', `${p.grad?.dtype ?? ''} gradients`, p.grad);
  if (optimizer) {
    for (const group of optimizer.paramGroups) {
      for (const p of group.params) {
        if (inModel.has(p)) continue;
        // A copy the optimizer steps in the model parameter's place (mixed precision's fp32 masters).
        count('optimizer', `${p.dtype} parameter copies held by the optimizer`, p);
        count('gradients', `${p.grad?.dtype ?? ''} gradients of optimizer-held copies`, p.grad);
      }
    }
    for (const st of optimizer.state.values()) {
      for (const [key, v] of Object.entries(st)) if (v instanceof Tensor) count('optimizer', `optimizer state '${key}'`, v);
    }
  }
  if (opts.registered ?? true) {
    for (const r of registry) {
      const b = r.bytes();
      if (!Number.isFinite(b) || b < 0) throw new RangeError(`memoryReport: registered memory '${r.name}' reported ${b} bytes`);
      add(r.category, r.name, b);
    }
  }

  const entries = [...sums.values()];
  const total = (c: MemoryCategory) => entries.filter((e) => e.category === c).reduce((n, e) => n + e.bytes, 0);
  const report = { parameters: total('parameters'), gradients: total('gradients'), optimizer: total('optimizer'), buffers: total('buffers') };
  return { ...report, total: report.parameters + report.gradients + report.optimizer + report.buffers, entries };
}
