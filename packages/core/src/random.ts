// Seeded random numbers: a counter-free xoshiro128** stream per Generator. The same seed
// gives the same numbers on every run and platform (pure integer arithmetic in JS).

export class Generator {
  #s = new Uint32Array(4);
  #spare: number | null = null;
  #seed = 0;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  get initialSeed(): number {
    return this.#seed;
  }

  manualSeed(seed: number | bigint): this {
    // splitmix64-style expansion of the seed into 128 bits of state
    let x = BigInt.asUintN(64, BigInt(seed));
    this.#seed = Number(BigInt.asUintN(53, x));
    for (let i = 0; i < 4; i += 2) {
      x = BigInt.asUintN(64, x + 0x9e3779b97f4a7c15n);
      let z = x;
      z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
      z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
      z = z ^ (z >> 31n);
      this.#s[i] = Number(z & 0xffffffffn);
      this.#s[i + 1] = Number(z >> 32n);
    }
    if ((this.#s[0]! | this.#s[1]! | this.#s[2]! | this.#s[3]!) === 0) this.#s[0] = 1;
    this.#spare = null;
    return this;
  }

  /** State snapshot for checkpoints. */
  getState(): number[] {
    return [...this.#s, this.#spare ?? NaN];
  }

  setState(state: readonly number[]): this {
    if (state.length !== 5) throw new RangeError(`Generator.setState: expected 5 numbers, got ${state.length}`);
    for (let i = 0; i < 4; i++) this.#s[i] = state[i]!;
    this.#spare = Number.isNaN(state[4]!) ? null : state[4]!;
    return this;
  }

  /** Next 32 random bits. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 24 random bits (exactly representable in float32). */
  uniform(): number {
    return (this.nextUint32() >>> 8) * (1 / 16777216);
  }

  /** Standard normal (Box-Muller, caching the second value). */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  randint(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The default generator behind randn/rand/dropout when none is passed. */
export const defaultGenerator = new Generator(0);

/** Seed the default generator (torch.manual_seed). */
export function manualSeed(seed: number | bigint): Generator {
  return defaultGenerator.manualSeed(seed);
}
