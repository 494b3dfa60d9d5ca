// `ds env`: what a bug report needs — node, CPU, BLAS and kernels, accelerators, installed ds
// packages, launcher tools and the variables that change ds's behaviour.
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { countGpus } from './run/env.js';

export interface EnvironmentReport {
  ds: { cli: string; core: string | null };
  node: { version: string; v8: string; platform: string; arch: string; glibc: string | null };
  cpu: { model: string; logicalCores: number; availableParallelism: number; memoryGiB: number; loadAverage: number[] };
  kernels: {
    active: string;
    simd: string;
    threads: number;
    blas: { library: string; core: string; config: string; threads: number };
    /** Why the native kernels are not in use (null when they are). */
    nativeUnavailable: string | null;
  } | { error: string };
  accelerators: { nvidiaDevices: number; cudaVisibleDevices: string | null };
  packages: Record<string, string | null>;
  tools: Record<string, string | null>;
  variables: Record<string, string>;
}

const PACKAGES = ['@ds/core', '@ds/core-native', '@ds/comm', '@ds/comm-gloo', '@ds/models', '@ds/engine'];
const TOOLS = ['ssh', 'pdsh', 'mpirun', 'srun'];
const VARIABLE = /^(DS_|OPENBLAS_|OMP_|GOTO_|CUDA_VISIBLE_DEVICES$|NCCL_|GLOO_|MASTER_(ADDR|PORT)$|(LOCAL_|GROUP_|NODE_|CROSS_)?RANK$|(LOCAL_)?WORLD_SIZE$|CROSS_SIZE$|LOCAL_SIZE$|NODE_OPTIONS$)/;

export async function environmentReport(cliVersion: string, cwd = process.cwd()): Promise<EnvironmentReport> {
  const cpus = os.cpus();
  return {
    ds: { cli: cliVersion, core: packageVersion('@ds/core', cwd) },
    node: {
      version: process.version,
      v8: process.versions.v8,
      platform: process.platform,
      arch: process.arch,
      glibc: (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime ?? null,
    },
    cpu: {
      model: cpus[0]?.model.trim() ?? 'unknown',
      logicalCores: cpus.length,
      availableParallelism: os.availableParallelism(),
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    kernels: await kernelReport(),
    accelerators: { nvidiaDevices: countGpus(), cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES ?? null },
    packages: Object.fromEntries(PACKAGES.map((p) => [p, packageVersion(p, cwd)])),
    tools: Object.fromEntries(TOOLS.map((t) => [t, which(t)])),
    variables: Object.fromEntries(Object.entries(process.env).filter(([k, v]) => VARIABLE.test(k) && v !== undefined).sort() as [string, string][]),
  };
}

async function kernelReport(): Promise<EnvironmentReport['kernels']> {
  try {
    const core = await import('@ds/core');
    let k = core.kernels();
    let nativeUnavailable: string | null = null;
    if (k.name !== 'native') {
      const flag = process.env.DS_NATIVE;
      if (flag === '0' || flag === 'false') nativeUnavailable = `DS_NATIVE=${flag} selects the TypeScript kernels`;
      else {
        try {
          k = core.useKernels('native');
        } catch (e) {
          nativeUnavailable = (e as Error).message;
        }
      }
    }
    return { active: k.name, simd: k.simd(), threads: k.getNumThreads(), blas: k.blasInfo(), nativeUnavailable };
  } catch (e) {
    return { error: `cannot load @ds/core: ${(e as Error).message}` };
  }
}

/** The version of `name` as the current project (then the CLI itself) would load it, or null. */
function packageVersion(name: string, cwd: string): string | null {
  for (const from of [path.join(cwd, 'package.json'), import.meta.url]) {
    try {
      const file = createRequire(from).resolve(`${name}/package.json`);
      return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    } catch {
      // not resolvable from here
    }
  }
  return null;
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, cmd);
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      // keep looking
    }
  }
  return null;
}

export function formatReport(r: EnvironmentReport): string {
  const lines: string[] = [];
  const row = (k: string, v: unknown) => lines.push(`  ${k.padEnd(22)} ${v}`);
  lines.push('ds environment report');
  lines.push('', 'ds');
  row('@ds/cli', r.ds.cli);
  row('@ds/core', r.ds.core ?? 'not found');
  lines.push('', 'node');
  row('version', `${r.node.version} (v8 ${r.node.v8})`);
  row('platform', `${r.node.platform}-${r.node.arch}${r.node.glibc ? ` glibc ${r.node.glibc}` : ''}`);
  lines.push('', 'cpu');
  row('model', r.cpu.model);
  row('logical cores', `${r.cpu.logicalCores} (available parallelism ${r.cpu.availableParallelism})`);
  row('memory', `${r.cpu.memoryGiB} GiB`);
  row('load average', r.cpu.loadAverage.join(' '));
  lines.push('', 'kernels');
  if ('error' in r.kernels) row('error', r.kernels.error);
  else {
    row('active', r.kernels.active);
    if (r.kernels.nativeUnavailable) row('native unavailable', r.kernels.nativeUnavailable);
    row('simd', r.kernels.simd);
    row('threads', r.kernels.threads);
    row('blas', `${r.kernels.blas.library} (core ${r.kernels.blas.core}, ${r.kernels.blas.threads} thread${r.kernels.blas.threads === 1 ? '' : 's'})`);
    row('blas config', r.kernels.blas.config);
  }
  lines.push('', 'accelerators');
  row('NVIDIA devices', r.accelerators.nvidiaDevices);
  row('CUDA_VISIBLE_DEVICES', r.accelerators.cudaVisibleDevices ?? '(unset)');
  lines.push('', 'packages');
  for (const [k, v] of Object.entries(r.packages)) row(k, v ?? 'not installed');
  lines.push('', 'launcher tools');
  for (const [k, v] of Object.entries(r.tools)) row(k, v ?? 'not found');
  lines.push('', 'variables');
  const vars = Object.entries(r.variables);
  if (vars.length === 0) lines.push('  (none set)');
  for (const [k, v] of vars) row(k, v);
  return `${lines.join('\n')}\n`;
}
