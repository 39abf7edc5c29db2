/**
 * Independent references and mask generators for the estimator tests. Nothing here imports the code under test:
 * the references are the definitions written out directly (O(V²) or O(2^V·V) loops).
 */
import { Rng } from '../../src/autograd/rng.js';

/** d_i = min over background j of max(|Δr|, |Δc|); +Infinity if there is no background. Straight from eq. 3. */
export function bruteDT(mask: Uint8Array, H: number, W: number): Float64Array {
  const V = H * W;
  const out = new Float64Array(V);
  for (let i = 0; i < V; i++) {
    if (mask[i] === 0) continue;
    const ri = Math.floor(i / W);
    const ci = i % W;
    let best = Infinity;
    for (let j = 0; j < V; j++) {
      if (mask[j] !== 0) continue;
      const dist = Math.max(Math.abs(ri - Math.floor(j / W)), Math.abs(ci - (j % W)));
      if (dist < best) best = dist;
    }
    out[i] = best;
  }
  return out;
}

/** g = 2·max d from the brute-force DT (0 for all background, Infinity without background). */
export function bruteSize(mask: Uint8Array, H: number, W: number): number {
  let m = 0;
  for (const v of bruteDT(mask, H, W)) if (v > m) m = v;
  return 2 * m;
}

/** The documented +∞ rule, written independently: all-foreground counts as 2·max(H, W). */
export function refLoss(s: number, g: number, H: number, W: number): number {
  const gg = g === Infinity ? 2 * Math.max(H, W) : g;
  return (s - gg) * (s - gg);
}

/** Lemma-1 estimate straight from eq. 21 using the brute-force size. */
export function bruteLemma1(mask: Uint8Array, H: number, W: number, s: number): Float64Array {
  const V = H * W;
  const out = new Float64Array(V);
  const l0 = refLoss(s, bruteSize(mask, H, W), H, W);
  for (let i = 0; i < V; i++) {
    const f = mask.slice();
    f[i] = 1 - (f[i] as number);
    const l1 = refLoss(s, bruteSize(f, H, W), H, W);
    out[i] = (mask[i] === 1 ? 1 : -1) * (l0 - l1);
  }
  return out;
}

/** Exact L and ∂L/∂p_i by the textbook sum over all masks (eq. 10 and eq. 19 with an explicit product). */
export function bruteExact(p: Float64Array, H: number, W: number, s: number): { L: number; grad: Float64Array } {
  const V = H * W;
  const n = 2 ** V;
  const losses = new Float64Array(n);
  const mask = new Uint8Array(V);
  for (let m = 0; m < n; m++) {
    for (let i = 0; i < V; i++) mask[i] = (m >> i) & 1;
    losses[m] = refLoss(s, bruteSize(mask, H, W), H, W);
  }
  let L = 0;
  const grad = new Float64Array(V);
  for (let m = 0; m < n; m++) {
    let pr = 1;
    for (let i = 0; i < V; i++) pr *= (m >> i) & 1 ? (p[i] as number) : 1 - (p[i] as number);
    L += pr * (losses[m] as number);
    for (let i = 0; i < V; i++) {
      // eq. 19: Σ_y Pr(y) (l(y_{i=+1}) − l(y_{i=−1}))
      grad[i] = (grad[i] as number) + pr * ((losses[m | (1 << i)] as number) - (losses[m & ~(1 << i)] as number));
    }
  }
  return { L, grad };
}

export interface MaskCase {
  mask: Uint8Array;
  H: number;
  W: number;
  kind: string;
}

/** A varied stream of masks: random densities, blobs, squares/rectangles with ties, lines, extremes. */
export function* maskCases(seed: number, count: number, maxSide: number): Generator<MaskCase> {
  const rng = new Rng(seed);
  const side = (): number => {
    // Mostly small, sometimes up to maxSide.
    const u = rng.uniform();
    return 1 + (u < 0.7 ? rng.int(Math.min(10, maxSide)) : rng.int(maxSide));
  };
  for (let t = 0; t < count; t++) {
    const kind = t % 10;
    let H = side();
    let W = side();
    if (kind === 8) H = 1;
    if (kind === 9) W = 1;
    const V = H * W;
    const m = new Uint8Array(V);
    let name = '';
    switch (kind) {
      case 0:
      case 8:
      case 9: {
        const dens = rng.uniform();
        for (let i = 0; i < V; i++) m[i] = rng.uniform() < dens ? 1 : 0;
        name = 'random';
        break;
      }
      case 1: {
        // Ellipse blob with sprinkled noise (flips).
        const cr = rng.uniform() * H;
        const cc = rng.uniform() * W;
        const ar = 0.5 + rng.uniform() * H * 0.6;
        const ac = 0.5 + rng.uniform() * W * 0.6;
        const noise = rng.uniform() * 0.15;
        for (let r = 0; r < H; r++)
          for (let c = 0; c < W; c++) {
            let v = ((r - cr) / ar) ** 2 + ((c - cc) / ac) ** 2 <= 1 ? 1 : 0;
            if (rng.uniform() < noise) v = 1 - v;
            m[r * W + c] = v;
          }
        name = 'blob';
        break;
      }
      case 2:
      case 3: {
        // Several equal squares (ties of maximal squares), possibly touching the border, maybe one rectangle.
        const k = 1 + rng.int(3);
        const a = 1 + rng.int(Math.max(1, Math.min(H, W)));
        for (let q = 0; q < k; q++) {
          const h = kind === 3 && q === 0 ? 1 + rng.int(H) : a;
          const w = kind === 3 && q === 0 ? 1 + rng.int(W) : a;
          const r0 = rng.int(Math.max(1, H - h + 1));
          const c0 = rng.int(Math.max(1, W - w + 1));
          for (let r = r0; r < Math.min(H, r0 + h); r++)
            for (let c = c0; c < Math.min(W, c0 + w); c++) m[r * W + c] = 1;
        }
        name = 'squares';
        break;
      }
      case 4:
        m.fill(1);
        if (rng.uniform() < 0.5) m[rng.int(V)] = 0; // exactly one background pixel
        name = 'allfg/onebg';
        break;
      case 5:
        if (rng.uniform() < 0.5) m[rng.int(V)] = 1; // single pixel or empty
        name = 'allbg/onefg';
        break;
      case 6: {
        // Object glued to the border: a band along a random side, plus noise.
        const depth = 1 + rng.int(Math.max(H, W));
        const sideSel = rng.int(4);
        for (let r = 0; r < H; r++)
          for (let c = 0; c < W; c++) {
            const dd = [r, H - 1 - r, c, W - 1 - c][sideSel] as number;
            m[r * W + c] = dd < depth ? 1 : 0;
            if (rng.uniform() < 0.05) m[r * W + c] = 1 - (m[r * W + c] as number);
          }
        name = 'border';
        break;
      }
      default: {
        // Dense with a few holes.
        const holes = rng.int(4);
        m.fill(1);
        for (let q = 0; q < holes; q++) m[rng.int(V)] = 0;
        name = 'holes';
        break;
      }
    }
    yield { mask: m, H, W, kind: name };
  }
}

/**
 * The unbiasedness check used by both the real and the deliberately biased estimators: for every pixel,
 * |mean of K estimates − exact| ≤ z · SE + 1e-9, with SE = sqrt(sample variance / K). Returns the pixels that
 * fail (empty = pass) and the largest z-score seen.
 */
export function unbiasedCheck(
  estimates: Float64Array[],
  exact: Float64Array,
  z = 5,
): { failures: number[]; worstZ: number } {
  const K = estimates.length;
  const V = exact.length;
  const failures: number[] = [];
  let worstZ = 0;
  for (let i = 0; i < V; i++) {
    let mean = 0;
    for (const e of estimates) mean += e[i] as number;
    mean /= K;
    let ss = 0;
    for (const e of estimates) ss += ((e[i] as number) - mean) ** 2;
    const se = Math.sqrt(ss / (K - 1) / K);
    const err = Math.abs(mean - (exact[i] as number));
    if (err > z * se + 1e-9) failures.push(i);
    if (se > 0) worstZ = Math.max(worstZ, err / se);
    else if (err > 1e-9) worstZ = Infinity;
  }
  return { failures, worstZ };
}
