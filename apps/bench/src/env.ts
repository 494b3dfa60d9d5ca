// What ran: the kernel set, the BLAS core and its settings, the environment variables that
// change the answer, the CPU and Node. Every record carries the short form (`envSummary`)
// in its context; the human report prints the long form.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { rankNodeFlags } from '@ds/comm';
import { kernels, type BlasInfo } from '@ds/core';
import type { BaselineEnv } from './baselines.js';

/** Environment variables that change what OpenBLAS, glibc malloc, OpenMP or ds do. */
export const ENV_VARS = [
  'OPENBLAS_CORETYPE',
  'OPENBLAS_NUM_THREADS',
  'OPENBLAS_L2_SIZE',
  'OMP_NUM_THREADS',
  'OMP_WAIT_POLICY',
  'GLIBC_TUNABLES',
  'DS_NATIVE',
] as const;

export interface CpuInfo {
  model: string;
  /** cpu family / model numbers from /proc/cpuinfo ('' when unknown). */
  family: string;
  modelNumber: string;
  logicalCpus: number;
  /** The SIMD feature flags that matter here, as the kernel reports them. */
  flags: string[];
}

export interface EnvReport {
  kernels: 'native' | 'reference';
  blas: BlasInfo;
  simd: string;
  vars: Record<(typeof ENV_VARS)[number], string | null>;
  node: string;
  platform: string;
  cpu: CpuInfo;
  /** /sys/kernel/mm/transparent_hugepage/enabled, e.g. "always [madvise] never". */
  thpSysfs: string | null;
  /** GLIBC_TUNABLES asks malloc for huge pages (glibc.malloc.hugetlb=1 or 2). */
  hugetlbMalloc: boolean;
  /** Huge pages back large allocations: hugetlbMalloc, or THP set to [always]. */
  hugePages: boolean;
  /** The GEMM runs OpenBLAS's AVX-512 kernel (native kernels, core SkylakeX/Cooperlake/...). */
  avx512Gemm: boolean;
  loadAverage: number[];
}

const FLAGS = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_bf16', 'avx512_vnni'];

export function readCpuInfo(text?: string): CpuInfo {
  let src = text;
  if (src === undefined) {
    try {
      src = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      src = '';
    }
  }
  const first = src.split(/\n\s*\n/)[0] ?? '';
  const field = (key: string): string => {
    const m = new RegExp(`^${key}\\s*:\\s*(.*)$`, 'm').exec(first);
    return m ? m[1]!.trim() : '';
  };
  const flags = new Set(field('flags').split(/\s+/));
  return {
    model: field('model name') || os.cpus()[0]?.model || 'unknown',
    family: field('cpu family'),
    modelNumber: field('model'),
    logicalCpus: os.availableParallelism?.() ?? os.cpus().length,
    flags: FLAGS.filter((f) => flags.has(f)),
  };
}

function readThp(): string | null {
  try {
    return readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').trim();
  } catch {
    return null;
  }
}

const AVX512_CORES = /skylakex|cooperlake|sapphirerapids|cascadelake|icelake|zen4|zen5|avx512/i;

export function collectEnv(): EnvReport {
  const k = kernels();
  const blas = k.blasInfo();
  const vars = Object.fromEntries(ENV_VARS.map((v) => [v, process.env[v] ?? null])) as EnvReport['vars'];
  const tunables = vars.GLIBC_TUNABLES ?? '';
  const hugetlbMalloc = /glibc\.malloc\.hugetlb=[12]\b/.test(tunables);
  const thpSysfs = readThp();
  return {
    kernels: k.name,
    blas,
    simd: k.simd(),
    vars,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: readCpuInfo(),
    thpSysfs,
    hugetlbMalloc,
    hugePages: hugetlbMalloc || /\[always\]/.test(thpSysfs ?? ''),
    avx512Gemm: k.name === 'native' && AVX512_CORES.test(blas.core),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** The short form every JSON record carries in context.env. */
export function envSummary(e: EnvReport): Record<string, string | number | boolean | null> {
  return {
    kernels: e.kernels,
    blasCore: e.blas.core,
    blasThreads: e.blas.threads,
    simd: e.simd,
    OPENBLAS_CORETYPE: e.vars.OPENBLAS_CORETYPE,
    OPENBLAS_NUM_THREADS: e.vars.OPENBLAS_NUM_THREADS,
    GLIBC_TUNABLES: e.vars.GLIBC_TUNABLES,
    hugePages: e.hugePages,
  };
}

/**
 * Whether a baseline's environment is the one this run matches, per suite: GEMM only
 * depends on the OpenBLAS kernel, Adam only on huge pages, GPT-2 on both (with the
 * reference kernels, GPT-2 matches on huge pages alone, against the AVX2 columns).
 */
export function matchesEnv(env: BaselineEnv | 'any', suite: string, e: EnvReport): boolean {
  if (env === 'any') return true;
  // The reference kernels run no OpenBLAS: no GEMM environment applies to them.
  if (suite === 'gemm') return e.kernels === 'native' && env === (e.avx512Gemm ? 'avx512' : 'as-is');
  if (suite === 'adam') return env === (e.hugePages ? 'thp' : 'as-is');
  const want: BaselineEnv = e.hugePages ? (e.avx512Gemm ? 'thp+avx512' : 'thp') : e.avx512Gemm ? 'avx512' : 'as-is';
  return env === want;
}

/** Human-readable lines describing what ran. */
export function describeEnv(e: EnvReport): string[] {
  const row = (label: string, value: string): string => `${label.padEnd(22)}${value}`;
  const v = (x: string | null): string => (x === null ? '(unset)' : JSON.stringify(x));
  return [
    row('kernels', `${e.kernels} (simd: ${e.simd})`),
    row('BLAS', `${e.blas.library}, core ${e.blas.core}, ${e.blas.threads} thread${e.blas.threads === 1 ? '' : 's'}`),
    row('BLAS config', e.blas.config || '-'),
    ...ENV_VARS.map((name) => row(name, v(e.vars[name]))),
    row('huge pages', `${e.hugePages ? 'yes' : 'no'} (malloc hugetlb tunable: ${e.hugetlbMalloc ? 'on' : 'off'}; THP sysfs: ${e.thpSysfs ?? 'n/a'})`),
    row('node', `${e.node} (${e.platform})`),
    row('CPU', `${e.cpu.model} (family ${e.cpu.family || '?'} model ${e.cpu.modelNumber || '?'}), ${e.cpu.logicalCpus} logical CPUs`),
    row('CPU flags', e.cpu.flags.join(' ') || '-'),
    row('load average', e.loadAverage.join(' ')),
  ];
}

/**
 * The node flags for `ranks` benchmark rank processes of one kernel thread each: this
 * process's own, plus what `ds run` adds for that many ranks on this machine (rankNodeFlags),
 * so the figures are those a user of the launcher gets.
 */
export function rankProcessArgs(ranks: number): string[] {
  return [...rankNodeFlags({ ranksOnHost: ranks, threadsPerRank: 1, userFlags: process.execArgv }), ...process.execArgv];
}
