// The TensorBoard event-file format, written by hand: TFRecord framing around protobuf-
// encoded tensorflow.Event messages (only the fields scalars need).
import { maskedCrc32c } from './crc32c.js';

/** Protobuf wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

const utf8 = new TextEncoder();

class ProtoWriter {
  readonly #parts: Uint8Array[] = [];
  #length = 0;

  #push(bytes: Uint8Array): void {
    this.#parts.push(bytes);
    this.#length += bytes.length;
  }

  #varint(value: bigint): void {
    const out: number[] = [];
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.#push(Uint8Array.from(out));
  }

  #tag(field: number, wire: number): void {
    this.#varint(BigInt((field << 3) | wire));
  }

  int64(field: number, value: number): this {
    this.#tag(field, VARINT);
    this.#varint(BigInt(value));
    return this;
  }

  double(field: number, value: number): this {
    this.#tag(field, FIXED64);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.#push(b);
    return this;
  }

  float(field: number, value: number): this {
    this.#tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.#push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, LENGTH_DELIMITED);
    this.#varint(BigInt(value.length));
    this.#push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

// tensorflow/core/util/event.proto and framework/summary.proto field numbers.
const EVENT_WALL_TIME = 1;
const EVENT_STEP = 2;
const EVENT_FILE_VERSION = 3;
const EVENT_SUMMARY = 5;
const SUMMARY_VALUE = 1;
const VALUE_TAG = 1;
const VALUE_SIMPLE_VALUE = 2;

/** The first record of every event file; TensorBoard reads "brain.Event:2" as the format version. */
export function fileVersionEvent(wallTimeSeconds: number): Uint8Array {
  return new ProtoWriter().double(EVENT_WALL_TIME, wallTimeSeconds).string(EVENT_FILE_VERSION, 'brain.Event:2').finish();
}

/** Event { wall_time, step, summary { value { tag, simple_value (float32) } } }, as SummaryWriter.add_scalar writes. */
export function scalarEvent(wallTimeSeconds: number, step: number, tag: string, value: number): Uint8Array {
  const summaryValue = new ProtoWriter().string(VALUE_TAG, tag).float(VALUE_SIMPLE_VALUE, value).finish();
  const summary = new ProtoWriter().bytes(SUMMARY_VALUE, summaryValue).finish();
  const event = new ProtoWriter().double(EVENT_WALL_TIME, wallTimeSeconds);
  // proto3 leaves default values out; readers take a missing step as 0.
  if (step !== 0) event.int64(EVENT_STEP, step);
  return event.bytes(EVENT_SUMMARY, summary).finish();
}

/** TFRecord: uint64 length, masked crc32c(length), data, masked crc32c(data); all little-endian. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}
