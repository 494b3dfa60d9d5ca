// TensorBoard event files, checked with an independent reader: TFRecord framing with both
// CRCs verified by a bitwise CRC-32C written here, and a generic protobuf decoder.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c, maskedCrc32c, TensorBoardMonitor } from '../src/monitor/index.js';

/** Bit-at-a-time CRC-32C (no table), independent of the implementation under test. */
function crc32cBitwise(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}
function mask(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

function readRecords(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const len = Number(view.getBigUint64(at, true));
    if (view.getUint32(at + 8, true) !== mask(crc32cBitwise(bytes.subarray(at, at + 8)))) throw new Error(`record at ${at}: bad length crc`);
    const data = bytes.subarray(at + 12, at + 12 + len);
    if (view.getUint32(at + 12 + len, true) !== mask(crc32cBitwise(data))) throw new Error(`record at ${at}: bad data crc`);
    out.push(data);
    at += 12 + len + 4;
  }
  if (at !== bytes.length) throw new Error('trailing bytes');
  return out;
}

type Field = { wire: 0; value: bigint } | { wire: 1; bytes: Uint8Array } | { wire: 2; bytes: Uint8Array } | { wire: 5; bytes: Uint8Array };

function decodeProto(buf: Uint8Array): Map<number, Field[]> {
  const fields = new Map<number, Field[]>();
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[at++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const [no, wire] = [key >>> 3, key & 7];
    let f: Field;
    if (wire === 0) f = { wire, value: varint() };
    else if (wire === 1) f = { wire, bytes: buf.subarray(at, (at += 8)) };
    else if (wire === 5) f = { wire, bytes: buf.subarray(at, (at += 4)) };
    else if (wire === 2) {
      const n = Number(varint());
      f = { wire, bytes: buf.subarray(at, (at += n)) };
    } else throw new Error(`unexpected wire type ${wire}`);
    fields.set(no, [...(fields.get(no) ?? []), f]);
  }
  return fields;
}

interface DecodedEvent {
  wallTime: number;
  step: bigint;
  fileVersion?: string;
  values: { tag: string; simpleValue: number }[];
}

function decodeEvent(buf: Uint8Array): DecodedEvent {
  const f = decodeProto(buf);
  const one = (no: number) => f.get(no)?.[0];
  const wall = one(1) as { bytes: Uint8Array };
  const ev: DecodedEvent = {
    wallTime: new DataView(wall.bytes.buffer, wall.bytes.byteOffset, 8).getFloat64(0, true),
    step: BigInt.asIntN(64, (one(2) as { value: bigint } | undefined)?.value ?? 0n),
    values: [],
  };
  const version = one(3) as { bytes: Uint8Array } | undefined;
  if (version) ev.fileVersion = new TextDecoder().decode(version.bytes);
  const summary = one(5) as { bytes: Uint8Array } | undefined;
  if (summary) {
    for (const v of decodeProto(summary.bytes).get(1) ?? []) {
      const vf = decodeProto((v as { bytes: Uint8Array }).bytes);
      const tag = new TextDecoder().decode((vf.get(1)![0] as { bytes: Uint8Array }).bytes);
      const sv = (vf.get(2)![0] as { wire: number; bytes: Uint8Array });
      expect(sv.wire, 'simple_value is a fixed32 float').toBe(5);
      ev.values.push({ tag, simpleValue: new DataView(sv.bytes.buffer, sv.bytes.byteOffset, 4).getFloat32(0, true) });
    }
  }
  return ev;
}

const text = (s: string) => new TextEncoder().encode(s);

describe('CRC-32C', () => {
  it('matches the known answers (check value and RFC 3720 iSCSI vectors), table-driven and bitwise alike', () => {
    const vectors: [Uint8Array, number][] = [
      [text('123456789'), 0xe3069283],
      [new Uint8Array(0), 0],
      [new Uint8Array(32), 0x8a9136aa],
      [new Uint8Array(32).fill(0xff), 0x62a8ab43],
      [Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
      [Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
    ];
    for (const [data, want] of vectors) {
      expect(crc32c(data)).toBe(want);
      expect(crc32cBitwise(data)).toBe(want);
      expect(maskedCrc32c(data)).toBe(mask(want));
    }
  });
});

describe('TensorBoardMonitor', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ds-tb-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes events.out.tfevents.<seconds>.<host> with a version record then one scalar event per entry', async () => {
    let clock = 1_700_000_000_250;
    const m = new TensorBoardMonitor({ output_path: dir, job_name: 'run-1', now: () => clock, hostname: 'node7' });
    expect(m.file).toBe(path.join(dir, 'run-1', 'events.out.tfevents.1700000000.node7'));
    clock += 1500;
    m.writeEvents([['Train/Samples/lr', 0.001, 0], ['Train/Samples/train_loss', 2.75, 0]]);
    clock += 1000;
    m.writeEvents([['Train/Samples/lr', 0.002, 64], ['Train/Samples/loss_scale', 65536, 2 ** 40]]);
    await m.close();

    const records = readRecords(readFileSync(m.file));
    const events = records.map(decodeEvent);
    expect(events[0]).toEqual({ wallTime: 1_700_000_000.25, step: 0n, fileVersion: 'brain.Event:2', values: [] });
    expect(events.slice(1).map((e) => [e.wallTime, e.step, e.values])).toEqual([
      [1_700_000_001.75, 0n, [{ tag: 'Train/Samples/lr', simpleValue: Math.fround(0.001) }]],
      [1_700_000_001.75, 0n, [{ tag: 'Train/Samples/train_loss', simpleValue: 2.75 }]],
      [1_700_000_002.75, 64n, [{ tag: 'Train/Samples/lr', simpleValue: Math.fround(0.002) }]],
      [1_700_000_002.75, 2n ** 40n, [{ tag: 'Train/Samples/loss_scale', simpleValue: 65536 }]],
    ]);
  });

  it('the reader rejects a corrupted byte, so the CRCs it accepted are real', async () => {
    const m = new TensorBoardMonitor({ output_path: dir, job_name: 'j', now: () => 5e12, hostname: 'h' });
    m.writeEvents([['a', 1, 1]]);
    await m.close();
    const bytes = readFileSync(m.file);
    bytes[bytes.length - 6]! ^= 0x01;
    writeFileSync(m.file, bytes);
    expect(() => readRecords(readFileSync(m.file))).toThrow(/bad data crc/);
  });

  it('a second writer in the same second gets its own file', async () => {
    const opts = { output_path: dir, job_name: 'j', now: () => 1_000_000, hostname: 'h' };
    const a = new TensorBoardMonitor(opts);
    const b = new TensorBoardMonitor(opts);
    b.writeEvents([['x', 3, 1]]);
    await Promise.all([a.close(), b.close()]);
    expect(readdirSync(path.join(dir, 'j')).sort()).toEqual(['events.out.tfevents.1000.h', 'events.out.tfevents.1000.h.1']);
    expect(readRecords(readFileSync(b.file)).map(decodeEvent)[1]!.values).toEqual([{ tag: 'x', simpleValue: 3 }]);
  });

  it('rejects bad events and writes after close', async () => {
    const m = new TensorBoardMonitor({ output_path: dir, job_name: 'j', hostname: 'h' });
    expect(() => m.writeEvents([['lr', 1, -1]])).toThrow(/TensorBoardMonitor.writeEvents: events\[0\] \('lr'\) step must be a non-negative integer, got -1/);
    expect(() => m.writeEvents([['ok', 1, 1], ['', 1, 1]])).toThrow(/events\[1\] name must be a non-empty string/);
    expect(() => m.writeEvents([['lr', '1' as never, 1]])).toThrow(/events\[0\] \('lr'\) value must be a number, got '1'/);
    await m.close();
    expect(readRecords(readFileSync(m.file))).toHaveLength(1);
    expect(() => m.writeEvents([['lr', 1, 1]])).toThrow(/TensorBoardMonitor: the monitor is closed/);
  });
});
