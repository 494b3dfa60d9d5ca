// DeepSpeed's csv_monitor: one CSV file per event name under <output_path>/<job_name>.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { checkEvents, checkOpen } from './events.js';
import type { Monitor, MonitorEvent } from './types.js';

export interface CsvMonitorOptions {
  /** Default '' (the working directory), as in DeepSpeed. */
  output_path?: string;
  /** Default 'DeepSpeedJobName'. */
  job_name?: string;
}

/** `Train/Samples/lr` -> `Train_Samples_lr` (DeepSpeed also replaces spaces). */
export function csvFileName(eventName: string): string {
  return `${eventName.replace(/[/ ]/g, '_')}.csv`;
}

/** Python's spelling, so files match DeepSpeed's for the values where the two differ. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return String(v);
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Each file gets a `step,<last path segment of the name>` header the first time this
 * monitor writes to it (appending to an existing file, as DeepSpeed does), then
 * `step,value` rows. Files stay open; each writeEvents call is one write per file.
 */
export class CsvMonitor implements Monitor {
  readonly logDir: string;
  readonly #fds = new Map<string, number>();
  #closed = false;

  constructor(options: CsvMonitorOptions = {}) {
    this.logDir = path.join(options.output_path ?? '', options.job_name ?? 'DeepSpeedJobName');
    mkdirSync(this.logDir, { recursive: true });
  }

  writeEvents(events: readonly MonitorEvent[]): void {
    checkOpen('CsvMonitor', this.#closed);
    checkEvents('CsvMonitor', events);
    const chunks = new Map<string, string[]>();
    for (const [name, value, step] of events) {
      const file = csvFileName(name);
      let lines = chunks.get(file);
      if (lines === undefined) {
        lines = [];
        chunks.set(file, lines);
        if (!this.#fds.has(file)) lines.push(`step,${csvField(name.split('/').pop()!)}`);
      }
      lines.push(`${step},${formatValue(value)}`);
    }
    for (const [file, lines] of chunks) {
      let fd = this.#fds.get(file);
      if (fd === undefined) {
        fd = openSync(path.join(this.logDir, file), 'a');
        this.#fds.set(file, fd);
      }
      writeSync(fd, `${lines.join('\n')}\n`);
    }
  }

  /** Writes are unbuffered; nothing to do. */
  flush(): void {}

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }
}
