// DeepSpeed's tensorboard monitor without TensorFlow or torch: scalars go to a TensorBoard
// event file under <output_path>/<job_name>, readable by TensorBoard itself.
import { closeSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { checkEvents, checkOpen } from './events.js';
import { fileVersionEvent, scalarEvent, tfRecord } from './tfevent.js';
import type { Monitor, MonitorEvent } from './types.js';

export interface TensorBoardMonitorOptions {
  /** Default '' (the working directory). */
  output_path?: string;
  /** Default 'DeepSpeedJobName'. */
  job_name?: string;
  /** Wall clock in milliseconds since the epoch; default Date.now. */
  now?: () => number;
  /** Default os.hostname(). */
  hostname?: string;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Writes `events.out.tfevents.<unix seconds>.<hostname>` (with a `.N` suffix if that name
 * is taken; TensorBoard reads every file containing "tfevents"). One scalar event per
 * entry, as SummaryWriter.add_scalar does; values are stored as float32 (`simple_value`).
 */
export class TensorBoardMonitor implements Monitor {
  readonly logDir: string;
  readonly file: string;
  readonly #now: () => number;
  #fd: number | null;

  constructor(options: TensorBoardMonitorOptions = {}) {
    this.logDir = path.join(options.output_path ?? '', options.job_name ?? 'DeepSpeedJobName');
    this.#now = options.now ?? Date.now;
    mkdirSync(this.logDir, { recursive: true });
    const startMs = this.#now();
    const base = `events.out.tfevents.${Math.floor(startMs / 1000)}.${options.hostname ?? hostname()}`;
    let name = base;
    for (let n = 1; existsSync(path.join(this.logDir, name)); n++) name = `${base}.${n}`;
    this.file = path.join(this.logDir, name);
    // 'wx': never append to (or clobber) another writer's file.
    this.#fd = openSync(this.file, 'wx');
    writeSync(this.#fd, tfRecord(fileVersionEvent(startMs / 1000)));
  }

  writeEvents(events: readonly MonitorEvent[]): void {
    checkOpen('TensorBoardMonitor', this.#fd === null);
    checkEvents('TensorBoardMonitor', events);
    const wallTime = this.#now() / 1000;
    writeSync(this.#fd!, concat(events.map(([tag, value, step]) => tfRecord(scalarEvent(wallTime, step, tag, value)))));
  }

  /** Writes are unbuffered; nothing to do. */
  flush(): void {}

  async close(): Promise<void> {
    if (this.#fd === null) return;
    closeSync(this.#fd);
    this.#fd = null;
  }
}
