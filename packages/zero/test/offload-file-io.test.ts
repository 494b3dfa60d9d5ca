// The asynchronous file I/O under NVMe offload: the native addon (thread pool, O_DIRECT where
// the filesystem takes it) and its fs twin must move the same bytes, including short reads at
// the end of a file, unaligned buffers and offsets, many requests in flight, and errors that
// name the call, the file and the offset.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeFileIO, nativeZeroAddon, referenceFileIO, type FileIO } from '../src/offload/index.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-zero-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const native = nativeFileIO();
if (!native) console.warn('@ds/zero-native is not built: file I/O tests run the fs twin only');
const IMPLS: [string, FileIO][] = [['reference', referenceFileIO], ...(native ? [['native', native] as [string, FileIO]] : [])];

let counter = 0;
const fresh = (name: string) => path.join(dir, `${name}-${counter++}.bin`);

/** Bytes with a pattern that differs at every position of a 4 KiB page and between pages. */
function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

describe.each(IMPLS)('%s file I/O', (_label, io) => {
  it('writes and reads back a multi-MiB buffer through an opened file, at an aligned and at an odd offset', async () => {
    const file = fresh('roundtrip');
    const { fd } = await io.open(file, true);
    const data = pattern(3 * 1024 * 1024 + 4096, 7);
    const src = io.allocAligned(data.length);
    src.set(data);
    expect(await io.writeFrom(fd, 8192, src)).toBe(data.length);
    const odd = pattern(1000, 9);
    expect(await io.writeFrom(fd, 8192 + data.length + 3, odd)).toBe(1000);
    const back = io.allocAligned(data.length);
    expect(await io.readInto(fd, 8192, back)).toBe(data.length);
    expect(Buffer.compare(back, data)).toBe(0);
    const oddBack = new Uint8Array(1000);
    expect(await io.readInto(fd, 8192 + data.length + 3, oddBack)).toBe(1000);
    expect(Buffer.compare(oddBack, odd)).toBe(0);
    await io.close(fd);
    // What is on disk is exactly what was written, gap bytes included.
    const disk = readFileSync(file);
    expect(disk.length).toBe(8192 + data.length + 3 + 1000);
    expect(disk.subarray(0, 8192).every((b) => b === 0)).toBe(true);
    expect(Buffer.compare(disk.subarray(8192, 8192 + data.length), data)).toBe(0);
  });

  it('reads fewer bytes only at the end of the file and leaves the rest of the buffer alone', async () => {
    const file = fresh('eof');
    writeFileSync(file, pattern(5000, 3));
    const buf = new Uint8Array(4096).fill(0xee);
    expect(await io.readInto(file, 4000, buf)).toBe(1000);
    expect(Buffer.compare(buf.subarray(0, 1000), pattern(5000, 3).subarray(4000))).toBe(0);
    expect(buf.subarray(1000).every((b) => b === 0xee)).toBe(true);
    expect(await io.readInto(file, 99999, buf)).toBe(0);
  });

  it('takes a path (opened per request, created for writes) or a descriptor from fs.openSync', async () => {
    const file = fresh('path');
    const data = pattern(10_000, 11);
    expect(await io.writeFrom(file, 100, data)).toBe(10_000);
    const fd = openSync(file, 'r');
    try {
      const back = new Uint8Array(10_000);
      expect(await io.readInto(fd, 100, back)).toBe(10_000);
      expect(Buffer.compare(back, data)).toBe(0);
    } finally {
      closeSync(fd);
    }
  });

  it('keeps many requests in flight on one file without mixing them up', async () => {
    const file = fresh('many');
    const { fd } = await io.open(file, true);
    const chunk = 64 * 1024;
    const blocks = Array.from({ length: 24 }, (_, i) => pattern(chunk, 100 + i));
    await Promise.all(blocks.map((b, i) => {
      const src = io.allocAligned(chunk);
      src.set(b);
      return io.writeFrom(fd, i * chunk, src);
    }));
    const backs = blocks.map(() => io.allocAligned(chunk));
    const counts = await Promise.all(backs.map((b, i) => io.readInto(fd, i * chunk, b)));
    expect(counts).toEqual(blocks.map(() => chunk));
    backs.forEach((b, i) => expect(Buffer.compare(b, blocks[i]!), `block ${i}`).toBe(0));
    await io.close(fd);
  });

  it('resolves an empty transfer with 0', async () => {
    expect(await io.writeFrom(fresh('empty'), 0, new Uint8Array(0))).toBe(0);
  });

  it('rejects with the call, the file, the offset and the errno code', async () => {
    const missing = path.join(dir, 'no-such-dir', 'x.bin');
    await expect(io.readInto(missing, 12, new Uint8Array(8))).rejects.toMatchObject({
      code: 'ENOENT',
      message: expect.stringMatching(new RegExp(`readInto: open on '${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' at offset 12 failed`)),
    });
    // A descriptor number nobody opened.
    await expect(io.readInto(987_654, 0, new Uint8Array(8))).rejects.toMatchObject({ code: 'EBADF', message: expect.stringMatching(/readInto: pread on fd 987654 at offset 0 failed/) });
  });

  it('checks its arguments before doing anything', async () => {
    const call = async (f: () => Promise<unknown>) => {
      try {
        await f();
      } catch (e) {
        return e as Error;
      }
      return null;
    };
    const e1 = await call(() => io.readInto(-1, 0, new Uint8Array(1)));
    expect(e1).toBeInstanceOf(RangeError);
    expect(e1!.message).toMatch(/readInto: 'file' must be an integer in \[0, 2147483647\], got -1/);
    const e2 = await call(() => io.writeFrom(fresh('args'), 1.5, new Uint8Array(1)));
    expect(e2).toBeInstanceOf(RangeError);
    expect(e2!.message).toMatch(/writeFrom: 'offset' must be a non-negative integer, got 1.5/);
    const e3 = await call(() => io.writeFrom(fresh('args'), 0, new Float32Array(1) as unknown as Uint8Array));
    expect(e3).toBeInstanceOf(TypeError);
    expect(e3!.message).toMatch(/writeFrom: 'buffer' must be a Uint8Array, got Float32Array/);
  });
});

describe.runIf(native !== null)('native specifics', () => {
  it('hands out buffers aligned for O_DIRECT and opens a direct twin on a filesystem that has it', async () => {
    const addon = nativeZeroAddon()!;
    expect(addon.directAlignment()).toBe(4096);
    expect(native!.alignment).toBe(4096);
    // The byte offset inside the ArrayBuffer is chosen so the data pointer is aligned: for a
    // fresh buffer it is almost never 0, and it always leaves room for `bytes`.
    const b = addon.allocAligned(10_000, 4096);
    expect(b.length).toBe(10_000);
    expect(b.buffer.byteLength).toBe(10_000 + 4096);
    expect(b.every((x) => x === 0)).toBe(true);
    expect(() => addon.allocAligned(16, 3000)).toThrow(/allocAligned: 'alignment' must be a power of two, got 3000/);
    const file = fresh('direct');
    const { fd, direct } = addon.open(file, true);
    // ext4/xfs take O_DIRECT; tmpfs may not. Either way the data must round-trip.
    expect(typeof direct).toBe('boolean');
    const src = addon.allocAligned(1 << 20);
    src.set(pattern(1 << 20, 5));
    const s0 = addon.ioStats();
    await addon.writeFrom(fd, 4096, src);
    const s1 = addon.ioStats();
    // Aligned buffer, offset and length: the whole transfer bypasses the page cache.
    if (direct) expect(s1.directBytes - s0.directBytes).toBe(1 << 20);
    else expect(s1.bufferedBytes - s0.bufferedBytes).toBe(1 << 20);
    // An unaligned view forces the buffered path on the same file, and sees the direct write.
    const odd = new Uint8Array(new ArrayBuffer(5000), 3, 4000);
    expect(await addon.readInto(fd, 4096 + 17, odd)).toBe(4000);
    expect(addon.ioStats().bufferedBytes - s1.bufferedBytes).toBe(4000);
    expect(Buffer.compare(odd, src.subarray(17, 4017))).toBe(0);
    addon.close(fd);
  });

  it('writes files the fs twin reads, and the other way round', async () => {
    const a = fresh('cross-a');
    const data = pattern(200_000, 21);
    await native!.writeFrom(a, 0, data);
    const back = new Uint8Array(data.length);
    expect(await referenceFileIO.readInto(a, 0, back)).toBe(data.length);
    expect(Buffer.compare(back, data)).toBe(0);
    const b = fresh('cross-b');
    await referenceFileIO.writeFrom(b, 4096, data);
    const back2 = native!.allocAligned(data.length);
    expect(await native!.readInto(b, 4096, back2)).toBe(data.length);
    expect(Buffer.compare(back2, data)).toBe(0);
  });

  it('runs on a pool whose size can change while idle', () => {
    const addon = nativeZeroAddon()!;
    const before = addon.ioThreads();
    addon.setIoThreads(2);
    expect(addon.ioThreads()).toBe(2);
    addon.setIoThreads(before);
    expect(addon.ioThreads()).toBe(before);
    expect(() => addon.setIoThreads(0)).toThrow(/setIoThreads: 'n' must be an integer in \[1, 256\], got 0/);
  });
});
