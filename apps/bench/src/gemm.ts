// sgemm throughput through kernels().sgemm: C = A @ B, square, row-major, no transposes,
// beta 0, on buffers allocated (and touched) once per size and reused for the warm-up and
// every timed call. Reports the best GFLOP/s of N calls after warm-up (and the median in
// context). `--compare-c` builds a tiny C program that calls cblas_sgemm the same way.
// The bf16 case runs kernels().sbgemm (bf16 inputs, float32 sums and output) at GPT-2 shapes,
// each beside sgemm at the same shape.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kernels, type Kernels } from '@ds/core';
import { note, type BenchRecord } from './report.js';

export interface GemmOptions {
  /** Untimed calls before timing (default 1). */
  warmup?: number;
  /** Most timed calls (default 10). */
  maxReps?: number;
  /** Stop timing once this much time has been spent on timed calls (default 3000 ms); at least 1 call. */
  budgetMs?: number;
  /** Kernels to run on (default: the active set). */
  kernels?: Kernels;
  /** Extra fields for the record's context (the environment summary, ...). */
  context?: Record<string, unknown>;
}

/** Deterministic values in [-1, 1) (an LCG); also touches every page before timing. */
export function fillRandom(a: Float32Array, seed = 1): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Time `fn` after `warmup` calls: up to maxReps calls, stopping after budgetMs (at least one). */
export function timeCalls(fn: () => void, warmup: number, maxReps: number, budgetMs: number): { times: number[]; warmupMs: number[] } {
  const warmupMs: number[] = [];
  for (let i = 0; i < warmup; i++) {
    const t0 = performance.now();
    fn();
    warmupMs.push(performance.now() - t0);
  }
  const times: number[] = [];
  let spent = 0;
  while (times.length < maxReps && (times.length === 0 || spent < budgetMs)) {
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    times.push(dt);
    spent += dt;
  }
  return { times, warmupMs };
}

interface GemmTiming {
  gflops: number;
  context: Record<string, unknown>;
}

/** Times one GEMM call of `flops` floating-point operations: best GFLOP/s after warm-up, and how it was measured. */
function timeGemm(call: () => void, flops: number, opts: GemmOptions): GemmTiming {
  // A call that takes longer than the whole budget is its own warm-up: page faults and
  // thread start-up are noise next to it, and repeating it would only cost time.
  const budgetMs = opts.budgetMs ?? 3000;
  let warmup = opts.warmup ?? 1;
  let { times, warmupMs } = timeCalls(call, Math.min(warmup, 1), 0, budgetMs);
  let warmupCounted = false;
  if (warmupMs.length && warmupMs[0]! > budgetMs) {
    times = warmupMs;
    warmupMs = [];
    warmup = 0;
    warmupCounted = true;
  } else {
    const rest = timeCalls(call, Math.max(0, warmup - 1), opts.maxReps ?? 10, budgetMs);
    times = rest.times;
    warmupMs.push(...rest.warmupMs);
  }
  const best = Math.min(...times);
  const med = median(times);
  return {
    gflops: flops / (best * 1e-3) / 1e9,
    context: {
      reps: times.length,
      warmup,
      warmupCounted,
      bestMs: round(best),
      medianMs: round(med),
      gflopsMedian: round(flops / (med * 1e-3) / 1e9),
    },
  };
}

/** One sgemm measurement at size^3: best GFLOP/s after warm-up. */
export function measureGemm(size: number, opts: GemmOptions = {}): BenchRecord {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`measureGemm: size must be a positive integer, got ${size}`);
  const k = opts.kernels ?? kernels();
  const n = size;
  const a = new Float32Array(n * n);
  const b = new Float32Array(n * n);
  const c = new Float32Array(n * n);
  fillRandom(a, 1);
  fillRandom(b, 2);
  c.fill(0);
  const t = timeGemm(() => k.sgemm(false, false, n, n, n, 1, a, n, 0, b, n, 0, 0, c, n, 0, 1), 2 * n * n * n, opts);
  return {
    suite: 'gemm',
    name: `sgemm_${n}`,
    value: t.gflops,
    unit: 'GFLOP/s',
    context: {
      m: n, n, k: n,
      kernels: k.name,
      threads: k.getNumThreads(),
      ...t.context,
      ...opts.context,
    },
  };
}

/**
 * GPT-2 small's GEMMs for 4096 tokens (batch x sequence) at width C = 768, as [m, n, k]:
 * a square reference, then [B*T, C] x [C, C] (attention output), [C, 3C] (QKV), [C, 4C]
 * (MLP up) and [B*T, 4C] x [4C, C] (MLP down).
 */
export const BF16_GEMM_SHAPES: readonly (readonly [number, number, number])[] = [
  [768, 768, 768],
  [4096, 768, 768],
  [4096, 2304, 768],
  [4096, 3072, 768],
  [4096, 768, 3072],
];

const OPENBLAS_IDLE_MS = 200;

export function bf16GemmShapes(quick: boolean): readonly (readonly [number, number, number])[] {
  return quick ? BF16_GEMM_SHAPES.slice(0, 2) : BF16_GEMM_SHAPES;
}

/**
 * One sbgemm measurement, C[m, n] = A[m, k] @ B[k, n] with bf16 A and B and a float32 C,
 * then sgemm at the same shape on the same values widened: the record's value is sbgemm's
 * best GFLOP/s, its context holds sgemm's and the ratio.
 */
export function measureGemmBf16(m: number, n: number, k: number, opts: GemmOptions = {}): BenchRecord {
  for (const [name, v] of [['m', m], ['n', n], ['k', k]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`measureGemmBf16: ${name} must be a positive integer, got ${v}`);
  }
  const kern = opts.kernels ?? kernels();
  const a = new Float32Array(m * k);
  const b = new Float32Array(k * n);
  const c = new Float32Array(m * n);
  fillRandom(a, 1);
  fillRandom(b, 2);
  const a16 = new Uint16Array(a.length);
  const b16 = new Uint16Array(b.length);
  kern.f32ToBf16(a, a16);
  kern.f32ToBf16(b, b16);
  kern.bf16ToF32(a16, a);
  kern.bf16ToF32(b16, b);
  const flops = 2 * m * n * k;
  // NOTE: OpenBLAS's worker threads busy-wait for about 80 ms (2^28 TSC ticks) after each
  // sgemm; ds's own thread pool (which sbgemm runs on) started inside that window shares the
  // cores with them, and on a 2-core machine runs at half speed. Let them go to sleep first.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, OPENBLAS_IDLE_MS);
  const bf16 = timeGemm(() => kern.sbgemm(false, false, m, n, k, 1, a16, k, 0, b16, n, 0, 0, c, n, 0, 1), flops, opts);
  const f32 = timeGemm(() => kern.sgemm(false, false, m, n, k, 1, a, k, 0, b, n, 0, 0, c, n, 0, 1), flops, opts);
  const ratio = bf16.gflops / f32.gflops;
  return {
    suite: 'gemm',
    name: `sbgemm_${m}x${n}x${k}`,
    value: bf16.gflops,
    unit: 'GFLOP/s',
    context: {
      m, n, k,
      kernels: kern.name,
      simd: kern.simd(),
      threads: kern.getNumThreads(),
      ...bf16.context,
      sgemmGflops: round(f32.gflops),
      bf16OverF32: round(ratio),
      note: `bf16 ${bf16.gflops.toFixed(1)} GFLOP/s = ${ratio.toFixed(2)}x sgemm at this shape`,
      ...opts.context,
    },
  };
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function gemmSizes(quick: boolean): number[] {
  return quick ? [256, 1024, 2048] : [256, 1024, 2048, 4096];
}

const C_SOURCE = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
/* Declared here, not from cblas.h, so any OpenBLAS install works (cblas.h may be another CBLAS). */
void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
char *openblas_get_config(void);

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static void fill(float *a, size_t len, unsigned s) {
  for (size_t i = 0; i < len; i++) { s = s * 1664525u + 1013904223u; a[i] = (float)(s / 2147483648.0 - 1.0); }
}
static int cmp(const void *x, const void *y) { double a = *(const double *)x, b = *(const double *)y; return (a > b) - (a < b); }

int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: threads budget_ms max_reps size...\n"); return 2; }
  int threads = atoi(argv[1]);
  double budget = atof(argv[2]);
  int max_reps = atoi(argv[3]);
  if (threads > 0) openblas_set_num_threads(threads);
  printf("info core=%s threads=%d config=%s\n", openblas_get_corename(), openblas_get_num_threads(), openblas_get_config());
  for (int i = 4; i < argc; i++) {
    int n = atoi(argv[i]);
    size_t len = (size_t)n * n;
    float *a = malloc(len * 4), *b = malloc(len * 4), *c = malloc(len * 4);
    fill(a, len, 1); fill(b, len, 2);
    for (size_t j = 0; j < len; j++) c[j] = 0;
    double t0 = now_ms();
    cblas_sgemm(101, 111, 111, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
    double warm = now_ms() - t0;
    double times[64];
    int reps = 0;
    double spent = 0;
    if (warm > budget) { times[reps++] = warm; }
    else {
      while (reps < max_reps && reps < 64 && (reps == 0 || spent < budget)) {
        t0 = now_ms();
        cblas_sgemm(101, 111, 111, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        times[reps] = now_ms() - t0;
        spent += times[reps++];
      }
    }
    qsort(times, reps, sizeof(double), cmp);
    double med = reps % 2 ? times[reps / 2] : (times[reps / 2 - 1] + times[reps / 2]) / 2;
    double flops = 2.0 * n * n * n;
    printf("size=%d best_ms=%.4f median_ms=%.4f reps=%d gflops=%.3f gflops_median=%.3f\n", n, times[0], med, reps,
           flops / (times[0] * 1e-3) / 1e9, flops / (med * 1e-3) / 1e9);
    fflush(stdout);
    free(a); free(b); free(c);
  }
  return 0;
}
`;

export interface CompareCResult {
  records: BenchRecord[];
  /** Why nothing was measured (no cc, compile failure, ...). */
  skipped?: string;
}

/** Compile and run the C cblas_sgemm program at the same sizes (and thread count). */
export function compareC(sizes: readonly number[], threads: number, budgetMs: number, maxReps: number,
  context: Record<string, unknown> = {}): CompareCResult {
  const cc = process.env.CC || 'cc';
  const probe = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { records: [], skipped: `--compare-c: no C compiler (${cc}) found; skipped` };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-bench-cblas-'));
  try {
    const src = path.join(dir, 'sgemm.c');
    const exe = path.join(dir, 'sgemm');
    writeFileSync(src, C_SOURCE);
    const build = spawnSync(cc, ['-O2', '-o', exe, src, '-lopenblas'], { encoding: 'utf8' });
    if (build.error || build.status !== 0) {
      return { records: [], skipped: `--compare-c: \`${cc} -O2 sgemm.c -lopenblas\` failed: ${(build.stderr || String(build.error)).trim()}` };
    }
    note(`gemm: running C cblas_sgemm at ${sizes.join(', ')} (${threads} thread${threads === 1 ? '' : 's'})`);
    const run = spawnSync(exe, [String(threads), String(budgetMs), String(maxReps), ...sizes.map(String)], {
      encoding: 'utf8', env: process.env, maxBuffer: 1 << 20,
    });
    if (run.error || run.status !== 0) {
      return { records: [], skipped: `--compare-c: the C program failed: ${(run.stderr || String(run.error)).trim()}` };
    }
    const info = /^info core=(\S*) threads=(\d+) config=(.*)$/m.exec(run.stdout);
    const records: BenchRecord[] = [];
    for (const m of run.stdout.matchAll(/^size=(\d+) best_ms=(\S+) median_ms=(\S+) reps=(\d+) gflops=(\S+) gflops_median=(\S+)$/gm)) {
      const n = Number(m[1]);
      records.push({
        suite: 'gemm',
        name: `cblas_sgemm_c_${n}`,
        value: Number(m[5]),
        unit: 'GFLOP/s',
        context: {
          m: n, n, k: n,
          source: 'C program calling cblas_sgemm (cc -O2 -lopenblas)',
          blasCore: info?.[1] ?? null,
          threads: info ? Number(info[2]) : threads,
          blasConfig: info?.[3]?.trim() ?? null,
          reps: Number(m[4]),
          bestMs: Number(m[2]),
          medianMs: Number(m[3]),
          gflopsMedian: Number(m[6]),
          ...context,
        },
      });
    }
    return { records };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface GemmSuiteOptions {
  quick: boolean;
  compareC: boolean;
  context: Record<string, unknown>;
  onRecord: (r: BenchRecord) => void;
}

export function runGemmSuite(o: GemmSuiteOptions): void {
  const sizes = gemmSizes(o.quick);
  const budgetMs = o.quick ? 1500 : 4000;
  const maxReps = o.quick ? 5 : 10;
  const ours: BenchRecord[] = [];
  for (const size of sizes) {
    note(`gemm: sgemm ${size}^3 on ${kernels().name} kernels`);
    const r = measureGemm(size, { budgetMs, maxReps, context: { env: o.context } });
    ours.push(r);
    o.onRecord(r);
  }
  for (const [m, n, k] of bf16GemmShapes(o.quick)) {
    note(`gemm: sbgemm ${m}x${n}x${k} (bf16 inputs) and sgemm at the same shape on ${kernels().name} kernels`);
    o.onRecord(measureGemmBf16(m, n, k, { budgetMs, maxReps, context: { env: o.context } }));
  }
  if (o.compareC) {
    const res = compareC(sizes, kernels().getNumThreads(), budgetMs, maxReps, { env: o.context });
    if (res.skipped) note(res.skipped);
    for (const r of res.records) {
      const mine = ours.find((x) => x.context.n === r.context.n);
      if (mine) {
        r.context.oursOverC = round(mine.value / r.value);
        r.context.note = `ours (${mine.context.kernels}) ${mine.value.toFixed(1)} GFLOP/s = ${(mine.value / r.value).toFixed(2)}x C`;
      }
      o.onRecord(r);
    }
  }
}
