// DeepSpeed's hostfile: one `hostname slots=N` per line; order defines rank order.
import { readFileSync } from 'node:fs';

/** Where DeepSpeed looks when `-H/--hostfile` is not given. */
export const DEFAULT_HOSTFILE = '/job/hostfile';

/** Hosts in file order, each with its slot count. */
export type ResourcePool = Map<string, number>;

/** A hostfile that cannot be used; the message names the file, the line number and its text. */
export class HostfileError extends Error {
  override name = 'HostfileError';
}

// DeepSpeed's regex: non-space host at the start of the (stripped) line, whitespace, `slots=`
// and digits; anything after that is tolerated (e.g. a trailing `# comment` or `max_slots=`).
const LINE = /^(\S+)\s+slots=(\d+)/;

/**
 * Parses hostfile text. Blank lines and lines starting with `#` (after trimming) are skipped.
 * Throws HostfileError for a line that is not `host slots=N`, a host listed twice, or a file
 * with no hosts — the same cases DeepSpeed rejects, but naming the line.
 */
export function parseHostfile(text: string, source = 'hostfile'): ResourcePool {
  const pool: ResourcePool = new Map();
  const firstLine = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const lineNo = i + 1;
    const m = LINE.exec(line);
    if (!m) {
      throw new HostfileError(
        `${source}:${lineNo}: bad entry ${JSON.stringify(line)}: expected "<hostname> slots=<count>" ` +
          `(e.g. "worker-1 slots=4"); lines starting with # are comments`,
      );
    }
    const host = m[1]!;
    const slots = Number(m[2]);
    if (pool.has(host)) {
      throw new HostfileError(
        `${source}:${lineNo}: host ${JSON.stringify(host)} is listed twice (first on line ${firstLine.get(host)}): ` +
          `each host may appear once; give it the total slot count on one line`,
      );
    }
    pool.set(host, slots);
    firstLine.set(host, lineNo);
  }
  if (pool.size === 0) {
    throw new HostfileError(`${source}: no hosts: the file is empty or has only comments; expected lines like "worker-1 slots=4"`);
  }
  return pool;
}

/**
 * Reads and parses a hostfile. Returns null when the file does not exist and `required` is
 * false (DeepSpeed then runs on the local machine only).
 */
export function readHostfile(path: string, required: boolean): ResourcePool | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return null;
    if (code === 'ENOENT') throw new HostfileError(`hostfile ${path} does not exist (given with -H/--hostfile)`);
    throw new HostfileError(`cannot read hostfile ${path}: ${(err as Error).message}`);
  }
  return parseHostfile(text, path);
}
