// One swap file holding many named regions (a tensor, or one sub-group's parameters / moments),
// each starting at an aligned offset and padded to the alignment, so a transfer from an aligned
// buffer can go direct. Regions are reserved once and rewritten in place.
import fs from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileIO, type FileIO } from './file-io.js';

export interface SwapRegion {
  readonly key: string;
  /** Byte offset in the file (a multiple of the alignment). */
  readonly offset: number;
  /** Bytes of data the region holds. */
  readonly bytes: number;
  /** Bytes reserved: `bytes` rounded up to the alignment. */
  readonly paddedBytes: number;
}

export class SwapFile {
  readonly path: string;
  readonly io: FileIO;
  /** Whether aligned transfers bypass the page cache. */
  readonly direct: boolean;
  readonly #fd: number;
  readonly #align: number;
  readonly #regions = new Map<string, SwapRegion>();
  readonly #written = new Set<string>();
  #end = 0;
  #closed = false;
  /** A buffered descriptor for the synchronous transfers (opened on first use). */
  #syncFd: number | null = null;

  private constructor(file: string, io: FileIO, fd: number, direct: boolean) {
    this.path = file;
    this.io = io;
    this.#fd = fd;
    this.direct = direct;
    // Regions stay 4 KiB aligned even for the twin, so a file written by either reads back in the other.
    this.#align = Math.max(4096, io.alignment);
  }

  /** Create (or reuse) `file`, making its directory when missing. */
  static async open(file: string, io: FileIO = fileIO()): Promise<SwapFile> {
    if (typeof file !== 'string' || file === '') throw new TypeError(`SwapFile.open: the path must be a non-empty string, got ${JSON.stringify(file)}`);
    await mkdir(path.dirname(file), { recursive: true });
    const { fd, direct } = await io.open(file, true);
    return new SwapFile(file, io, fd, direct);
  }

  /** Reserve `bytes` under `key` at the end of the file. */
  reserve(key: string, bytes: number): SwapRegion {
    this.#checkOpen('reserve');
    if (this.#regions.has(key)) throw new Error(`SwapFile ${this.path}: region '${key}' is already reserved`);
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`SwapFile ${this.path}: region '${key}' needs a non-negative byte count, got ${bytes}`);
    const paddedBytes = Math.ceil(bytes / this.#align) * this.#align;
    const region: SwapRegion = { key, offset: this.#end, bytes, paddedBytes };
    this.#end += paddedBytes;
    this.#regions.set(key, region);
    return region;
  }

  /**
   * Change how many bytes a region holds, within its reserved (padded) size: a parameter
   * partition recast to a narrower dtype is rewritten in place.
   */
  resize(key: string, bytes: number): SwapRegion {
    const r = this.region(key);
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > r.paddedBytes) {
      throw new RangeError(`SwapFile ${this.path}: region '${key}' has ${r.paddedBytes} bytes reserved; cannot resize it to ${bytes}`);
    }
    const next: SwapRegion = { ...r, bytes };
    this.#regions.set(key, next);
    return next;
  }

  has(key: string): boolean {
    return this.#regions.has(key);
  }

  region(key: string): SwapRegion {
    const r = this.#regions.get(key);
    if (r) return r;
    const keys = [...this.#regions.keys()];
    const hint = keys.find((k) => k.toLowerCase() === key.toLowerCase());
    throw new RangeError(
      `SwapFile ${this.path}: no region '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}; ` +
        (keys.length ? `reserved: ${keys.slice(0, 8).map((k) => `'${k}'`).join(', ')}${keys.length > 8 ? ', ...' : ''}` : 'none is reserved yet'),
    );
  }

  /** Bytes the file spans once every region is written. */
  get sizeBytes(): number {
    return this.#end;
  }

  /**
   * Write `src` into the region. `src` may run past the region's data up to its padded size
   * (a whole aligned buffer), which keeps the transfer direct.
   */
  async write(key: string, src: Uint8Array): Promise<void> {
    this.#checkOpen('write');
    const r = this.region(key);
    if (src.length > r.paddedBytes || src.length < r.bytes) {
      throw new RangeError(`SwapFile ${this.path}: region '${key}' holds ${r.bytes} bytes (${r.paddedBytes} padded); cannot write ${src.length}`);
    }
    await this.io.writeFrom(this.#fd, r.offset, src);
    this.#written.add(key);
  }

  /** Whether the region has been written at least once (reading it before is an error). */
  written(key: string): boolean {
    return this.#written.has(key);
  }

  /** Read the region into `dst` (at least the region's bytes, at most its padded size). */
  async read(key: string, dst: Uint8Array): Promise<void> {
    this.#checkOpen('read');
    const r = this.region(key);
    if (dst.length > r.paddedBytes || dst.length < r.bytes) {
      throw new RangeError(`SwapFile ${this.path}: region '${key}' holds ${r.bytes} bytes (${r.paddedBytes} padded); cannot read into ${dst.length}`);
    }
    if (!this.#written.has(key)) throw new Error(`SwapFile ${this.path}: region '${key}' is read before it was ever written`);
    const got = await this.io.readInto(this.#fd, r.offset, dst);
    if (got < r.bytes) {
      throw new Error(`SwapFile ${this.path}: region '${key}' is truncated on disk (read ${got} of ${r.bytes} bytes); was the file changed by someone else?`);
    }
  }

  /**
   * Write the region's bytes from `src` synchronously, through the page cache (for synchronous
   * callers: construction hooks, checkpoint loads). Never while an asynchronous write of the
   * same region is pending.
   */
  writeSync(key: string, src: Uint8Array): void {
    this.#checkOpen('writeSync');
    const r = this.region(key);
    if (src.length > r.paddedBytes || src.length < r.bytes) {
      throw new RangeError(`SwapFile ${this.path}: region '${key}' holds ${r.bytes} bytes (${r.paddedBytes} padded); cannot write ${src.length}`);
    }
    this.#transferSync('write', r, src.subarray(0, r.bytes));
    this.#written.add(key);
  }

  /** Read the region's bytes into `dst` (at least the region's bytes) synchronously, through the page cache. */
  readSync(key: string, dst: Uint8Array): void {
    this.#checkOpen('readSync');
    const r = this.region(key);
    if (dst.length < r.bytes) throw new RangeError(`SwapFile ${this.path}: region '${key}' holds ${r.bytes} bytes; cannot read into ${dst.length}`);
    if (!this.#written.has(key)) throw new Error(`SwapFile ${this.path}: region '${key}' is read before it was ever written`);
    this.#transferSync('read', r, dst.subarray(0, r.bytes));
  }

  #transferSync(dir: 'read' | 'write', r: SwapRegion, bytes: Uint8Array): void {
    // A descriptor of its own: the asynchronous one may bypass the page cache (O_DIRECT), which
    // needs aligned buffers that synchronous callers do not have. Linux keeps both views coherent.
    this.#syncFd ??= fs.openSync(this.path, 'r+');
    let moved = 0;
    while (moved < bytes.length) {
      const sub = bytes.subarray(moved);
      const n = dir === 'read' ? fs.readSync(this.#syncFd, sub, 0, sub.length, r.offset + moved) : fs.writeSync(this.#syncFd, sub, 0, sub.length, r.offset + moved);
      if (n <= 0) {
        throw new Error(`SwapFile ${this.path}: region '${r.key}' is truncated on disk (${dir} stopped after ${moved} of ${bytes.length} bytes); was the file changed by someone else?`);
      }
      moved += n;
    }
  }

  /** Close the file and, unless `keep`, delete it. */
  async close(opts: { keep?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#syncFd !== null) {
      fs.closeSync(this.#syncFd);
      this.#syncFd = null;
    }
    await this.io.close(this.#fd);
    if (!opts.keep) await rm(this.path, { force: true });
  }

  #checkOpen(op: string): void {
    if (this.#closed) throw new Error(`SwapFile ${this.path}: ${op} after close()`);
  }
}
