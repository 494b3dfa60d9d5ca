// Line-buffered rank prefixes for child output, and the stderr tail kept for failure reports.
import { StringDecoder } from 'node:string_decoder';

/** A line longer than this is flushed in pieces (each piece prefixed) instead of growing forever. */
const MAX_PENDING = 64 * 1024;

/**
 * Splits a byte stream into lines and writes each complete line as `prefix + line + "\n"`,
 * batching all the complete lines of one chunk into a single write. A trailing partial line
 * waits for the next chunk (or `end()`), so lines from different ranks never interleave.
 * With `prefix === ''` the bytes are still split on lines (so the tail works) but written as-is.
 */
export class LinePrefixer {
  readonly #prefix: string;
  readonly #write: (text: string) => void;
  readonly #onLine: ((line: string) => void) | undefined;
  readonly #decoder = new StringDecoder('utf8');
  #pending = '';

  constructor(prefix: string, write: (text: string) => void, onLine?: (line: string) => void) {
    this.#prefix = prefix;
    this.#write = write;
    this.#onLine = onLine;
  }

  push(chunk: Buffer | string): void {
    const text = this.#pending + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    const last = text.lastIndexOf('\n');
    if (last < 0) {
      this.#pending = text;
      if (this.#pending.length > MAX_PENDING) this.#flushPending();
      return;
    }
    this.#pending = text.slice(last + 1);
    const lines = text.slice(0, last).split('\n');
    let out = '';
    for (const line of lines) {
      this.#onLine?.(line);
      out += this.#prefix + line + '\n';
    }
    this.#write(out);
    if (this.#pending.length > MAX_PENDING) this.#flushPending();
  }

  /** Writes any unterminated last line (with a newline added). */
  end(): void {
    this.#pending += this.#decoder.end();
    if (this.#pending.length > 0) this.#flushPending();
  }

  #flushPending(): void {
    const line = this.#pending;
    this.#pending = '';
    this.#onLine?.(line);
    this.#write(this.#prefix + line + '\n');
  }
}

/** The last `capacity` lines pushed (a ring buffer). */
export class TailBuffer {
  readonly #lines: string[] = [];
  readonly #capacity: number;

  constructor(capacity = 20) {
    this.#capacity = capacity;
  }

  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#capacity) this.#lines.shift();
  }

  lines(): string[] {
    return [...this.#lines];
  }
}

/** The prefix put before each output line of a rank: `[rank 3] `. */
export function rankPrefix(rank: number): string {
  return `[rank ${rank}] `;
}
