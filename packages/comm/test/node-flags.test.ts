import { describe, expect, it } from 'vitest';
import { rankNodeFlags } from '../src/node-flags.js';

describe('rankNodeFlags', () => {
  const env = {};
  it('keeps the collector on the rank thread only when the ranks fill the cores', () => {
    expect(rankNodeFlags({ ranksOnHost: 2, cores: 2, env })).toEqual(['--single-threaded-gc']);
    expect(rankNodeFlags({ ranksOnHost: 1, cores: 2, env })).toEqual(['--single-threaded-gc']); // one rank, a kernel thread per core
    expect(rankNodeFlags({ ranksOnHost: 1, threadsPerRank: 1, cores: 2, env })).toEqual([]);
    expect(rankNodeFlags({ ranksOnHost: 3, cores: 4, env })).toEqual([]); // 3 x 1 thread leaves a core
    expect(rankNodeFlags({ ranksOnHost: 8, cores: 4, env })).toEqual(['--single-threaded-gc']);
    expect(rankNodeFlags({ ranksOnHost: 2, cores: 16, env: { DS_NUM_THREADS: '1' } })).toEqual([]);
    expect(rankNodeFlags({ ranksOnHost: 2, cores: 16, env: { DS_NUM_THREADS: '8' } })).toEqual(['--single-threaded-gc']);
  });

  it('adds nothing when the user already chose how V8 collects', () => {
    expect(rankNodeFlags({ ranksOnHost: 2, cores: 2, env, userFlags: ['--no-concurrent-marking'] })).toEqual([]);
    expect(rankNodeFlags({ ranksOnHost: 2, cores: 2, env, userFlags: ['--v8-pool-size=1'] })).toEqual([]);
    expect(rankNodeFlags({ ranksOnHost: 2, cores: 2, env: { NODE_OPTIONS: '--max-old-space-size=4096 --concurrent-marking' } })).toEqual([]);
    expect(rankNodeFlags({ ranksOnHost: 2, cores: 2, env, userFlags: ['--max-old-space-size=4096'] })).toEqual(['--single-threaded-gc']);
  });
});
