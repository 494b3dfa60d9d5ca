// Seeded randomness: reproducibility from seeds, independence of generators, distribution
// sanity of randn/rand/randint, and getState/setState resuming a stream exactly.
import { describe, expect, it } from 'vitest';
import { Generator, defaultGenerator, functional as F, manualSeed, ones, rand, randint, randn } from '../src/index.js';
import { KERNEL_MODES, vals, withKernels } from './unit-helpers.js';

function stats(v: number[]): { mean: number; std: number } {
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const variance = v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length;
  return { mean, std: Math.sqrt(variance) };
}

/** Independent xoshiro128** step on a copy of the state (the published algorithm). */
function xoshiroNext(s: number[]): number {
  const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
  const t = (s[1]! << 9) >>> 0;
  s[2] = (s[2]! ^ s[0]!) >>> 0;
  s[3] = (s[3]! ^ s[1]!) >>> 0;
  s[1] = (s[1]! ^ s[2]!) >>> 0;
  s[0] = (s[0]! ^ s[3]!) >>> 0;
  s[2] = (s[2]! ^ t) >>> 0;
  s[3] = rotl(s[3]!, 11);
  return result;
}

describe.each(KERNEL_MODES)('random (%s kernels)', (mode) => {
  withKernels(mode);

  it('the same seed gives the same randn / rand / randint', () => {
    manualSeed(1234);
    const a = [vals(randn([50])), vals(rand([50])), randint(0, 1000, [50]).toArray()];
    manualSeed(1234);
    const b = [vals(randn([50])), vals(rand([50])), randint(0, 1000, [50]).toArray()];
    expect(a).toEqual(b);
    // explicit generators too
    const g1 = new Generator(99);
    const g2 = new Generator(99);
    expect(vals(randn([2, 3], { generator: g1 }))).toEqual(vals(randn([2, 3], { generator: g2 })));
    expect(vals(rand([7], { generator: g1 }))).toEqual(vals(rand([7], { generator: g2 })));
    expect(randint(-5, 5, [9], { generator: g1 }).toArray()).toEqual(randint(-5, 5, [9], { generator: g2 }).toArray());
    // bigint seeds equal their number value
    expect(vals(randn([4], { generator: new Generator().manualSeed(7n) }))).toEqual(vals(randn([4], { generator: new Generator(7) })));
  });

  it('different seeds give different streams; successive draws differ', () => {
    const a = vals(randn([20], { generator: new Generator(1) }));
    const b = vals(randn([20], { generator: new Generator(2) }));
    expect(a).not.toEqual(b);
    const g = new Generator(3);
    expect(vals(rand([20], { generator: g }))).not.toEqual(vals(rand([20], { generator: g })));
    // seeds 0 and 1 and a large seed all work and differ
    const s0 = vals(rand([5], { generator: new Generator(0) }));
    const sBig = vals(rand([5], { generator: new Generator().manualSeed(2n ** 63n + 12345n) }));
    expect(s0).not.toEqual(sBig);
  });

  it('generators are independent of each other and of the default', () => {
    manualSeed(5);
    const expected = vals(randn([10]));
    manualSeed(5);
    const other = new Generator(5);
    randn([1000], { generator: other }); // must not advance the default generator
    expect(vals(randn([10]))).toEqual(expected);
    expect(manualSeed(8)).toBe(defaultGenerator);
    expect(defaultGenerator.initialSeed).toBe(8);
  });

  it('randn: 100k samples have mean ~0, std ~1 and normal tails', () => {
    const v = vals(randn([100_000], { generator: new Generator(2024) }));
    const { mean, std } = stats(v);
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(std - 1)).toBeLessThan(0.015);
    const within1 = v.filter((x) => Math.abs(x) < 1).length / v.length;
    const within2 = v.filter((x) => Math.abs(x) < 2).length / v.length;
    expect(Math.abs(within1 - 0.6827)).toBeLessThan(0.01);
    expect(Math.abs(within2 - 0.9545)).toBeLessThan(0.005);
    expect(v.every(Number.isFinite)).toBe(true);
    // symmetric
    const pos = v.filter((x) => x > 0).length / v.length;
    expect(Math.abs(pos - 0.5)).toBeLessThan(0.01);
  });

  it('rand: uniform on [0, 1)', () => {
    const v = vals(rand([100_000], { generator: new Generator(77) }));
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...v)).toBeLessThan(1);
    const { mean, std } = stats(v);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(std - Math.sqrt(1 / 12))).toBeLessThan(0.01);
    // deciles are balanced
    const counts = new Array(10).fill(0);
    for (const x of v) counts[Math.floor(x * 10)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(600);
  });

  it('randint: integers in [low, high), int64 by default, every value reachable', () => {
    const t = randint(-3, 4, [7000], { generator: new Generator(11) });
    expect(t.dtype).toBe('int64');
    expect(t.shape).toEqual([7000]);
    const v = (t.toArray() as bigint[]).map(Number);
    expect(Math.min(...v)).toBe(-3);
    expect(Math.max(...v)).toBe(3);
    const counts = new Map<number, number>();
    for (const x of v) counts.set(x, (counts.get(x) ?? 0) + 1);
    expect(counts.size).toBe(7);
    for (const c of counts.values()) expect(Math.abs(c - 1000)).toBeLessThan(150);
    const i32 = randint(0, 10, [2, 3], { dtype: 'int32', generator: new Generator(12) });
    expect(i32.dtype).toBe('int32');
    expect(i32.shape).toEqual([2, 3]);
    expect(randint(0, 10, [], { generator: new Generator(1) }).shape).toEqual([]);
    expect(randint(0, 10, [0, 2]).shape).toEqual([0, 2]);
    expect(randint(5, 6, [4]).toArray()).toEqual([5n, 5n, 5n, 5n]);
  });

  it('randn honours dtype and shape', () => {
    const h = randn([3, 4], { dtype: 'float16', generator: new Generator(1) });
    expect(h.dtype).toBe('float16');
    expect(h.shape).toEqual([3, 4]);
    // the float16 values are the rounded float32 ones
    const f = randn([3, 4], { generator: new Generator(1) });
    expect(vals(h)).toEqual(vals(f.half()));
    expect(randn([]).shape).toEqual([]);
    expect(randn([2], { requiresGrad: true }).requiresGrad).toBe(true);
  });

  it('getState/setState resumes the stream exactly (including the cached normal)', () => {
    const g = new Generator(31);
    randn([3], { generator: g }); // odd count: a Box-Muller spare is cached
    const state = g.getState();
    expect(state.length).toBe(5);
    const next = [vals(randn([5], { generator: g })), vals(rand([5], { generator: g })), randint(0, 100, [5], { generator: g }).toArray()];
    g.setState(state);
    const again = [vals(randn([5], { generator: g })), vals(rand([5], { generator: g })), randint(0, 100, [5], { generator: g }).toArray()];
    expect(again).toEqual(next);
    // into a fresh generator with another seed
    const h = new Generator(999).setState(state);
    expect([vals(randn([5], { generator: h })), vals(rand([5], { generator: h })), randint(0, 100, [5], { generator: h }).toArray()]).toEqual(next);
    // the snapshot is a copy: drawing more does not change it
    const snap = g.getState();
    g.nextUint32();
    expect(g.getState()).not.toEqual(snap);
    expect(() => g.setState([1, 2, 3])).toThrow(/setState: expected 5 numbers, got 3/);
  });

  it('state survives a JSON round trip (checkpointing)', () => {
    const g = new Generator(5);
    g.normal();
    const json = JSON.stringify(g.getState());
    const expected = [g.normal(), g.normal(), g.uniform()];
    const h = new Generator().setState(JSON.parse(json) as number[]);
    // NaN (no cached spare) becomes null in JSON; a state with a spare is all numbers
    expect([h.normal(), h.normal(), h.uniform()]).toEqual(expected);
  });

  it('manualSeed resets the cached normal', () => {
    const g = new Generator(3);
    const first = [g.normal(), g.normal()];
    g.manualSeed(3);
    g.normal(); // leaves a spare
    g.manualSeed(3);
    expect([g.normal(), g.normal()]).toEqual(first);
  });

  it('implements xoshiro128** (checked against an independent step function)', () => {
    const g = new Generator(42);
    const s = g.getState().slice(0, 4);
    expect(s.some((x) => x !== 0)).toBe(true);
    for (let i = 0; i < 1000; i++) expect(g.nextUint32()).toBe(xoshiroNext(s));
    // uniform uses the top 24 bits
    const s2 = g.getState().slice(0, 4);
    for (let i = 0; i < 100; i++) expect(g.uniform()).toBe((xoshiroNext(s2) >>> 8) / 2 ** 24);
  });

  it('dropout with the default generator is reproducible from manualSeed', () => {
    const x = ones([64]);
    manualSeed(17);
    const a = vals(F.dropout(x, 0.5));
    manualSeed(17);
    const b = vals(F.dropout(x, 0.5));
    expect(a).toEqual(b);
    expect(a.some((v) => v === 0)).toBe(true);
    expect(a.some((v) => v === 2)).toBe(true);
  });
});
