// Shared helpers for the launcher tests: capture output, wait for files, check processes.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const WORKER = path.join(FIXTURES, 'worker.mjs');
export const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

export function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    stdout: (s: string) => void out.push(s),
    stderr: (s: string) => void err.push(s),
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

/** True while `pid` exists and is not a zombie (PID 1 here may not reap orphans). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - t0;
}

export function readPids(dir: string, n: number): number[] {
  return Array.from({ length: n }, (_, r) => Number(readFileSync(path.join(dir, `rank${r}.pid`), 'utf8')));
}

export function allPidFiles(dir: string, n: number): boolean {
  for (let r = 0; r < n; r++) if (!existsSync(path.join(dir, `rank${r}.pid`))) return false;
  return true;
}
