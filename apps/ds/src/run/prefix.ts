// Line-buffered rank prefixes for child output, and the stderr tail kept for failure reports.
import { StringDecoder } from 'node:string_decoder';

/** A line longer than this is flushed in pieces (each piece prefixed) instead of growing forever. */
const MAX_PENDING = 64 * 1024;

/** Moves to column 0 of the current line: a carriage return or CSI G (`\x1b[G`, `\x1b[1G`, `\x1b[0G`). */
const TO_COLUMN_0 = /\r(?!\n)|\x1b\[[01]?G/g;
/** An escape sequence cut off at the end of a chunk (held back until the rest arrives). */
const CUT_ESCAPE = /\x1b(\[[0-9;?]*)?$/;

export interface LinePrefixerOptions {
  /**
   * Pass a partial line through as it arrives instead of holding it until its newline, putting
   * the prefix after every return to column 0: a progress bar that redraws its line (`\r`,
   * cursor-to-column) is seen live on the launcher's terminal. Only for a terminal: in a file
   * or pipe the redraws would be noise.
   */
  live?: boolean;
  /**
   * live mode: the terminal the prefixers write to, shared by all of them, so one that has a
   * partial line open (a bar) is ended before another writes over it.
   */
  screen?: Screen;
}

/** Which live prefixer has a partial line open on the terminal. */
export interface Screen {
  open: LinePrefixer | null;
}

/**
 * Splits a byte stream into lines and writes each complete line as `prefix + line + "\n"`,
 * batching all the complete lines of one chunk into a single write. A trailing partial line
 * waits for the next chunk (or `end()`), so lines from different ranks never interleave
 * (except in `live` mode, where a partial line is written at once).
 * With `prefix === ''` the bytes are still split on lines (so the tail works) but written as-is.
 */
export class LinePrefixer {
  readonly #prefix: string;
  readonly #write: (text: string) => void;
  readonly #onLine: ((line: string) => void) | undefined;
  readonly #live: boolean;
  readonly #decoder = new StringDecoder('utf8');
  #pending = '';
  /** live mode: the prefix of the current line has been written */
  #lineOpen = false;
  /** live mode: an escape sequence cut off at the end of the last chunk */
  #held = '';
  readonly #screen: Screen;

  constructor(prefix: string, write: (text: string) => void, onLine?: (line: string) => void, opts: LinePrefixerOptions = {}) {
    this.#prefix = prefix;
    this.#write = write;
    this.#onLine = onLine;
    this.#live = opts.live === true;
    this.#screen = opts.screen ?? { open: null };
  }

  push(chunk: Buffer | string): void {
    const decoded = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    if (this.#live) return this.#pushLive(decoded);
    const text = this.#pending + decoded;
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
    const rest = this.#decoder.end();
    if (this.#live) {
      if (rest) this.#pushLive(rest);
      const text = this.#held;
      this.#held = '';
      if (text || this.#lineOpen) this.#pushLive(`${text}\n`);
      return;
    }
    this.#pending += rest;
    if (this.#pending.length > 0) this.#flushPending();
  }

  #flushPending(): void {
    const line = this.#pending;
    this.#pending = '';
    this.#onLine?.(line);
    this.#write(this.#prefix + line + '\n');
  }

  #pushLive(decoded: string): void {
    let text = this.#held + decoded;
    const cut = CUT_ESCAPE.exec(text);
    this.#held = cut ? cut[0] : '';
    if (cut) text = text.slice(0, cut.index);
    if (!text) return;
    // the tail still gets whole lines
    const lines = (this.#pending + text).split('\n');
    this.#pending = lines.pop()!;
    for (const line of lines) this.#onLine?.(visible(line));
    if (this.#pending.length > MAX_PENDING) this.#pending = this.#pending.slice(-MAX_PENDING);
    let out = '';
    const other = this.#screen.open;
    if (other && other !== this) {
      // another stream's bar is mid-line: end it there; its next redraw starts a fresh line
      out += '\n';
      other.#lineOpen = false;
    }
    const parts = text.split('\n');
    parts.forEach((part, i) => {
      const ends = i < parts.length - 1;
      if (!this.#lineOpen && (part || ends)) {
        out += this.#prefix;
        this.#lineOpen = true;
      }
      out += this.#prefix ? part.replace(TO_COLUMN_0, (m) => m + this.#prefix) : part;
      if (ends) {
        out += '\n';
        this.#lineOpen = false;
      }
    });
    this.#screen.open = this.#lineOpen ? this : null;
    this.#write(out);
  }
}

/** What a redrawn line shows in the end: the text after its last return, without escape codes. */
function visible(line: string): string {
  const plain = line.replace(TO_COLUMN_0, '\r').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  return plain.slice(plain.lastIndexOf('\r') + 1);
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
