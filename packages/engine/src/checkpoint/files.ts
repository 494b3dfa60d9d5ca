// Filesystem steps that keep checkpoints whole: a tag is written into a hidden staging
// directory and renamed into place only when complete (a directory rename is atomic), and
// `latest` is replaced by rename after that, so a crash at any moment leaves the previous
// checkpoint and `latest` as they were.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const MANIFEST = 'manifest.json';

export function stagingDir(saveDir: string, tag: string, nonce: string): string {
  return path.join(saveDir, `.staging-${tag}-${nonce}`);
}

export function newNonce(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** Write a small file durably and atomically (temp file, fsync, rename). */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await syncDir(path.dirname(file));
}

export async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // some filesystems cannot fsync a directory; the rename is still atomic
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Move a finished staging directory to `<saveDir>/<tag>`, replacing an older one of the same tag. */
export async function commitTag(saveDir: string, staging: string, tag: string): Promise<void> {
  const final = path.join(saveDir, tag);
  const old = path.join(saveDir, `.replaced-${tag}-${newNonce()}`);
  const hadOld = await exists(final);
  if (hadOld) await rename(final, old);
  await rename(staging, final);
  await syncDir(saveDir);
  if (hadOld) await rm(old, { recursive: true, force: true });
}

/**
 * The directory holding `tag`. If a crash hit between the two renames of `commitTag`, the
 * tag lives on under its `.replaced-` name, which is still a complete checkpoint.
 */
export async function findTagDir(loadDir: string, tag: string): Promise<string | null> {
  const final = path.join(loadDir, tag);
  if (await exists(final)) return final;
  const { readdir } = await import('node:fs/promises');
  const prefix = `.replaced-${tag}-`;
  const orphans = (await readdir(loadDir)).filter((n) => n.startsWith(prefix)).sort();
  return orphans.length > 0 ? path.join(loadDir, orphans[orphans.length - 1]!) : null;
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve())
      .on('error', reject);
  });
  return h.digest('hex');
}

export interface Manifest {
  format: 'ds-checkpoint';
  version: 1;
  tag: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

export async function writeManifest(dir: string, tag: string, names: readonly string[]): Promise<void> {
  const files: Manifest['files'] = {};
  for (const n of [...names].sort()) {
    const f = path.join(dir, n);
    files[n] = { bytes: (await stat(f)).size, sha256: await sha256File(f) };
  }
  const m: Manifest = { format: 'ds-checkpoint', version: 1, tag, files };
  await writeFileAtomic(path.join(dir, MANIFEST), `${JSON.stringify(m, null, 1)}\n`);
}

/** Check that `names` exist in the tag directory with the size and hash the manifest recorded. */
export async function verifyFiles(dir: string, names: readonly string[]): Promise<Manifest> {
  const mf = path.join(dir, MANIFEST);
  let m: Manifest;
  try {
    m = JSON.parse(await readFile(mf, 'utf8')) as Manifest;
  } catch (e) {
    throw new Error(`checkpoint ${dir}: cannot read ${MANIFEST} (${(e as Error).message}); the checkpoint is incomplete or not a ds checkpoint`);
  }
  if (m.format !== 'ds-checkpoint' || m.version !== 1) throw new Error(`checkpoint ${dir}: ${MANIFEST} has format ${JSON.stringify(m.format)} version ${m.version}; expected ds-checkpoint version 1`);
  for (const n of names) {
    const want = m.files[n];
    if (!want) throw new Error(`checkpoint ${dir}: ${n} is not listed in ${MANIFEST}`);
    const f = path.join(dir, n);
    if (!(await exists(f))) throw new Error(`checkpoint ${dir}: ${n} is missing`);
    const bytes = (await stat(f)).size;
    if (bytes !== want.bytes) throw new Error(`checkpoint ${dir}: ${n} has ${bytes} bytes but was saved with ${want.bytes} bytes; the file is truncated or corrupt`);
    if ((await sha256File(f)) !== want.sha256) throw new Error(`checkpoint ${dir}: ${n} does not match its sha256 in ${MANIFEST}; the file is corrupt`);
  }
  return m;
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 1)}\n`);
}
