// The safetensors header: parse + validate on the way in, encode on the way out.
//
// Layout (https://github.com/huggingface/safetensors): 8-byte little-endian u64 N, then N
// bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
// {string: string}}, then the data section; offsets are relative to the start of the data
// section. Validation happens here, once, so the reader can trust every offset it uses.
import { open, type FileHandle } from 'node:fs/promises';
import type { DType } from '../dtype.js';

/** The safetensors dtype names this package can hold as tensors. */
export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

export interface SafetensorsTensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** [begin, end) in bytes, relative to the start of the data section. */
  readonly dataOffsets: readonly [number, number];
}

export interface SafetensorsHeader {
  /** The path the header was read from (as given). */
  readonly path: string;
  /** N: length of the JSON header in bytes, padding included. */
  readonly headerSize: number;
  /** Absolute file offset of the data section (8 + N). */
  readonly dataStart: number;
  /** Length of the data section in bytes. */
  readonly dataSize: number;
  /** Tensor entries by name (null prototype, so any name - even `__proto__` - is a plain key). */
  readonly tensors: Readonly<Record<string, SafetensorsTensorInfo>>;
  /** `__metadata__` ({} when the file has none). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Every error about a safetensors file; `path` and (when one is to blame) `tensor` say where. */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  constructor(
    readonly path: string,
    detail: string,
    readonly tensor: string | null = null,
  ) {
    super(`${path}: ${detail}`);
  }
}

export const SUPPORTED_DTYPES: readonly SafetensorsDType[] = ['F32', 'F16', 'BF16', 'I32', 'I64'];

/**
 * Dtypes the format defines but tensors here cannot hold: named so the error says
 * "unsupported" (a real file from another framework) rather than "unknown" (corruption).
 */
const OTHER_FORMAT_DTYPES = new Set(['BOOL', 'U8', 'I8', 'U16', 'I16', 'U32', 'U64', 'F64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64']);

const TO_DTYPE: Readonly<Record<SafetensorsDType, DType>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I32: 'int32',
  I64: 'int64',
};
const FROM_DTYPE: Readonly<Record<DType, SafetensorsDType>> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int32: 'I32',
  int64: 'I64',
};
const ITEM_BYTES: Readonly<Record<SafetensorsDType, number>> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };

export function toDType(d: SafetensorsDType): DType {
  return TO_DTYPE[d];
}
export function fromDType(d: DType): SafetensorsDType {
  return FROM_DTYPE[d];
}
export function itemBytes(d: SafetensorsDType): number {
  return ITEM_BYTES[d];
}

/** Same limit as the reference implementation: a larger header is corruption, not a model. */
export const MAX_HEADER_SIZE = 100_000_000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function fmtShape(shape: readonly unknown[]): string {
  return `[${shape.map((d) => JSON.stringify(d)).join(', ')}]`;
}

function quoteName(name: string): string {
  return `'${name}'`;
}

function parseEntry(path: string, name: string, raw: unknown): SafetensorsTensorInfo {
  const fail = (detail: string): never => {
    throw new SafetensorsError(path, `tensor ${quoteName(name)} ${detail}`, name);
  };
  if (!isObject(raw)) fail(`has header entry ${JSON.stringify(raw)}; expected an object {dtype, shape, data_offsets}`);
  const entry = raw as Record<string, unknown>;

  const dtype = entry['dtype'];
  if (typeof dtype !== 'string' || !(SUPPORTED_DTYPES as readonly string[]).includes(dtype)) {
    const kind = typeof dtype === 'string' && OTHER_FORMAT_DTYPES.has(dtype) ? 'unsupported' : 'unknown';
    throw new SafetensorsError(
      path,
      `${kind} dtype ${typeof dtype === 'string' ? dtype : JSON.stringify(dtype)} for tensor ${quoteName(name)}; supported: ${SUPPORTED_DTYPES.join(', ')}`,
      name,
    );
  }
  const st = dtype as SafetensorsDType;

  const shape = entry['shape'];
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    fail(`has shape ${Array.isArray(shape) ? fmtShape(shape) : JSON.stringify(shape)}; expected an array of non-negative integers`);
  }
  const dims = shape as number[];

  const offsets = entry['data_offsets'];
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    fail(`has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(`has data_offsets [${begin}, ${end}]: end is before begin`);

  let n = 1;
  for (const d of dims) n *= d;
  const need = n * ITEM_BYTES[st];
  if (!Number.isSafeInteger(need)) fail(`has shape ${fmtShape(dims)} whose size does not fit in memory`);
  if (end - begin !== need) {
    fail(`has data_offsets [${begin}, ${end}] (${end - begin} bytes) but shape ${fmtShape(dims)} of ${st} needs ${need} bytes`);
  }
  return { dtype: st, shape: dims, dataOffsets: [begin, end] };
}

function parseMetadata(path: string, raw: unknown): Record<string, string> {
  if (!isObject(raw)) {
    throw new SafetensorsError(path, `__metadata__ is ${JSON.stringify(raw)}; expected an object of string values`);
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(path, `__metadata__ key ${JSON.stringify(k)} is ${JSON.stringify(v)}; expected a string value`);
    }
    out[k] = v;
  }
  return out;
}

/**
 * Validate the JSON header bytes against the file they came from. `fileSize` is the size of
 * the whole file, so the data section is fileSize - 8 - headerBytes.length.
 */
export function parseHeader(path: string, headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(path, `header (${headerBytes.length} bytes) is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const excerpt = text.length > 80 ? `${text.slice(0, 80)}...` : text;
    throw new SafetensorsError(path, `header is not valid JSON (${(e as Error).message}); it starts ${JSON.stringify(excerpt)}`);
  }
  if (!isObject(json)) {
    throw new SafetensorsError(path, `header JSON is ${Array.isArray(json) ? 'an array' : JSON.stringify(json)}; expected an object of tensor entries`);
  }

  const tensors: Record<string, SafetensorsTensorInfo> = Object.create(null) as Record<string, SafetensorsTensorInfo>;
  let metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(path, raw);
      continue;
    }
    const info = parseEntry(path, name, raw);
    tensors[name] = info;
    spans.push({ name, begin: info.dataOffsets[0], end: info.dataOffsets[1] });
  }

  // Overlap check on non-empty spans in offset order: two tensors sharing bytes would alias
  // after load in a writer's intent but not in ours, so such a file is refused outright.
  const filled = spans.filter((s) => s.end > s.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < filled.length; i++) {
    const prev = filled[i - 1]!;
    const cur = filled[i]!;
    if (cur.begin < prev.end) {
      throw new SafetensorsError(
        path,
        `tensors ${quoteName(prev.name)} (data_offsets [${prev.begin}, ${prev.end}]) and ${quoteName(cur.name)} (data_offsets [${cur.begin}, ${cur.end}]) overlap`,
        cur.name,
      );
    }
  }

  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  let expected = 0;
  let last: string | null = null;
  for (const s of spans) {
    if (s.end >= expected) {
      expected = s.end;
      last = s.name;
    }
  }
  if (dataSize < expected) {
    throw new SafetensorsError(
      path,
      `file is truncated: header says the data section is ${expected} bytes but only ${dataSize} are present` +
        (last !== null ? ` (tensor ${quoteName(last)} ends at ${expected})` : ''),
      last,
    );
  }
  if (dataSize > expected) {
    throw new SafetensorsError(
      path,
      `data section is ${dataSize} bytes but the header's data_offsets end at ${expected}: ${dataSize - expected} trailing bytes belong to no tensor`,
    );
  }
  return { path, headerSize: headerBytes.length, dataStart, dataSize, tensors, metadata };
}

/** Read exactly `length` bytes at `position` (fs reads may return short). Returns the count read. */
export async function readFully(fh: FileHandle, dst: Uint8Array, position: number): Promise<number> {
  // Node caps one read at 2 GiB - 1; 1 GiB chunks keep us clear of that on any platform.
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < dst.length) {
    const want = Math.min(CHUNK, dst.length - done);
    const { bytesRead } = await fh.read(dst, done, want, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Read and validate the header through an open handle (the loader reuses its handle). */
export async function readHeaderFrom(fh: FileHandle, path: string): Promise<SafetensorsHeader> {
  const fileSize = (await fh.stat()).size;
  if (fileSize < 8) {
    throw new SafetensorsError(path, `file is ${fileSize} bytes; a safetensors file starts with an 8-byte header length`);
  }
  const lenBytes = new Uint8Array(8);
  await readFully(fh, lenBytes, 0);
  const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw new SafetensorsError(path, `header length is ${n} bytes but the file has only ${fileSize - 8} bytes after the length field (not a safetensors file, or truncated)`);
  }
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new SafetensorsError(path, `header length is ${n} bytes; more than the ${MAX_HEADER_SIZE}-byte limit of the format`);
  }
  const headerBytes = new Uint8Array(Number(n));
  const got = await readFully(fh, headerBytes, 8);
  if (got !== headerBytes.length) {
    throw new SafetensorsError(path, `file is truncated: header says it is ${headerBytes.length} bytes but only ${got} could be read`);
  }
  return parseHeader(path, headerBytes, fileSize);
}

/** The header of a safetensors file (8-byte length + JSON), validated against the file size; no tensor data is read. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, 'r');
  try {
    return await readHeaderFrom(fh, path);
  } finally {
    await fh.close();
  }
}

/** Byte order of names as the Rust reference sorts them (UTF-8 bytes = code points, not UTF-16 units). */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export interface HeaderEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * Encode the header as the Rust reference writes it: compact JSON, `__metadata__` first
 * (omitted when empty), entries in the given order with keys dtype, shape, data_offsets,
 * space-padded to a multiple of 8. Built by hand because a JS object would reorder
 * integer-like keys.
 */
export function encodeHeader(entries: readonly HeaderEntry[], metadata: Readonly<Record<string, string>> | undefined): Uint8Array {
  const parts: string[] = [];
  const meta = metadata ? Object.entries(metadata) : [];
  if (meta.length > 0) {
    parts.push(`"__metadata__":{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  for (const e of entries) {
    parts.push(`${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":[${e.shape.join(',')}],"data_offsets":[${e.begin},${e.end}]}`);
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length);
  return out;
}
