// The process `ds run --backend inproc` starts: `node inproc-host.js SCRIPT [ARGS...]` with
// DS_INPROC_WORLD_SIZE=N runs SCRIPT as N in-process ranks (worker threads) and exits with their
// outcome. Only @ds/comm's launcher is loaded here: the script itself is imported by the ranks
// alone, so nothing it does before initDistributed() runs an extra time, and start-up pays for
// one import of it per rank, not one more.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LaunchError, launchInProcess } from './inproc/launch.js';

async function main(): Promise<number> {
  const [script, ...args] = process.argv.slice(2);
  if (!script) {
    process.stderr.write('usage: DS_INPROC_WORLD_SIZE=N node inproc-host.js SCRIPT [ARGS...]\n');
    return 2;
  }
  const raw = process.env.DS_INPROC_WORLD_SIZE ?? '1';
  const nprocs = Number(raw);
  if (!Number.isInteger(nprocs) || nprocs < 1) {
    process.stderr.write(`DS_INPROC_WORLD_SIZE must be a positive integer, got ${JSON.stringify(raw)}\n`);
    return 2;
  }
  const file = path.resolve(script);
  try {
    await launchInProcess({ nprocs, script: pathToFileURL(file), argv: [process.execPath, file, ...args] });
    return 0;
  } catch (err) {
    process.stderr.write(`${err instanceof LaunchError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

void main().then((code) => process.exit(code));
