import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import {
  loadSafetensors,
  loadSafetensorsWithMetadata,
  readSafetensorsHeader,
  saveSafetensors,
  SafetensorsError,
} from '../src/safetensors/index.js';

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ds-safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileNo = 0;
const tmpFile = (stem = 'f'): string => path.join(dir, `${stem}-${fileNo++}.safetensors`);

/** The raw bytes of a tensor's elements in row-major order, for bit-exact comparison. */
function bytesOf(t: Tensor): Uint8Array {
  const d = t.data();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
}

function make(dtype: DType, shape: number[], fill: (i: number) => number): Tensor {
  let n = 1;
  for (const d of shape) n *= d;
  switch (dtype) {
    case 'float32':
      return new Tensor(Float32Array.from({ length: n }, (_, i) => fill(i)), shape, dtype);
    case 'float16':
    case 'bfloat16':
      return new Tensor(Uint16Array.from({ length: n }, (_, i) => fill(i) & 0xffff), shape, dtype);
    case 'int32':
      return new Tensor(Int32Array.from({ length: n }, (_, i) => fill(i)), shape, dtype);
    case 'int64':
      return new Tensor(BigInt64Array.from({ length: n }, (_, i) => BigInt(fill(i)) * 0x1_0000_0001n), shape, dtype);
  }
}

/** Build a file from raw parts, so malformed headers can be written. */
async function writeRaw(header: string | Uint8Array | object, data: Uint8Array | number, lengthField?: bigint): Promise<string> {
  const json =
    header instanceof Uint8Array ? Buffer.from(header) : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const buf = Buffer.alloc(8 + json.length + body.length);
  buf.writeBigUInt64LE(lengthField ?? BigInt(json.length), 0);
  json.copy(buf, 8);
  buf.set(body, 8 + json.length);
  const p = tmpFile('raw');
  await writeFile(p, buf);
  return p;
}

describe('round trip', () => {
  const dtypes: DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'int64'];

  it.each(dtypes)('%s: regular, 0-d, empty and non-contiguous tensors come back bit-identical', async (dtype) => {
    const base = make(dtype, [3, 4], (i) => i * 7 - 11);
    const tensors: Record<string, Tensor> = {
      matrix: base,
      scalar: make(dtype, [], () => 42),
      empty: make(dtype, [0], () => 0),
      empty3d: make(dtype, [2, 0, 3], () => 0),
      // transpose of base: strides [1, 4]
      transposed: base.asStrided([4, 3], [1, 4], 0),
      // every other column starting at column 1, with an offset
      strided: base.asStrided([3, 2], [4, 2], 1),
    };
    expect(tensors.transposed!.isContiguous()).toBe(false);
    const p = tmpFile(dtype);
    await saveSafetensors(p, tensors);
    const back = await loadSafetensors(p);
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const b = back[name]!;
      expect(b.dtype, name).toBe(dtype);
      expect(b.shape, name).toEqual(t.shape);
      expect(b.isContiguous(), name).toBe(true);
      expect(bytesOf(b), name).toEqual(bytesOf(t));
    }
    expect(Array.from(back.transposed!.toFloat32Array())).toEqual(Array.from(tensors.transposed!.toFloat32Array()));
  });

  it('keeps bit patterns the number path would lose (NaN payloads, -0, 16-bit NaNs, int64 extremes)', async () => {
    const f32bits = new Uint32Array([0x7fc00001, 0xffa00000, 0x80000000, 0x00000001, 0x7f800000]);
    const tensors = {
      f32: new Tensor(new Float32Array(f32bits.buffer), [5], 'float32'),
      f16: new Tensor(new Uint16Array([0x7e01, 0xfc00, 0x8000, 0x0001]), [4], 'float16'),
      bf16: new Tensor(new Uint16Array([0x7fc1, 0xff80, 0x8000, 0x0001]), [4], 'bfloat16'),
      i64: new Tensor(new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, -1n]), [3], 'int64'),
      i32: new Tensor(new Int32Array([-(2 ** 31), 2 ** 31 - 1]), [2], 'int32'),
    };
    const p = tmpFile();
    await saveSafetensors(p, tensors);
    const back = await loadSafetensors(p);
    for (const [name, t] of Object.entries(tensors)) expect(bytesOf(back[name]!), name).toEqual(bytesOf(t));
  });

  it('writes the reference layout: sorted names (bytewise), consecutive offsets, compact JSON padded to 8, metadata first', async () => {
    const tensors: Record<string, Tensor> = Object.fromEntries([
      ['b', make('float32', [2], (i) => i)],
      ['10', make('int64', [1], () => 1)],
      ['2', make('float16', [3], () => 0x3c00)],
      ['a.weight', make('int32', [2, 2], (i) => i)],
      ['é', make('bfloat16', [1], () => 0x3f80)],
      ['\u{1F600}', make('float32', [], () => 1)],
      ['\uFF21', make('float32', [], () => 2)],
    ]);
    const p = tmpFile();
    await saveSafetensors(p, tensors, { format: 'pt', note: 'x"y' });
    const raw = await readFile(p);
    const n = Number(raw.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = raw.subarray(8, 8 + n).toString('utf8');
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt","note":"x\\"y"},' +
        '"10":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
        '"2":{"dtype":"F16","shape":[3],"data_offsets":[8,14]},' +
        '"a.weight":{"dtype":"I32","shape":[2,2],"data_offsets":[14,30]},' +
        '"b":{"dtype":"F32","shape":[2],"data_offsets":[30,38]},' +
        '"é":{"dtype":"BF16","shape":[1],"data_offsets":[38,40]},' +
        // UTF-8 byte order puts U+FF21 before U+1F600 (UTF-16 unit order would not)
        '"Ａ":{"dtype":"F32","shape":[],"data_offsets":[40,44]},' +
        '"\u{1F600}":{"dtype":"F32","shape":[],"data_offsets":[44,48]}}',
    );
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    expect(raw.length).toBe(8 + n + 48);

    const { tensors: back, metadata } = await loadSafetensorsWithMetadata(p);
    expect(metadata).toEqual({ format: 'pt', note: 'x"y' });
    for (const [name, t] of Object.entries(tensors)) expect(bytesOf(back[name]!), name).toEqual(bytesOf(t));
  });

  it('omits __metadata__ when there is none, and loads {} for it', async () => {
    const p = tmpFile();
    await saveSafetensors(p, { x: make('float32', [1], () => 1) });
    const raw = await readFile(p);
    expect(raw.toString('utf8')).not.toContain('__metadata__');
    expect((await loadSafetensorsWithMetadata(p)).metadata).toEqual({});
    const h = await readSafetensorsHeader(p);
    expect(h.metadata).toEqual({});
  });

  it('handles a tensor named __proto__ as an ordinary name', async () => {
    const p = tmpFile();
    const tensors = Object.fromEntries([['__proto__', make('float32', [2], (i) => i + 1)]]) as Record<string, Tensor>;
    await saveSafetensors(p, tensors);
    const back = await loadSafetensors(p);
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    expect(Array.from(back['__proto__']!.toFloat32Array())).toEqual([1, 2]);
  });

  it('saves an empty dict as a valid file', async () => {
    const p = tmpFile();
    await saveSafetensors(p, {});
    expect(await loadSafetensors(p)).toEqual({});
    expect((await readFile(p)).length).toBe(16); // 8 + "{}" padded to 8
  });

  it('gives every loaded tensor its own exactly-sized, aligned buffer', async () => {
    const p = tmpFile();
    // 3 bytes of F16 before I64 data: offsets in the file are not 8-aligned.
    await saveSafetensors(p, { a: make('float16', [3], (i) => i), b: make('int64', [5], (i) => i) });
    const h = await readSafetensorsHeader(p);
    expect(h.tensors.b!.dataOffsets[0] % 8).not.toBe(0);
    const back = await loadSafetensors(p);
    for (const t of Object.values(back)) {
      expect(t.storage.byteOffset).toBe(0);
      expect(t.storage.buffer.byteLength).toBe(t.storage.byteLength);
    }
    expect(back.a!.storage.buffer).not.toBe(back.b!.storage.buffer);
    expect(Array.from(back.b!.data() as BigInt64Array)).toEqual([0n, 0x1_0000_0001n, 2n * 0x1_0000_0001n, 3n * 0x1_0000_0001n, 4n * 0x1_0000_0001n]);
  });

  it('loads a subset by name and suggests near names for unknown ones', async () => {
    const p = tmpFile();
    await saveSafetensors(p, {
      'h.0.attn.c_attn.weight': make('float32', [2, 2], (i) => i),
      'h.0.attn.c_attn.bias': make('float32', [2], (i) => i),
      'h.1.mlp.c_fc.weight': make('float32', [1], (i) => i),
    });
    const sub = await loadSafetensors(p, { names: ['h.0.attn.c_attn.bias'] });
    expect(Object.keys(sub)).toEqual(['h.0.attn.c_attn.bias']);
    const err = await loadSafetensors(p, { names: ['h.0.attn.c_atn.weight'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message).toBe(`${p}: no tensor named 'h.0.attn.c_atn.weight'; did you mean 'h.0.attn.c_attn.weight'?`);
    await expect(loadSafetensors(p, { names: ['zzz'] })).rejects.toThrow(`${p}: no tensor named 'zzz'; the file has 3 tensors`);
  });

  it('header reader reports sizes and entries without loading data', async () => {
    const p = tmpFile();
    await saveSafetensors(p, { w: make('float32', [2, 3], (i) => i) }, { k: 'v' });
    const h = await readSafetensorsHeader(p);
    expect(h.path).toBe(p);
    expect(h.headerSize % 8).toBe(0);
    expect(h.dataStart).toBe(8 + h.headerSize);
    expect(h.dataSize).toBe(24);
    expect(h.tensors.w).toEqual({ dtype: 'F32', shape: [2, 3], dataOffsets: [0, 24] });
    expect(h.metadata).toEqual({ k: 'v' });
  });
});

describe('golden files', () => {
  interface OpCase {
    name: string;
    file: string;
    prefix: string;
    inputs: Record<string, { shape: number[]; dtype: string }>;
    outputs: Record<string, number[]>;
    grad_out?: { shape: number[] };
    input_grads: string[];
  }
  const cases = (JSON.parse(readFileSync(path.join(GOLDEN, 'ops/cases.json'), 'utf8')) as { cases: OpCase[] }).cases;
  const dtypeOf: Record<string, DType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', I32: 'int32', I64: 'int64' };
  const opFiles = [...new Set(cases.map((c) => c.file))].sort();

  it('ops/cases.json names one file per op family, all present', () => {
    const onDisk = readdirSync(path.join(GOLDEN, 'ops')).filter((f) => f.endsWith('.safetensors')).sort();
    expect(opFiles).toEqual(onDisk);
  });

  it.each(opFiles)('ops/%s has the shapes and dtypes of ops/cases.json', async (file) => {
    const tensors = await loadSafetensors(path.join(GOLDEN, 'ops', file));
    const expected = new Map<string, { shape: number[]; dtype: DType }>();
    for (const c of cases.filter((k) => k.file === file)) {
      for (const [k, v] of Object.entries(c.inputs)) expected.set(c.prefix + k, { shape: v.shape, dtype: dtypeOf[v.dtype]! });
      for (const [k, shape] of Object.entries(c.outputs)) expected.set(c.prefix + k, { shape, dtype: 'float32' });
      if (c.grad_out) expected.set(`${c.prefix}grad_out`, { shape: c.grad_out.shape, dtype: 'float32' });
      for (const g of c.input_grads) expected.set(c.prefix + g, { shape: c.inputs[g.slice('grad_'.length)]!.shape, dtype: 'float32' });
    }
    expect(Object.keys(tensors).sort()).toEqual([...expected.keys()].sort());
    for (const [name, e] of expected) {
      expect(tensors[name]!.shape, name).toEqual(e.shape);
      expect(tensors[name]!.dtype, name).toBe(e.dtype);
    }
  });

  const gpt2Params = (() => {
    const V = 256;
    const P = 64;
    const C = 64;
    const p: Record<string, number[]> = { 'transformer.wte.weight': [V, C], 'transformer.wpe.weight': [P, C] };
    for (let i = 0; i < 2; i++) {
      const h = `transformer.h.${i}.`;
      Object.assign(p, {
        [`${h}ln_1.weight`]: [C], [`${h}ln_1.bias`]: [C],
        [`${h}attn.c_attn.weight`]: [C, 3 * C], [`${h}attn.c_attn.bias`]: [3 * C],
        [`${h}attn.c_proj.weight`]: [C, C], [`${h}attn.c_proj.bias`]: [C],
        [`${h}ln_2.weight`]: [C], [`${h}ln_2.bias`]: [C],
        [`${h}mlp.c_fc.weight`]: [C, 4 * C], [`${h}mlp.c_fc.bias`]: [4 * C],
        [`${h}mlp.c_proj.weight`]: [4 * C, C], [`${h}mlp.c_proj.bias`]: [C],
      });
    }
    p['transformer.ln_f.weight'] = [C];
    p['transformer.ln_f.bias'] = [C];
    return p;
  })();

  it.each(['model.safetensors', 'step0_grads.safetensors', 'final_params_a_adamw.safetensors'])(
    'gpt2/%s holds every GPT-2 parameter (F32, HF names, no lm_head)',
    async (file) => {
      const tensors = await loadSafetensors(path.join(GOLDEN, 'gpt2', file));
      expect(Object.keys(tensors).sort()).toEqual(Object.keys(gpt2Params).sort());
      for (const [name, shape] of Object.entries(gpt2Params)) {
        expect(tensors[name]!.shape, name).toEqual(shape);
        expect(tensors[name]!.dtype, name).toBe('float32');
      }
    },
  );

  it('gpt2/model.safetensors carries its metadata', async () => {
    const { metadata } = await loadSafetensorsWithMetadata(path.join(GOLDEN, 'gpt2/model.safetensors'));
    expect(metadata.format).toBe('pt');
    expect(metadata.note).toContain('lm_head tied');
  });

  it('gpt2/data.safetensors and step0.safetensors have the listed shapes', async () => {
    const data = await loadSafetensors(path.join(GOLDEN, 'gpt2/data.safetensors'));
    for (const k of ['input_ids', 'targets']) {
      expect(data[k]!.shape).toEqual([8, 4, 64]);
      expect(data[k]!.dtype).toBe('int64');
    }
    const ids = data.input_ids!.data() as BigInt64Array;
    expect(ids.every((v) => v >= 0n && v < 256n)).toBe(true);

    const step0 = await loadSafetensors(path.join(GOLDEN, 'gpt2/step0.safetensors'));
    expect(step0.logits!.shape).toEqual([4, 64, 256]);
    expect(step0.loss!.shape).toEqual([]);
    expect(step0.loss!.item()).toBeCloseTo(5.556400299072266, 6);
    for (let j = 0; j <= 3; j++) expect(step0[`hidden_states.${j}`]!.shape).toEqual([4, 64, 64]);
    expect(Object.keys(step0).length).toBe(6);
  });

  it('precision, moe and optim files load with their listed dtypes', async () => {
    const r = await loadSafetensors(path.join(GOLDEN, 'precision/random.safetensors'));
    const want: Record<string, DType> = {
      x_f32: 'float32', to_f16: 'float16', to_bf16: 'bfloat16', f16_to_f32: 'float32',
      bf16_to_f32: 'float32', x_bits_i64: 'int64', is_nan: 'int32',
    };
    expect(Object.keys(r).sort()).toEqual(Object.keys(want).sort());
    for (const [k, d] of Object.entries(want)) {
      expect(r[k]!.dtype, k).toBe(d);
      expect(r[k]!.shape, k).toEqual([4096]);
    }
    const o = await loadSafetensors(path.join(GOLDEN, 'optim/trajectories.safetensors'), { names: ['param0', 'grads'] });
    expect(o.param0!.shape).toEqual([37]);
    expect(o.grads!.shape).toEqual([10, 37]);
    const m = await loadSafetensors(path.join(GOLDEN, 'moe/gating.safetensors'));
    const dtypes = new Set(Object.values(m).map((t) => t.dtype));
    expect([...dtypes].sort()).toEqual(['float32', 'int32', 'int64']);
  });

  const allGolden = ['ops', 'gpt2', 'precision', 'moe', 'optim'].flatMap((d) =>
    readdirSync(path.join(GOLDEN, d))
      .filter((f) => f.endsWith('.safetensors'))
      .map((f) => `${d}/${f}`),
  );

  // The golden files use the Rust reference's layout (compact JSON, __metadata__ first,
  // sorted names, space padding), so a load + save must reproduce them byte for byte.
  it.each(allGolden)('%s: load + save reproduces the file byte for byte', async (rel) => {
    const src = path.join(GOLDEN, rel);
    const { tensors, metadata } = await loadSafetensorsWithMetadata(src);
    const out = tmpFile('resave');
    await saveSafetensors(out, tensors, metadata);
    const [a, b] = await Promise.all([readFile(src), readFile(out)]);
    expect(b.length).toBe(a.length);
    expect(Buffer.compare(a, b)).toBe(0);
  });
});

describe('malformed files', () => {
  const entry = (dtype: string, shape: number[], begin: number, end: number): object => ({ dtype, shape, data_offsets: [begin, end] });

  async function expectError(p: string, message: string | RegExp, tensor?: string): Promise<void> {
    for (const read of [() => readSafetensorsHeader(p), () => loadSafetensors(p)]) {
      const err = await read().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SafetensorsError);
      if (typeof message === 'string') expect((err as Error).message).toBe(`${p}: ${message}`);
      else expect((err as Error).message).toMatch(message);
      expect((err as Error).message.startsWith(`${p}: `)).toBe(true);
      if (tensor !== undefined) expect((err as SafetensorsError).tensor).toBe(tensor);
    }
  }

  it('truncated data section', async () => {
    const p = await writeRaw({ a: entry('F32', [3, 4], 0, 48), b: entry('F32', [2], 48, 56) }, 50);
    await expectError(p, "file is truncated: header says the data section is 56 bytes but only 50 are present (tensor 'b' ends at 56)", 'b');
  });

  it('header length larger than the file', async () => {
    const p = await writeRaw({ a: entry('F32', [1], 0, 4) }, 4, 1_000_000n);
    await expectError(p, /header length is 1000000 bytes but the file has only \d+ bytes after the length field/);
    const huge = await writeRaw({}, 0, 2n ** 64n - 1n);
    await expectError(huge, /header length is 18446744073709551615 bytes/);
  });

  it('file shorter than the length field', async () => {
    const p = tmpFile('short');
    await writeFile(p, Buffer.from([1, 2, 3]));
    await expectError(p, 'file is 3 bytes; a safetensors file starts with an 8-byte header length');
  });

  it('bad JSON, non-object JSON, bad UTF-8', async () => {
    await expectError(await writeRaw('{"a": {"dtype": "F32",', 0), /header is not valid JSON \(.*\); it starts "\{\\"a\\": \{\\"dtype\\": \\"F32\\","$/);
    await expectError(await writeRaw('[1, 2]  ', 0), 'header JSON is an array; expected an object of tensor entries');
    await expectError(await writeRaw(new Uint8Array([0x7b, 0xff, 0x7d]), 0), 'header (3 bytes) is not valid UTF-8');
  });

  it('unsupported and unknown dtypes', async () => {
    await expectError(
      await writeRaw({ 'h.0.mask': entry('BOOL', [4], 0, 4) }, 4),
      "unsupported dtype BOOL for tensor 'h.0.mask'; supported: F32, F16, BF16, I32, I64",
      'h.0.mask',
    );
    for (const d of ['U8', 'I8', 'I16', 'F64']) {
      await expectError(await writeRaw({ x: entry(d, [1], 0, 8) }, 8), `unsupported dtype ${d} for tensor 'x'; supported: F32, F16, BF16, I32, I64`);
    }
    await expectError(await writeRaw({ x: entry('F33', [1], 0, 4) }, 4), "unknown dtype F33 for tensor 'x'; supported: F32, F16, BF16, I32, I64");
  });

  it('data_offsets that do not match shape x dtype', async () => {
    const p = await writeRaw({ 'h.0.attn.c_attn.weight': entry('F32', [3, 4], 0, 100) }, 100);
    await expectError(
      p,
      "tensor 'h.0.attn.c_attn.weight' has data_offsets [0, 100] (100 bytes) but shape [3, 4] of F32 needs 48 bytes",
      'h.0.attn.c_attn.weight',
    );
    await expectError(await writeRaw({ x: entry('F32', [2], 8, 0) }, 8), "tensor 'x' has data_offsets [8, 0]: end is before begin");
  });

  it('bad shapes and offsets', async () => {
    await expectError(await writeRaw({ x: entry('F32', [2, -1], 0, 0) }, 0), "tensor 'x' has shape [2, -1]; expected an array of non-negative integers");
    await expectError(await writeRaw({ x: entry('F32', [1.5], 0, 0) }, 0), "tensor 'x' has shape [1.5]; expected an array of non-negative integers");
    await expectError(await writeRaw({ x: { dtype: 'F32', shape: 3, data_offsets: [0, 12] } }, 12), "tensor 'x' has shape 3; expected an array of non-negative integers");
    await expectError(await writeRaw({ x: { dtype: 'F32', shape: [1] } }, 4), "tensor 'x' has data_offsets undefined; expected [begin, end] of non-negative integers");
    await expectError(await writeRaw({ x: 5 }, 0), "tensor 'x' has header entry 5; expected an object {dtype, shape, data_offsets}");
  });

  it('overlapping offsets name both tensors', async () => {
    const p = await writeRaw({ a: entry('F32', [3, 4], 0, 48), b: entry('F32', [3, 4], 40, 88) }, 88);
    await expectError(p, "tensors 'a' (data_offsets [0, 48]) and 'b' (data_offsets [40, 88]) overlap", 'b');
  });

  it('bytes after the last tensor', async () => {
    const p = await writeRaw({ a: entry('F32', [2], 0, 8) }, 12);
    await expectError(p, "data section is 12 bytes but the header's data_offsets end at 8: 4 trailing bytes belong to no tensor");
  });

  it('non-string metadata', async () => {
    const p = await writeRaw({ __metadata__: { step: 5 }, a: entry('F32', [1], 0, 4) }, 4);
    await expectError(p, '__metadata__ key "step" is 5; expected a string value');
  });

  it('empty tensors may share an offset with anything', async () => {
    const p = await writeRaw({ a: entry('F32', [2], 0, 8), e: entry('F32', [0], 4, 4), z: entry('I64', [0, 3], 8, 8) }, 8);
    const t = await loadSafetensors(p);
    expect(t.e!.shape).toEqual([0]);
    expect(t.z!.shape).toEqual([0, 3]);
  });
});

describe('atomic save', () => {
  const leftovers = async (): Promise<string[]> => (await readdir(dir)).filter((f) => f.includes('.tmp-'));

  it('leaves no temp file behind', async () => {
    const p = tmpFile('atomic');
    await saveSafetensors(p, { a: make('float32', [4], (i) => i) });
    await saveSafetensors(p, { b: make('int32', [2], (i) => i) }); // overwrite
    expect(Object.keys(await loadSafetensors(p))).toEqual(['b']);
    expect(await leftovers()).toEqual([]);
  });

  it('keeps the previous file intact when the write fails midway', async () => {
    const p = tmpFile('atomic');
    await saveSafetensors(p, { a: make('float32', [4], (i) => i) });
    const before = await readFile(p);
    const bad = make('float32', [1024], (i) => i);
    Object.defineProperty(bad, 'data', {
      value: () => {
        throw new Error('disk on fire');
      },
    });
    // 'a' sorts first, so its data is already in the temp file when 'z' fails.
    await expect(saveSafetensors(p, { a: make('float32', [4], () => 7), z: bad })).rejects.toThrow('disk on fire');
    expect(Buffer.compare(await readFile(p), before)).toBe(0);
    expect(await leftovers()).toEqual([]);
  });

  it('rejects bad input before touching the disk', async () => {
    const p = tmpFile('atomic');
    await expect(saveSafetensors(p, { x: [1, 2] as unknown as Tensor })).rejects.toThrow(`${p}: tensor 'x' is not a Tensor (got object)`);
    await expect(saveSafetensors(p, { __metadata__: make('float32', [1], () => 0) })).rejects.toThrow('reserved');
    await expect(saveSafetensors(p, {}, { n: 3 as unknown as string })).rejects.toThrow('metadata key "n" is a number');
    expect((await readdir(dir)).some((f) => f.startsWith(path.basename(p)))).toBe(false);
  });

  it('fails cleanly when the directory does not exist', async () => {
    await expect(saveSafetensors(path.join(dir, 'missing', 'x.safetensors'), {})).rejects.toThrow(/ENOENT/);
  });
});
