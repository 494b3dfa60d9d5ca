// The comms logger (DeepSpeed's `comms_logger`): per op name and message size, the count,
// latencies and bandwidths of timed collectives.
//
// Bandwidths follow nccl-tests (algbw = S / t, S = the op's data size; busbw = algbw times the
// op's bus factor with n = group size). Deliberate differences from DeepSpeed 0.16:
//  * all-reduce algbw is S / t, not DeepSpeed's 2S / t (so busbw = algbw * 2(n-1)/n, as nccl-tests);
//  * n is the size of the group the op ran on, not the global world size;
//  * bandwidths are in GB/s (1e9 bytes per second), as nccl-tests prints, not Gbps;
//  * `profOps` matches the op's log name whether it was given explicitly or is the default.
import type { CollectiveOp } from './types.js';

export interface CommsLoggerConfig {
  enabled?: boolean;
  /** Print one line per timed op. */
  verbose?: boolean;
  /** Time every op (default true); when false only ops named in `profOps` or called with `prof: true`. */
  profAll?: boolean;
  /** Op/log names to time when `profAll` is off (ours, e.g. 'allReduce', or DeepSpeed's, e.g. 'all_reduce'). */
  profOps?: string[];
  /** Append the caller's location to each record name. */
  debug?: boolean;
}

/** DeepSpeed's JSON spelling of the same section. */
export interface DeepSpeedCommsLoggerSection {
  enabled?: boolean;
  verbose?: boolean;
  prof_all?: boolean;
  prof_ops?: string[];
  debug?: boolean;
}

export interface CommsRecord {
  /** Log name (the op name unless `logName` was given). */
  name: string;
  op: CollectiveOp;
  /** S in bytes (for all-gather / reduce-scatter: the gathered size, i.e. n × the input). */
  messageBytes: number;
  count: number;
  latenciesMs: number[];
  algbwGBps: number[];
  busbwGBps: number[];
}

export interface SummaryRow {
  name: string;
  messageBytes: number;
  messageSize: string;
  count: number;
  totalLatencyMs: number;
  /** 10%-trimmed means, as DeepSpeed's log_summary. */
  avgLatencyMs: number;
  algbwGBps: number;
  busbwGBps: number;
}

const DS_NAMES: Partial<Record<CollectiveOp, string>> = {
  allReduce: 'all_reduce',
  reduce: 'reduce',
  broadcast: 'broadcast',
  allGather: 'all_gather',
  allGatherInto: 'all_gather_into_tensor',
  reduceScatter: 'reduce_scatter_tensor',
  allToAll: 'all_to_all_single',
  barrier: 'barrier',
  send: 'send',
  recv: 'recv',
};

/** nccl-tests bus factor: busbw = algbw × factor(n). */
export function busFactor(op: CollectiveOp, n: number): number {
  if (n <= 1) return op === 'allReduce' || op === 'allGather' || op === 'allGatherInto' || op === 'reduceScatter' || op === 'allToAll' ? 0 : 1;
  switch (op) {
    case 'allReduce':
      return (2 * (n - 1)) / n;
    case 'allGather':
    case 'allGatherInto':
    case 'reduceScatter':
    case 'allToAll':
      return (n - 1) / n;
    default:
      return 1;
  }
}

/** Python's round-half-even, as DeepSpeed's trim_mean uses. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** DeepSpeed's trim_mean: sort, drop round(n·p) values at each end, mean of the rest. */
export function trimMean(data: readonly number[], trimFraction = 0.1): number {
  if (data.length === 0) return 0;
  const sorted = [...data].sort((a, b) => a - b);
  const k = roundHalfEven(sorted.length * trimFraction);
  const kept = sorted.slice(k, sorted.length - k);
  const use = kept.length ? kept : sorted;
  return use.reduce((a, b) => a + b, 0) / use.length;
}

/** DeepSpeed's convert_size: 1024-based units, 2 decimals, e.g. "4.0 KB". */
export function convertSize(bytes: number): string {
  if (bytes === 0) return '0B';
  const names = ['B', 'KB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
  const i = Math.min(Math.floor(Math.log(bytes) / Math.log(1024)), names.length - 1);
  const s = Math.round((bytes / 1024 ** i) * 100) / 100;
  return `${Number.isInteger(s) ? s.toFixed(1) : String(s)} ${names[i]}`;
}

export class CommsLogger {
  enabled = false;
  verbose = false;
  profAll = true;
  profOps: string[] = [];
  debug = false;
  /** name -> bytes -> record */
  readonly records = new Map<string, Map<number, CommsRecord>>();
  /** Where verbose lines and summaries go. */
  print: (line: string) => void = (line) => console.log(line);

  configure(cfg: CommsLoggerConfig | DeepSpeedCommsLoggerSection): void {
    const c = cfg as CommsLoggerConfig & DeepSpeedCommsLoggerSection;
    if (c.enabled !== undefined) this.enabled = !!c.enabled;
    if (c.verbose !== undefined) this.verbose = !!c.verbose;
    const profAll = c.profAll ?? c.prof_all;
    if (profAll !== undefined) this.profAll = !!profAll;
    const profOps = c.profOps ?? c.prof_ops;
    if (profOps !== undefined) this.profOps = [...profOps];
    if (c.debug !== undefined) this.debug = !!c.debug;
  }

  /** Whether a call of `op` (with these per-call options) is timed. */
  shouldProfile(op: CollectiveOp, opts?: { logName?: string; prof?: boolean }): boolean {
    if (!this.enabled) return false;
    if (opts?.prof || this.profAll) return true;
    const name = opts?.logName ?? op;
    return this.profOps.includes(name) || this.profOps.includes(DS_NAMES[op] ?? op);
  }

  /**
   * Record one timed op. `bytes` is the size of the op's tensor argument (for all-gather and
   * reduce-scatter the per-rank piece: it is multiplied by n here, as DeepSpeed does).
   */
  record(op: CollectiveOp, bytes: number, latencyMs: number, groupSize: number, logName?: string): void {
    let name = logName ?? op;
    if (this.debug) name = `${name} | [Caller: ${callerLocation()}]`;
    const n = groupSize;
    const size = op === 'allGather' || op === 'allGatherInto' || op === 'reduceScatter' ? bytes * n : bytes;
    const t = Math.max(latencyMs, 1e-6);
    const algbw = size / (t * 1e6); // bytes per ms -> GB/s
    const busbw = algbw * busFactor(op, n);
    let bySize = this.records.get(name);
    if (!bySize) this.records.set(name, (bySize = new Map()));
    let rec = bySize.get(size);
    if (!rec) bySize.set(size, (rec = { name, op, messageBytes: size, count: 0, latenciesMs: [], algbwGBps: [], busbwGBps: [] }));
    rec.count++;
    rec.latenciesMs.push(latencyMs);
    rec.algbwGBps.push(algbw);
    rec.busbwGBps.push(busbw);
    if (this.verbose) {
      this.print(
        `comm op: ${name} | time (ms): ${latencyMs.toFixed(2)} | msg size: ${convertSize(size)} | algbw (GB/s): ${algbw.toFixed(2)} | busbw (GB/s): ${busbw.toFixed(2)}`,
      );
    }
  }

  summaryRows(): SummaryRow[] {
    const rows: SummaryRow[] = [];
    for (const [name, bySize] of [...this.records].sort(([a], [b]) => a.localeCompare(b))) {
      for (const rec of [...bySize.values()].sort((a, b) => a.messageBytes - b.messageBytes)) {
        rows.push({
          name,
          messageBytes: rec.messageBytes,
          messageSize: convertSize(rec.messageBytes),
          count: rec.count,
          totalLatencyMs: rec.latenciesMs.reduce((a, b) => a + b, 0),
          avgLatencyMs: trimMean(rec.latenciesMs),
          algbwGBps: trimMean(rec.algbwGBps),
          busbwGBps: trimMean(rec.busbwGBps),
        });
      }
    }
    return rows;
  }

  /** DeepSpeed's log_summary table (columns of width 20), one block per op name. */
  summaryText(): string {
    const col = (s: string | number): string => String(s).padEnd(20);
    const lines = [
      ['Comm. Op', 'Message Size', 'Count', 'Total Latency(ms)', 'Avg Latency(ms)', 'algbw_avg (GB/s)', 'busbw_avg (GB/s)'].map(col).join(''),
    ];
    let last = '';
    for (const r of this.summaryRows()) {
      if (r.name !== last) lines.push(col(r.name));
      last = r.name;
      lines.push(
        [' ', r.messageSize, r.count, r.totalLatencyMs.toFixed(2), r.avgLatencyMs.toFixed(2), r.algbwGBps.toFixed(2), r.busbwGBps.toFixed(2)].map(col).join(''),
      );
    }
    return lines.join('\n');
  }

  reset(): void {
    this.records.clear();
  }
}

function callerLocation(): string {
  const lines = (new Error().stack ?? '').split('\n').slice(1);
  const outside = lines.find((l) => !/[/\\]comm[/\\](src|dist)[/\\]/.test(l) && !l.includes('node:'));
  return (outside ?? lines[lines.length - 1] ?? '?').trim().replace(/^at /, '');
}

const LOGGER_KEY = Symbol.for('@ds/comm.commsLogger');

/** This thread's comms logger (shared by every copy of @ds/comm loaded in it). */
export function commsLogger(): CommsLogger {
  const g = globalThis as { [LOGGER_KEY]?: CommsLogger };
  return (g[LOGGER_KEY] ??= new CommsLogger());
}

/** Configure the comms logger from ds options or a DeepSpeed `comms_logger` section. */
export function configureCommsLogger(cfg: CommsLoggerConfig | DeepSpeedCommsLoggerSection): CommsLogger {
  const l = commsLogger();
  l.configure(cfg);
  return l;
}

/** The summary table; printed unless `print: false`. Returns the rows and the text. */
export function logSummary(opts: { print?: boolean } = {}): { rows: SummaryRow[]; text: string } {
  const l = commsLogger();
  const text = l.summaryText();
  if (opts.print !== false) l.print(text);
  return { rows: l.summaryRows(), text };
}
