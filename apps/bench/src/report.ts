// Output: one JSON object per measurement (a line on stdout), then a human-readable table
// that sets each figure beside the PyTorch baselines at the same thread count.
import { BASELINE_ENV_DESCRIPTIONS, BASELINE_ENVS, baselinesFor } from './baselines.js';
import { describeEnv, matchesEnv, type EnvReport } from './env.js';

export interface BenchRecord {
  suite: string;
  name: string;
  value: number;
  unit: string;
  context: Record<string, unknown>;
}

export function isBenchRecord(x: unknown): x is BenchRecord {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return typeof r.suite === 'string' && typeof r.name === 'string' && typeof r.value === 'number'
    && typeof r.unit === 'string' && typeof r.context === 'object' && r.context !== null;
}

/** Print one record as a JSON line on stdout. */
export function emit(r: BenchRecord): void {
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

/** Progress and notes go to stderr so stdout stays JSON lines + the final report. */
export function note(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** 3 significant digits, no exponent for the ranges we print. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(3);
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r, i) => {
    const line = r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
    return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  });
}

/** The threads a record was measured with (context.threads), else the BLAS threads. */
function recordThreads(r: BenchRecord, env: EnvReport): number {
  const t = r.context.threads;
  return typeof t === 'number' ? t : env.blas.threads;
}

/** The final report: what ran, then every figure beside its baselines as ours / PyTorch. */
export function renderReport(records: readonly BenchRecord[], env: EnvReport): string {
  const out: string[] = ['', '== ds bench: what ran ==', ...describeEnv(env), ''];
  const rows: string[][] = [['suite', 'measurement', 'ours', 'unit', 'PyTorch env', 'thr', 'PyTorch', 'ours/PyTorch', 'what the baseline is']];
  for (const r of records) {
    const threads = recordThreads(r, env);
    const key = typeof r.context.baseline === 'string' ? r.context.baseline : r.name;
    const base = baselinesFor(r.suite, key, threads)
      .sort((a, b) => BASELINE_ENVS.indexOf(a.env as never) - BASELINE_ENVS.indexOf(b.env as never));
    const ours = [r.suite, r.name, fmt(r.value), r.unit];
    if (base.length === 0) {
      rows.push([...ours, '-', String(threads), '-', '-', typeof r.context.note === 'string' ? r.context.note : '']);
      continue;
    }
    base.forEach((b, i) => {
      const mark = matchesEnv(b.env, r.suite, env) ? ' *' : '';
      const ratio = b.value > 0 ? `${(r.value / b.value).toFixed(2)}x` : '-';
      rows.push([...(i === 0 ? ours : ['', '', '', '']), `${b.env}${mark}`, b.threads ? String(b.threads) : 'any',
        fmt(b.value), ratio, b.what]);
    });
  }
  out.push('== results beside the PyTorch baselines (src/baselines.ts) ==', ...table(rows), '');
  out.push('* = the baseline environment this run matches (GEMM: OpenBLAS kernel; Adam: huge pages; GPT-2: both).');
  out.push('Baseline environments:');
  for (const e of BASELINE_ENVS) out.push(`  ${e.padEnd(11)} ${BASELINE_ENV_DESCRIPTIONS[e]}`);
  out.push('Ratios > 1 mean ds is faster (or, for peak RSS, uses more memory). The machine is shared and noisy:');
  out.push('compare ratios measured side by side (run with --pytorch to measure PyTorch in the same run), not absolute numbers.');
  return out.join('\n');
}
