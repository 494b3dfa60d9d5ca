// `ds run --backend inproc --nproc N script` sets DS_INPROC_WORLD_SIZE=N and runs the script
// once: initDistributed turns that process into N in-process ranks.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = path.join(here, 'fixtures/threads-entry.ts');

function run(env: Record<string, string>, args: string[] = []) {
  const { NODE_PATH: _np, ...base } = process.env;
  return spawnSync(process.execPath, ['--conditions=@ds/source', '--import', 'tsx', entry, ...args], {
    encoding: 'utf8', env: { ...base, ...env }, timeout: 60_000,
  });
}

describe('DS_INPROC_WORLD_SIZE entry scripts', () => {
  it('re-runs the entry script as N ranks that reduce together', () => {
    const r = run({ DS_INPROC_WORLD_SIZE: '3', DS_BACKEND: 'inproc' });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').sort();
    expect(lines).toEqual(['rank 0/3 sum 6,6,6,6', 'rank 1/3 sum 6,6,6,6', 'rank 2/3 sum 6,6,6,6']);
  });

  it("every rank sees the script's own arguments in process.argv", () => {
    const r = run({ DS_INPROC_WORLD_SIZE: '2', DS_BACKEND: 'inproc' }, ['--steps', '3', 'x y']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').sort();
    expect(lines).toEqual([0, 1].map((k) => `rank ${k}/2 sum 3,3,3,3 argv ["--steps","3","x y"] script true`));
  });

  it('exits non-zero and names the failing rank', () => {
    const r = run({ DS_INPROC_WORLD_SIZE: '2', DS_BACKEND: 'inproc', FAIL_RANK: '1' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/rank 1/);
    expect(r.stderr).toMatch(/fails on purpose/);
  });
});
