/**
 * A seeded pseudo-random generator of our own: xoshiro128** 1.1 (Blackman & Vigna, 2018),
 * seeded through SplitMix32 so that any 32-bit integer is a good seed.
 *
 * Why our own: runs must be reproducible bit for bit across machines and Node versions, and nothing
 * in the library may call `Math.random`. xoshiro128** is small, fast in 32-bit integer arithmetic
 * (which JavaScript does exactly with `Math.imul` and `>>> 0`), and well studied.
 *
 * Reference: https://prng.di.unimi.it/xoshiro128starstar.c — `test/rng.test.ts` pins the first outputs
 * for a state set by hand against that C code's arithmetic.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** Cached second value of the Box–Muller pair. */
  private spareNormal: number | null = null;

  constructor(seed: number = 0) {
    if (!Number.isFinite(seed)) {
      throw new Error(`Rng: seed must be a finite number, got ${seed}. Pass an integer such as new Rng(42).`);
    }
    this.seed(seed);
  }

  /** Re-seed: SplitMix32 expands one 32-bit seed into the 128-bit state (never all zero). */
  seed(seed: number): void {
    let x = Math.trunc(seed) >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.setState(next(), next(), next(), next());
  }

  /** Set the raw 128-bit state (for tests against the reference implementation). */
  setState(a: number, b: number, c: number, d: number): void {
    this.s0 = a >>> 0;
    this.s1 = b >>> 0;
    this.s2 = c >>> 0;
    this.s3 = d >>> 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s3 = 1; // the all-zero state is a fixed point
    this.spareNormal = null;
  }

  /**
   * The complete state — the four state words and the cached Box–Muller value — as plain JSON-safe
   * numbers, so that a saved run can resume the exact stream (`Rng.fromState`).
   */
  getState(): RngState {
    return { words: [this.s0, this.s1, this.s2, this.s3], spareNormal: this.spareNormal };
  }

  static fromState(state: RngState): Rng {
    const { words, spareNormal } = state;
    if (
      !Array.isArray(words) ||
      words.length !== 4 ||
      words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)
    ) {
      throw new Error(`Rng.fromState: expected four 32-bit unsigned state words, got ${JSON.stringify(words)}.`);
    }
    if (spareNormal !== null && !Number.isFinite(spareNormal))
      throw new Error(`Rng.fromState: spareNormal must be a finite number or null, got ${spareNormal}.`);
    const rng = new Rng(0);
    rng.setState(words[0]!, words[1]!, words[2]!, words[3]!);
    rng.spareNormal = spareNormal;
    return rng;
  }

  /** The next 32-bit unsigned integer (xoshiro128** output function). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits (two outputs), so every float64 in the grid is reachable. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in (0, 1): never exactly 0, for logarithms. */
  uniformOpen(): number {
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    return u;
  }

  /** Integer uniform in [0, n) without modulo bias (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) {
      throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}.`);
    }
    const limit = Math.floor(2 ** 32 / n) * n;
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /** Standard normal N(0, 1) by the Box–Muller transform (pairs cached). */
  normal(): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return z;
    }
    const u1 = this.uniformOpen();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Standard logistic Logistic(0, 1) by inversion: log(u / (1 − u)). */
  logistic(): number {
    const u = this.uniformOpen();
    return Math.log(u) - Math.log1p(-u);
  }

  /** Fisher–Yates shuffle in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** An independent generator derived from this one (for per-worker or per-component streams). */
  fork(): Rng {
    const child = new Rng(0);
    child.setState(this.nextU32(), this.nextU32(), this.nextU32(), this.nextU32());
    return child;
  }
}

export interface RngState {
  words: number[];
  spareNormal: number | null;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
