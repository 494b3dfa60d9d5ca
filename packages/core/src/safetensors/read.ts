// Loading: the header is validated first, then each tensor's bytes are read straight from
// the file into that tensor's own freshly allocated typed array. Nothing holds the whole
// file, and a fresh array per tensor is always aligned for its element type (a view into
// one big buffer would not be, since offsets in the file need not be multiples of 8).
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { allocateStorage } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { readFully, readHeaderFrom, SafetensorsError, toDType, type SafetensorsHeader } from './header.js';

export interface LoadSafetensorsOptions {
  /** Load only these tensors (each must exist in the file). */
  readonly names?: readonly string[];
}

export interface SafetensorsContents {
  readonly tensors: Record<string, Tensor>;
  /** `__metadata__` of the file ({} when it has none). */
  readonly metadata: Record<string, string>;
}

export function assertLittleEndian(path: string): void {
  // Tensor bytes are copied as-is between typed arrays and the file (always little-endian).
  if (endianness() !== 'LE') throw new SafetensorsError(path, 'safetensors I/O needs a little-endian host');
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function unknownNameError(header: SafetensorsHeader, name: string): SafetensorsError {
  const all = Object.keys(header.tensors);
  const close = all
    .map((n) => ({ n, d: editDistance(name, n) }))
    .filter(({ n, d }) => d <= Math.max(2, Math.floor(Math.max(name.length, n.length) / 5)))
    .sort((x, y) => x.d - y.d)
    .slice(0, 3)
    .map(({ n }) => `'${n}'`);
  const hint = close.length > 0 ? `; did you mean ${close.join(', ')}?` : `; the file has ${all.length} tensors`;
  return new SafetensorsError(header.path, `no tensor named '${name}'${hint}`, name);
}

/** Tensors (and `__metadata__`) of a safetensors file; `names` loads a subset. */
export async function loadSafetensorsWithMetadata(path: string, opts: LoadSafetensorsOptions = {}): Promise<SafetensorsContents> {
  assertLittleEndian(path);
  const fh = await open(path, 'r');
  try {
    const header = await readHeaderFrom(fh, path);
    let names: string[];
    if (opts.names) {
      for (const n of opts.names) {
        if (!Object.hasOwn(header.tensors, n)) throw unknownNameError(header, n);
      }
      names = [...new Set(opts.names)];
    } else {
      names = Object.keys(header.tensors);
    }
    // File order keeps the reads sequential (kinder to disks and readahead).
    names.sort((a, b) => header.tensors[a]!.dataOffsets[0] - header.tensors[b]!.dataOffsets[0]);

    const entries: [string, Tensor][] = [];
    for (const name of names) {
      const info = header.tensors[name]!;
      const [begin, end] = info.dataOffsets;
      const dtype = toDType(info.dtype);
      let n = 1;
      for (const d of info.shape) n *= d;
      let storage;
      try {
        storage = allocateStorage(dtype, n);
      } catch (e) {
        throw new SafetensorsError(path, `tensor '${name}' (${end - begin} bytes) could not be allocated: ${(e as Error).message}`, name);
      }
      const bytes = new Uint8Array(storage.buffer, storage.byteOffset, end - begin);
      const got = await readFully(fh, bytes, header.dataStart + begin);
      if (got !== bytes.length) {
        // The header was consistent with the size at open; the file shrank under us.
        throw new SafetensorsError(
          path,
          `file is truncated: tensor '${name}' needs bytes [${begin}, ${end}) of the data section but only ${got} of its ${bytes.length} bytes could be read`,
          name,
        );
      }
      entries.push([name, new Tensor(storage, info.shape, dtype)]);
    }
    // fromEntries defines own properties, so a tensor named `__proto__` stays a tensor.
    const tensors = Object.fromEntries(entries) as Record<string, Tensor>;
    return { tensors, metadata: { ...header.metadata } };
  } finally {
    await fh.close();
  }
}

/** Tensors of a safetensors file, contiguous, in the file's dtype; `names` loads a subset. */
export async function loadSafetensors(path: string, opts: LoadSafetensorsOptions = {}): Promise<Record<string, Tensor>> {
  return (await loadSafetensorsWithMetadata(path, opts)).tensors;
}
