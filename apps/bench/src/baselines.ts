// PyTorch (and hardware) reference figures, measured on the
// project's machine kind: 2 cores AMD EPYC with AVX-512, ~3.35 GHz, Debian 12, PyTorch 1.13
// with Debian's OpenBLAS 0.3.21. Medians of several runs on a shared, noisy machine (spreads
// of 20-40 %): compare ratios measured side by side, not absolute numbers.
//
// The environment a figure was measured in changes it by up to 4x:
//   'as-is'       the machine's own environment (OPENBLAS_CORETYPE=Haswell preset: AVX2 GEMM;
//                 glibc malloc with 4 KiB pages)
//   'thp'         as-is plus GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (huge pages for malloc)
//   'thp+avx512'  thp with OPENBLAS_CORETYPE unset (OpenBLAS picks its AVX-512 kernel)
//   'avx512'      OPENBLAS_CORETYPE unset (GEMM table; page size does not matter there)

export type BaselineEnv = 'as-is' | 'thp' | 'thp+avx512' | 'avx512';

export const BASELINE_ENVS: readonly BaselineEnv[] = ['as-is', 'thp', 'avx512', 'thp+avx512'];

export const BASELINE_ENV_DESCRIPTIONS: Record<BaselineEnv, string> = {
  'as-is': 'machine env: OPENBLAS_CORETYPE=Haswell (AVX2 GEMM), 4 KiB malloc pages',
  thp: 'as-is + GLIBC_TUNABLES=glibc.malloc.hugetlb=1',
  'thp+avx512': 'thp + OPENBLAS_CORETYPE unset (AVX-512 GEMM)',
  avx512: 'OPENBLAS_CORETYPE unset (AVX-512 GEMM)',
};

export interface Baseline {
  /** Matches a measurement's suite and name (see the suites). */
  suite: 'gemm' | 'adam' | 'gpt2';
  name: string;
  /** 'any': baselines.md gives one figure for every environment. */
  env: BaselineEnv | 'any';
  /** Threads in the one process measured (GEMM / optimizer threads, or torch threads); 0 = any. */
  threads: number;
  value: number;
  unit: string;
  /** What exactly was measured. */
  what: string;
}

const gemm = (size: number, env: BaselineEnv, threads: number, value: number): Baseline => ({
  suite: 'gemm', name: `sgemm_${size}`, env, threads, value, unit: 'GFLOP/s',
  what: `torch.mm / numpy sgemm ${size}^3`,
});

const adam = (env: BaselineEnv, threads: number, gparams: number, what: string): Baseline => ({
  suite: 'adam', name: 'adamw_50M', env, threads, value: gparams, unit: 'Gparam/s', what,
});

const gpt2 = (size: 'small' | 'medium', env: BaselineEnv, threads: number, value: number): Baseline => ({
  suite: 'gpt2', name: `${size}_tokens_per_s`, env, threads, value, unit: 'tokens/s',
  what: `PyTorch eager fp32 AdamW, 1 process x ${threads} thread${threads > 1 ? 's' : ''}`,
});

export const BASELINES: readonly Baseline[] = [
  gemm(1024, 'as-is', 1, 91),
  gemm(1024, 'as-is', 2, 78),
  gemm(1024, 'avx512', 1, 186),
  gemm(1024, 'avx512', 2, 312),
  gemm(4096, 'as-is', 1, 96),
  gemm(4096, 'as-is', 2, 192),
  gemm(4096, 'avx512', 1, 196),
  gemm(4096, 'avx512', 2, 369),

  // 50 M params in one flat tensor; 28 bytes moved per parameter.
  adam('as-is', 1, 0.024, 'torch.optim.Adam foreach=False'),
  adam('thp', 1, 0.398, 'torch.optim.Adam foreach=False'),
  adam('as-is', 2, 0.069, 'torch.optim.Adam foreach=True'),
  adam('thp', 2, 0.616, 'torch.optim.Adam foreach=True'),
  adam('as-is', 2, 0.911, 'in-place reference, no temporaries'),
  adam('thp', 2, 0.73, 'in-place reference, no temporaries'),

  gpt2('small', 'as-is', 1, 970),
  gpt2('small', 'thp', 1, 2070),
  gpt2('small', 'thp+avx512', 1, 3540),
  gpt2('small', 'as-is', 2, 1020),
  gpt2('small', 'thp', 2, 1400),
  gpt2('small', 'thp+avx512', 2, 2200),
  gpt2('medium', 'as-is', 1, 247),
  gpt2('medium', 'thp', 1, 369),
  gpt2('medium', 'thp+avx512', 1, 720),
  gpt2('medium', 'as-is', 2, 300),
  gpt2('medium', 'thp', 2, 490),
  gpt2('medium', 'thp+avx512', 2, 615),
  { suite: 'gpt2', name: 'small_peak_rss', env: 'any', threads: 0, value: 0.65, unit: 'GiB', what: 'PyTorch peak RSS per process (~)' },
  { suite: 'gpt2', name: 'medium_peak_rss', env: 'any', threads: 0, value: 1.4, unit: 'GiB', what: 'PyTorch peak RSS per process (~)' },
];

/** Hardware ceilings (not PyTorch) used as context in the report. */
export const HARDWARE = {
  fp32PeakGflops: { avx512: { 1: 211, 2: 415 }, avx2: { 1: 102, 2: 205 } },
  streamTriadGBs: { 1: 29, 2: 56 },
  /** Adam moves 28 bytes per parameter: the triad bandwidth / 28 B. */
  adamLimitGparams: { 1: 1.0, 2: 2.0 },
  firstTouchGBs: { '4k': 0.34, huge: 15.4 },
} as const;

/** The GPT-2 sizes that baselines.md measured (no dropout, GELU tanh, tied head). */
export const GPT2_SIZES = {
  small: { vocab_size: 8192, n_embd: 256, n_layer: 4, n_head: 8, seq: 128, batch: 8, peakRssGiB: 0.65 },
  medium: { vocab_size: 16384, n_embd: 512, n_layer: 6, n_head: 8, seq: 256, batch: 4, peakRssGiB: 1.4 },
} as const;

export type Gpt2Size = keyof typeof GPT2_SIZES;

/** Baselines for one measurement, optionally only those at a thread count. */
export function baselinesFor(suite: string, name: string, threads?: number): Baseline[] {
  return BASELINES.filter((b) => b.suite === suite && b.name === name && (threads === undefined || b.threads === 0 || b.threads === threads));
}
