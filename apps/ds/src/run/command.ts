// The command line of one worker: `node [--import tsx] [--conditions=@ds/source] script [--local_rank=N] args`.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export interface ScriptOptions {
  script: string;
  args: readonly string[];
  /** Resolve workspace packages to their TypeScript source (`--conditions=@ds/source`, needs tsx). */
  dev?: boolean;
  /** Run `script` itself as the program instead of through node (DeepSpeed's --no_python). */
  noNode?: boolean;
  /** Extra node flags, before the script. */
  nodeArgs?: readonly string[];
  /** Append `--local_rank=<n>` before the script's own arguments (DeepSpeed's default). */
  localRank?: number;
  /** Run this program with the script as its first argument (the in-process backend's host). */
  host?: string;
}

/** The program `ds run --backend inproc` starts: @ds/comm's host of in-process ranks. */
export function inprocHostPath(): string {
  return createRequire(import.meta.url).resolve('@ds/comm/inproc-host');
}

const TS_SCRIPT = /\.(ts|mts|cts|tsx)$/;

let tsxUrl: string | undefined;
/** file: URL of tsx's loader, resolved from this package so a user's project needs no tsx. */
export function tsxLoaderUrl(): string {
  return (tsxUrl ??= pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href);
}

/** Whether `script` needs tsx (TypeScript, or --dev which loads workspace sources). */
export function needsTsx(script: string, dev = false): boolean {
  return dev || TS_SCRIPT.test(script);
}

export function scriptCommand(o: ScriptOptions): { command: string; args: string[] } {
  const rankArg = o.localRank === undefined ? [] : [`--local_rank=${o.localRank}`];
  if (o.noNode) return { command: o.script, args: [...rankArg, ...o.args] };
  const node: string[] = [...(o.nodeArgs ?? [])];
  if (o.dev) node.push('--conditions=@ds/source');
  if (needsTsx(o.script, o.dev)) node.push('--import', tsxLoaderUrl());
  return { command: process.execPath, args: [...node, ...(o.host ? [o.host] : []), o.script, ...rankArg, ...o.args] };
}
