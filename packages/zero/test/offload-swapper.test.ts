// Swap buffers, swap files and the tensor swapper: a fixed pool that never hands out more than
// it has (first come, first served), aligned regions in one file, and tensors that leave memory
// and come back bit for bit, with prefetch and write-behind.
import { mkdtempSync, rmSync, existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nn, randn, tensor, Generator, Tensor } from '@ds/core';
import { nativeFileIO, referenceFileIO, SwapBufferPool, SwapFile, TensorSwapper, swapPath, type FileIO } from '../src/offload/index.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-zero-swap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => path.join(dir, `${name}-${counter++}.swp`);

const native = nativeFileIO();
const IMPLS: [string, FileIO][] = [['reference', referenceFileIO], ...(native ? [['native', native] as [string, FileIO]] : [])];

describe('SwapBufferPool', () => {
  it('hands out at most `count` buffers, serves waiters in arrival order, and tracks resident bytes', async () => {
    const pool = new SwapBufferPool({ count: 2, bufferBytes: 5000, io: referenceFileIO });
    expect(pool.bufferBytes).toBe(5000);
    expect(pool.capacityBytes).toBe(10_000);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(a).not.toBe(b);
    expect(pool.residentBytes).toBe(10_000);
    expect(pool.tryAcquire()).toBeNull();
    const order: string[] = [];
    const w1 = pool.acquire().then((x) => (order.push('first'), x));
    const w2 = pool.acquire().then((x) => (order.push('second'), x));
    expect(pool.waiting).toBe(2);
    pool.release(b);
    const got1 = await w1;
    expect(got1).toBe(b);
    pool.release(a);
    const got2 = await w2;
    expect(got2).toBe(a);
    expect(order).toEqual(['first', 'second']);
    pool.release(got1);
    pool.release(got2);
    expect(pool.inUse).toBe(0);
    expect(pool.peakResidentBytes).toBe(10_000);
    expect(() => pool.release(a)).toThrow(/release of buffer \d, which is not in use/);
  });

  it('rounds buffers up to the I/O alignment and rejects a bad count', () => {
    const io = { ...referenceFileIO, alignment: 4096 };
    expect(new SwapBufferPool({ count: 1, bufferBytes: 5000, io }).bufferBytes).toBe(8192);
    expect(() => new SwapBufferPool({ count: 0, bufferBytes: 10, io, label: 'offload_param' })).toThrow(/offload_param: buffer_count must be an integer >= 1, got 0/);
  });
});

describe.each(IMPLS)('SwapFile (%s I/O)', (_l, io) => {
  it('places regions at 4 KiB-aligned offsets and reads back what was written', async () => {
    const f = await SwapFile.open(fresh('regions'), io);
    const a = f.reserve('a', 10);
    const b = f.reserve('b', 5000);
    expect([a.offset, a.paddedBytes, b.offset, b.paddedBytes]).toEqual([0, 4096, 4096, 8192]);
    expect(f.sizeBytes).toBe(12288);
    const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 31) & 255);
    await f.write('b', data);
    const back = new Uint8Array(5000);
    await f.read('b', back);
    expect(Buffer.compare(back, data)).toBe(0);
    await expect(f.read('a', new Uint8Array(10))).rejects.toThrow(/region 'a' is read before it was ever written/);
    expect(() => f.region('B')).toThrow(/no region 'B' \(did you mean 'b'\?\)/);
    expect(() => f.reserve('a', 1)).toThrow(/region 'a' is already reserved/);
    await expect(f.write('b', new Uint8Array(9000))).rejects.toThrow(/region 'b' holds 5000 bytes \(8192 padded\); cannot write 9000/);
    const p = f.path;
    await f.close();
    expect(existsSync(p)).toBe(false);
  });
});

describe.each(IMPLS)('TensorSwapper (%s I/O)', (_l, io) => {
  it('swaps tensors of every float dtype out (dropping their storage) and back in bit for bit', async () => {
    const s = await TensorSwapper.create({ file: fresh('tensors'), bufferCount: 2, bufferBytes: 64 * 1024, io });
    const g = new Generator(3);
    const ts = [
      new nn.Parameter(randn([37, 11], { generator: g })),
      randn([300], { generator: g }).to('bfloat16'),
      randn([5, 7, 3], { generator: g }).to('float16'),
    ];
    const before = ts.map((t) => Array.from(t.data() as ArrayLike<number>));
    const shapes = ts.map((t) => [...t.shape]);
    for (const [i, t] of ts.entries()) await s.swapOutTensor(`t${i}`, t);
    for (const t of ts) {
      expect(t.numel).toBe(0);
      expect(t.shape).toEqual([0]);
    }
    expect(statSync(s.file.path).size).toBeGreaterThanOrEqual(2 * 4096);
    // Two buffers: bring two in, change one, write it back, then the third fits.
    await s.swapInTensor(ts[0]!);
    await s.swapInTensor(ts[1]!);
    expect(s.pool.inUse).toBe(2);
    expect(ts[0]!.shape).toEqual(shapes[0]);
    expect(Array.from(ts[0]!.data() as Float32Array)).toEqual(before[0]);
    expect(Array.from(ts[1]!.data() as Uint16Array)).toEqual(before[1]);
    expect(ts[0]).toBeInstanceOf(nn.Parameter);
    ts[0]!.data<'float32'>()[5] = 42;
    await s.releaseTensor(ts[0]!, { write: true });
    await s.releaseTensor(ts[1]!);
    expect(s.pool.inUse).toBe(0);
    await s.swapInTensor(ts[2]!);
    expect(ts[2]!.dtype).toBe('float16');
    expect(Array.from(ts[2]!.data() as Uint16Array)).toEqual(before[2]);
    await s.swapInTensor(ts[0]!);
    expect(ts[0]!.data<'float32'>()[5]).toBe(42);
    expect(ts[0]!.data<'float32'>()[4]).toBe(before[0]![4]);
    expect(s.pool.peakResidentBytes).toBeLessThanOrEqual(s.pool.capacityBytes);
    await s.close();
  });

  it('serves swapIn from a prefetch and makes a read of a key wait for its pending write-behind', async () => {
    const s = await TensorSwapper.create({ file: fresh('prefetch'), bufferCount: 3, bufferBytes: 4096, io });
    await s.swapOut('x', Float32Array.from([1, 2, 3]));
    await s.swapOut('y', Float32Array.from([4, 5, 6]));
    s.prefetch('y');
    const x = await s.swapIn('x');
    new Float32Array(x.bytes.buffer, x.bytes.byteOffset, 3).set([7, 8, 9]);
    const pending = s.writeBack(x);
    // Queued behind the write: must see 7, 8, 9, never the old 1, 2, 3.
    const again = s.swapIn('x');
    const y = await s.swapIn('y');
    expect(s.stats.prefetchHits).toBe(1);
    expect(Array.from(new Float32Array(y.bytes.buffer, y.bytes.byteOffset, 3))).toEqual([4, 5, 6]);
    await pending;
    const x2 = await again;
    expect(Array.from(new Float32Array(x2.bytes.buffer, x2.bytes.byteOffset, 3))).toEqual([7, 8, 9]);
    s.release(x2);
    s.release(y);
    await s.flush();
    expect(s.stats.writes).toBe(3);
    expect(() => s.release(y)).toThrow(/release of 'y', which is not swapped in/);
    await s.close();
  });

  it('says what to raise when a tensor does not fit one buffer, and refuses a double swap-in', async () => {
    const s = await TensorSwapper.create({ file: fresh('errors'), bufferCount: 1, bufferBytes: 4096, io, label: 'offload_param' });
    await expect(s.swapOutTensor('big', tensor(new Float32Array(2000)))).rejects.toThrow(
      /offload_param: 'big' needs 8000 bytes but a swap buffer holds 4096; raise buffer_size/,
    );
    await s.swapOut('k', new Float32Array(4));
    const r = await s.swapIn('k');
    await expect(s.swapIn('k')).rejects.toThrow(/'k' is already swapped in; release or write it back first/);
    await expect(s.swapInTensor(new Tensor(new Float32Array(1), [1], 'float32'))).rejects.toThrow(/never swapped out/);
    s.release(r);
    await s.close();
  });
});

describe('swapPath', () => {
  it("follows DeepSpeed's layout under nvme_path and names nvme_path when it is missing", () => {
    expect(swapPath('/nvme', 'params', 3, 'float16')).toBe(path.join('/nvme', 'zero_stage_3', 'float16params', 'rank3'));
    expect(swapPath('/nvme', 'optimizer', 0)).toBe(path.join('/nvme', 'zero_stage_3', 'optimizer', 'rank0'));
    expect(() => swapPath('', 'params', 0)).toThrow(/nvme_path must be a directory path when device is "nvme"/);
  });
});
