/**
 * Seeded test data for the kernel suites: mulberry32 (a tiny, well-known 32-bit generator), independent of
 * the library's own Rng so that kernel tests do not lean on code from another module.
 */
export type F = Float32Array | Float64Array;

export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [shift − scale, shift + scale). */
export function randArray(rng: () => number, n: number, f32: boolean, scale = 1, shift = 0): F {
  const a = f32 ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng() * 2 - 1) * scale + shift;
  return a;
}

/** max |a − b| / max |b| (relative to the reference's largest magnitude); lengths must match. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
    s = Math.max(s, Math.abs(b[i] as number));
  }
  return m / Math.max(s, 1e-30);
}
