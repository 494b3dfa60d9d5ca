// The worker side of launchInProcess: the bootstrap each rank thread runs, and how
// initDistributed() recognises that it runs inside such a thread.
import { isMainThread, workerData } from 'node:worker_threads';
import type { InprocWorld } from './engine.js';
import { InprocRuntime } from './group.js';

/** The key under which a launched worker's workerData carries its world. */
export const WORKER_KEY = '__dsInproc';
const RUNTIME_KEY = Symbol.for('@ds/comm.inprocRuntime');

export interface WorkerPayload {
  world: InprocWorld;
  /** file: URL of the rank's module */
  script: string;
  exportName: string;
  args: unknown;
  /** file: URL of tsx's ESM API to register first (when running TypeScript sources), or '' */
  tsx: string;
  /** process.argv the rank's module sees (a worker's own is [node, '[worker eval]']) */
  argv: string[];
}

/** This thread's in-process runtime, created on first use when the thread is a launched rank. */
export function inprocRuntime(): InprocRuntime | null {
  const g = globalThis as { [RUNTIME_KEY]?: InprocRuntime };
  if (g[RUNTIME_KEY]) return g[RUNTIME_KEY];
  const payload = workerPayload();
  if (!payload) return null;
  return (g[RUNTIME_KEY] = new InprocRuntime(payload.world));
}

/** Install a runtime for this thread (the solo world outside a launcher). */
export function setInprocRuntime(rt: InprocRuntime | null): void {
  const g = globalThis as { [RUNTIME_KEY]?: InprocRuntime };
  if (rt) g[RUNTIME_KEY] = rt;
  else delete g[RUNTIME_KEY];
}

export function workerPayload(): WorkerPayload | null {
  if (isMainThread) return null;
  const d = workerData as Record<string, unknown> | null | undefined;
  const p = d && typeof d === 'object' ? (d[WORKER_KEY] as WorkerPayload | undefined) : undefined;
  return p ?? null;
}

/**
 * The bootstrap (CommonJS, run with `eval: true`). It registers tsx when the launcher runs from
 * TypeScript sources, imports the rank's module and calls its export with the args (a module
 * without one is a script: it runs until its event loop is empty); then it
 * drains the rank's pending collectives, marks the rank finished or failed in the control block
 * (through the runtime when the module initialised one) and reports to the launcher.
 */
export const BOOTSTRAP = `
const { workerData, parentPort } = require('node:worker_threads');
const p = workerData.${WORKER_KEY};
const RUNTIME = Symbol.for('@ds/comm.inprocRuntime');
const plain = (e) => e instanceof Error
  ? { name: e.name, message: e.message, stack: e.stack, fields: {} }
  : { name: 'Error', message: String(e), fields: {} };
(async () => {
  let value, error, failed = false;
  process.argv.splice(0, process.argv.length, ...p.argv);
  // process.exit(0) ends the thread at once (a script may call it before this function resumes,
  // and a message posted then may never arrive): mark the rank finished in shared memory, where
  // peers and the launcher see it.
  process.once('exit', (code) => {
    const rt = globalThis[RUNTIME];
    if (rt && code === 0) rt.markFinished();
  });
  try {
    if (p.tsx) (await import(p.tsx)).register();
    const mod = await import(p.script);
    const fn = mod[p.exportName];
    if (typeof fn === 'function') value = await fn(p.args);
    else if (p.exportName !== 'default') throw new TypeError(p.script + ' has no export named ' + p.exportName);
    else {
      // A plain script (main().catch(...) at its top level): like a process, it is finished when
      // its event loop has nothing left to do, not when its top level has run.
      parentPort.postMessage({ type: 'script' });
      await new Promise((resolve) => process.once('beforeExit', resolve));
    }
    const rt = globalThis[RUNTIME];
    if (rt) rt.drain();
  } catch (e) {
    error = e;
    failed = true;
  }
  const rt = globalThis[RUNTIME];
  if (rt) rt.markFinished(failed ? error : undefined);
  if (failed) {
    parentPort.postMessage({ type: 'error', error: rt ? rt.serializeError(error) : plain(error) });
  } else {
    try {
      parentPort.postMessage({ type: 'done', value });
    } catch (e) {
      parentPort.postMessage({ type: 'error', error: plain(new TypeError('rank ' + p.world.rank + ' returned a value that cannot be sent to the launcher: ' + e.message)) });
    }
  }
})();
`;
