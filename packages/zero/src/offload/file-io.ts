// Asynchronous file I/O for NVMe offload. The native addon (native/zero, @ds/zero-native, an
// optional dependency) runs pread / pwrite on its own thread pool with O_DIRECT where the
// filesystem takes it; the TypeScript twin below does the same transfers through Node's fs
// (libuv's pool, always buffered) for machines without the addon. Both move the same bytes.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import { promisify } from 'node:util';

/** A file opened for offload I/O. */
export interface OpenedFile {
  fd: number;
  /** Whether aligned transfers bypass the page cache (O_DIRECT); always false for the twin. */
  direct: boolean;
}

/** Where a transfer goes: a descriptor from `open` (or fs.openSync), or a path opened per request. */
export type FileTarget = number | string;

export interface FileIO {
  readonly name: 'native' | 'reference';
  /** Byte alignment of buffers, offsets and lengths that lets a transfer go direct (1 for the twin). */
  readonly alignment: number;
  /** Open for reading, or reading and writing (created when missing, never truncated). */
  open(path: string, write: boolean): Promise<OpenedFile>;
  close(fd: number): Promise<void>;
  /** Read buffer.length bytes at `offset`; resolves with the count, fewer only at end of file. */
  readInto(file: FileTarget, offset: number, buffer: Uint8Array): Promise<number>;
  /** Write all of buffer at `offset`; resolves with buffer.length. */
  writeFrom(file: FileTarget, offset: number, buffer: Uint8Array): Promise<number>;
  /** A zeroed buffer whose start is aligned for direct transfers. */
  allocAligned(bytes: number): Uint8Array;
}

/** The addon's exports (native/zero/src/file_io.h documents each). */
export interface NativeZeroAddon {
  open(path: string, write: boolean): OpenedFile;
  close(fd: number): void;
  readInto(file: FileTarget, offset: number, buffer: Uint8Array): Promise<number>;
  writeFrom(file: FileTarget, offset: number, buffer: Uint8Array): Promise<number>;
  allocAligned(bytes: number, alignment?: number): Uint8Array;
  directAlignment(): number;
  ioThreads(): number;
  setIoThreads(n: number): void;
  /** Bytes moved so far in this process through O_DIRECT and through the page cache. */
  ioStats(): { directBytes: number; bufferedBytes: number };
}

function checkArgs(fn: string, file: unknown, offset: unknown, buffer: unknown): void {
  if (typeof file === 'string') {
    if (file === '') throw new RangeError(`${fn}: 'file' must be a file descriptor or a non-empty path, got ""`);
  } else if (typeof file !== 'number') {
    throw new TypeError(`${fn}: 'file' must be a file descriptor (integer >= 0) or a path string, got ${typeof file}`);
  } else if (!Number.isInteger(file) || file < 0 || file > 2147483647) {
    throw new RangeError(`${fn}: 'file' must be an integer in [0, 2147483647], got ${file}`);
  }
  if (typeof offset !== 'number') throw new TypeError(`${fn}: 'offset' must be a non-negative integer, got ${typeof offset}`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`${fn}: 'offset' must be a non-negative integer, got ${offset}`);
  if (!(buffer instanceof Uint8Array)) {
    const got = buffer === null ? 'null' : typeof buffer === 'object' ? (buffer as object).constructor?.name ?? 'object' : typeof buffer;
    throw new TypeError(`${fn}: 'buffer' must be a Uint8Array, got ${got}`);
  }
}

const fsOpen = promisify(fs.open);
const fsClose = promisify(fs.close);
const fsRead = promisify(fs.read);
const fsWrite = promisify(fs.write);

function fsError(fn: string, call: string, what: string, at: number, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const out = new Error(`${fn}: ${call} on ${what} at offset ${at} failed: ${e.message}`) as NodeJS.ErrnoException;
  out.code = e.code;
  out.errno = e.errno;
  out.syscall = e.syscall;
  out.cause = err;
  return out;
}

// Loops because a single fs.read / fs.write may move fewer bytes than asked.
async function transfer(fn: string, write: boolean, file: FileTarget, offset: number, buffer: Uint8Array): Promise<number> {
  checkArgs(fn, file, offset, buffer);
  if (buffer.length === 0) return 0;
  const what = typeof file === 'string' ? `'${file}'` : `fd ${file}`;
  let fd: number;
  if (typeof file === 'string') {
    try {
      fd = await fsOpen(file, write ? fs.constants.O_WRONLY | fs.constants.O_CREAT : fs.constants.O_RDONLY, 0o644);
    } catch (err) {
      throw fsError(fn, 'open', what, offset, err);
    }
  } else {
    fd = file;
  }
  let done = 0;
  try {
    while (done < buffer.length) {
      const at = offset + done;
      let n: number;
      try {
        n = write
          ? (await fsWrite(fd, buffer, done, buffer.length - done, at)).bytesWritten
          : (await fsRead(fd, buffer, done, buffer.length - done, at)).bytesRead;
      } catch (err) {
        throw fsError(fn, write ? 'pwrite' : 'pread', what, at, err);
      }
      if (n === 0) {
        if (write) throw fsError(fn, 'pwrite', what, at, Object.assign(new Error('wrote 0 bytes'), { code: 'EIO' }));
        break;
      }
      done += n;
    }
  } finally {
    if (typeof file === 'string') await fsClose(fd);
  }
  return done;
}

/** The TypeScript twin: buffered I/O through Node's fs, no alignment requirements. */
export const referenceFileIO: FileIO = {
  name: 'reference',
  alignment: 1,
  async open(path, write) {
    if (typeof path !== 'string' || path === '') throw new TypeError(`open: 'path' must be a non-empty string, got ${JSON.stringify(path)}`);
    const fd = await fsOpen(path, write ? fs.constants.O_RDWR | fs.constants.O_CREAT : fs.constants.O_RDONLY, 0o644);
    return { fd, direct: false };
  },
  close: (fd) => fsClose(fd),
  readInto: (file, offset, buffer) => transfer('readInto', false, file, offset, buffer),
  writeFrom: (file, offset, buffer) => transfer('writeFrom', true, file, offset, buffer),
  allocAligned(bytes) {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`allocAligned: 'bytes' must be a non-negative integer, got ${bytes}`);
    return new Uint8Array(bytes);
  },
};

let addon: NativeZeroAddon | null | undefined;
let loadError: string | null = null;
let active: FileIO | null = null;

/** The raw addon, loaded once; null when @ds/zero-native is missing or not built. */
export function nativeZeroAddon(): NativeZeroAddon | null {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)('@ds/zero-native') as NativeZeroAddon;
  } catch (err) {
    loadError = err instanceof Error ? err.message : String(err);
    addon = null;
  }
  return addon;
}

/** Why the addon could not be loaded; null when it loaded or was not tried yet. */
export function nativeZeroLoadError(): string | null {
  return loadError;
}

function bind(a: NativeZeroAddon): FileIO {
  const alignment = a.directAlignment();
  return {
    name: 'native',
    alignment,
    // The addon's open is synchronous (two open(2) calls); the Promise keeps one interface.
    open: async (path, write) => a.open(path, write),
    close: async (fd) => a.close(fd),
    readInto: a.readInto,
    writeFrom: a.writeFrom,
    allocAligned: (bytes) => a.allocAligned(bytes, alignment),
  };
}

function choose(): FileIO {
  const flag = process.env.DS_NATIVE;
  if (flag === '0' || flag === 'false') return referenceFileIO;
  const native = nativeZeroAddon();
  if (native) return bind(native);
  if (flag === '1' || flag === 'true') {
    throw new Error(`DS_NATIVE=${flag} but @ds/zero's native file I/O could not be loaded: ${loadError ?? 'unknown error'}`);
  }
  return referenceFileIO;
}

/** The file I/O offload uses: native when built (and DS_NATIVE is not 0), else the fs twin. */
export function fileIO(): FileIO {
  return (active ??= choose());
}

/** Switch explicitly; 'native' throws when the addon is not available. */
export function useFileIO(which: 'native' | 'reference'): FileIO {
  if (which !== 'native' && which !== 'reference') {
    throw new RangeError(`useFileIO: expected 'native' or 'reference', got ${JSON.stringify(which)}`);
  }
  if (which === 'reference') return (active = referenceFileIO);
  const native = nativeZeroAddon();
  if (!native) throw new Error(`useFileIO('native'): @ds/zero-native is unavailable: ${loadError ?? 'unknown error'}`);
  return (active = bind(native));
}

/** The native file I/O, or null when the addon is not built (tests compare both). */
export function nativeFileIO(): FileIO | null {
  const native = nativeZeroAddon();
  return native ? bind(native) : null;
}
