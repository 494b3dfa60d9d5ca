// Saving, in the layout the Rust reference writes (so a load + save of one of its files is
// byte-identical): entries in sorted-name order with consecutive offsets, compact JSON,
// space padding to 8. Data is written one tensor at a time, and the file appears at `path`
// only once it is complete and synced: a crash or error leaves any previous file intact.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { bytesPerElement } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { compareNames, encodeHeader, fromDType, SafetensorsError, type HeaderEntry } from './header.js';
import { assertLittleEndian } from './read.js';

/** Write all of `bytes` at `position` (fs writes may be short). */
async function writeFully(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  const CHUNK = 1 << 30; // under Node's 2 GiB - 1 cap per call
  let done = 0;
  while (done < bytes.length) {
    const want = Math.min(CHUNK, bytes.length - done);
    const { bytesWritten } = await fh.write(bytes, done, want, position + done);
    done += bytesWritten;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes the rename itself durable on Linux; some platforms (Windows) cannot open a
  // directory for this, where there is nothing better to do than skip it.
  let dh: FileHandle | undefined;
  try {
    dh = await open(dir, 'r');
    await dh.sync();
  } catch {
    /* best effort */
  } finally {
    await dh?.close().catch(() => undefined);
  }
}

/**
 * Save tensors (and optional string metadata) as a safetensors file. Non-contiguous tensors
 * are written in row-major order. Atomic: data goes to `${path}.tmp-<pid>-<random>`, which
 * is fsynced and renamed over `path`.
 */
export async function saveSafetensors(
  path: string,
  tensors: Readonly<Record<string, Tensor>>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  assertLittleEndian(path);
  // Validate everything before touching the disk, so bad input never creates a temp file.
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || metadata === null) {
      throw new SafetensorsError(path, `metadata must be an object of string values, got ${metadata === null ? 'null' : typeof metadata}`);
    }
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new SafetensorsError(path, `metadata key ${JSON.stringify(k)} is a ${typeof v}; safetensors metadata values must be strings`);
      }
    }
  }
  const names = Object.keys(tensors).sort(compareNames);
  const entries: HeaderEntry[] = [];
  const ordered: Tensor[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') {
      throw new SafetensorsError(path, "'__metadata__' is reserved by the format and cannot name a tensor", name);
    }
    const t = tensors[name];
    if (!(t instanceof Tensor)) {
      throw new SafetensorsError(path, `tensor '${name}' is not a Tensor (got ${t === null ? 'null' : typeof t})`, name);
    }
    const size = t.numel * bytesPerElement(t.dtype);
    entries.push({ name, dtype: fromDType(t.dtype), shape: t.shape, begin: offset, end: offset + size });
    ordered.push(t);
    offset += size;
  }
  const header = encodeHeader(entries, metadata);

  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  // 'wx': never follow or clobber something already at the temp name.
  const fh = await open(tmp, 'wx');
  let renamed = false;
  try {
    try {
      await writeFully(fh, header, 0);
      let pos = header.length;
      for (let i = 0; i < ordered.length; i++) {
        const t = ordered[i]!;
        const e = entries[i]!;
        // data() is zero-copy for contiguous tensors and a one-tensor copy otherwise.
        const values = t.data();
        const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        if (bytes.length !== e.end - e.begin) {
          throw new SafetensorsError(path, `tensor '${e.name}' produced ${bytes.length} bytes of data but its shape needs ${e.end - e.begin}`, e.name);
        }
        await writeFully(fh, bytes, pos);
        pos += bytes.length;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    renamed = true;
    await syncDirectory(dirname(path));
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}
