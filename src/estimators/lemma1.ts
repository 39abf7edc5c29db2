/**
 * The Lemma-1 single-sample estimator (paper eq. 21):
 *
 *     ∂L/∂p_i ≈ y_i · ( l(s, ĝ(y)) − l(s, ĝ(y↓i)) ),     y_i = +1 for mask 1, −1 for mask 0,
 *
 * where y↓i is the sample with pixel i flipped and ĝ is the object size with the +∞ rule (objectSize.ts).
 * Every entry, in both methods, is produced by `lemma1Entry(mask_i, l0, l1)` below, with l0 = l(s, ĝ(y)) and
 * l1 = l(s, ĝ(y↓i)) both computed by `sizeLoss`. So the two methods agree bit for bit (including the sign of
 * zero: a background pixel whose flip does not change the loss gives −1·0 = −0) as soon as they agree on the
 * integer ĝ(y↓i).
 *
 * - 'naive': flip each pixel, recompute the distance transform, un-flip. Θ(V²).
 * - 'fast' (default): computes the SAME ĝ(y↓i) for all i in Θ(V log V) worst case (Θ(V) typically).
 *
 * ## Why 'fast' is exact
 *
 * Notation: d = distance transform of the sample, D = max d, S(c, ρ) = the pixels of the image within
 * Chebyshev distance ρ of c (a square clipped to the image), cheb(a, b) = max(|Δr|, |Δc|), BG = background set.
 * Since outside pixels are not background, d_c = min_{j ∈ BG} cheb(c, j) (∞ if BG = ∅).
 *
 * (0) No background (D = ∞, all foreground). Flipping i makes BG = {i}, so d'_c = cheb(c, i) and
 *     max d' = max(r_i, H−1−r_i, c_i, W−1−c_i), the distance to the farthest corner. Closed form.
 *
 * (1) Foreground → background flip of pixel i (BG' = BG ∪ {i}). Exactly:
 *         d'_c = min(d_c, cheb(c, i))   for every c,   so   max d' = max_c min(d_c, cheb(c, i)).
 *     For k ≥ 1, max d' ≥ k  ⇔  ∃c: d_c ≥ k and cheb(c, i) ≥ k  ⇔  the set A_k = {c : d_c ≥ k} is NOT contained
 *     in the square S(i, k−1). Both sets are subsets of the image, and S(i, k−1) ∩ image is an axis-aligned
 *     rectangle, so "A_k ⊆ S(i, k−1)" ⇔ "bbox(A_k) ⊆ [r_i−k+1, r_i+k−1] × [c_i−k+1, c_i+k−1]". We precompute the
 *     bounding boxes B_k of A_k for k = 1…D (nested, one pass), so P(k) := "B_k ⊄ square(i, k−1)" is O(1).
 *     P is monotone (A_{k−1} ⊇ A_k and cheb ≥ k ⇒ cheb ≥ k−1), P(k) is false for k > D, so
 *     max d' = max{k ∈ [0, D] : P(k)} (P(0) := true) — found by an O(1) test of P(D) ("does some maximal
 *     pixel survive?" — false exactly when i lies in the intersection of all maximal squares S(c, D−1),
 *     d_c = D) and, only when P(D) fails, a binary search over [0, D−1].
 *     NOTE: removing one pixel can lower max d by MORE than 1 (e.g. the centre of a 5×5 foreground square in
 *     a 7×7 image: D = 3 → 1; or a 1×5 row 1 1 1 1 0 with pixel 0 removed: D = 4 → 2, because the image
 *     border is not background), which is why we search instead of assuming D − 1.
 *
 * (2) Background → foreground flip of pixel i (BG' = BG \ {i}). Now d' ≥ d pointwise, and for each c
 *     d'_c = min_{j ∈ BG, j ≠ i} cheb(c, j). Let n_c(ρ) = |S(c, ρ) ∩ BG| (an integral-image lookup, O(1)).
 *     Every c has n_c(D) ≥ 1 (because d_c ≤ D). If n_c(D) ≥ 2, then after removing any single background
 *     pixel one is still within D, so d'_c ≤ D. If n_c(D) = 1, call its only background pixel u(c) (found in
 *     O(1) from an integral image of pixel indices: the sum of indices over a set of one element is that
 *     element); removing any j ≠ u(c) leaves d'_c = d_c ≤ D, while removing u(c) gives
 *         d'_c = second(c) := min{ρ > D : n_c(ρ) ≥ 2}   (∞ if |BG| = 1),
 *     the distance to the second-nearest background pixel (n_c is monotone in ρ, so binary search over
 *     ρ ∈ [D+1, max(H,W)−1]; S(c, max(H,W)−1) is the whole image). Since max d' ≥ max d = D always,
 *         max d'(flip i) = max( D, max{ second(c) : n_c(D) = 1, u(c) = i } ),
 *     computed for all i at once by one pass over c that scatters second(c) into best[u(c)].
 *     Edge cases are covered by the same formula: D = 0 (all background: u(c) = c and second(c) = 1, so every
 *     flip gives g = 2; for a 1×1 image second = ∞) and |BG| = 1 (the flip makes the mask all foreground:
 *     second = ∞ → g = +∞ → the +∞ rule of `sizeLoss`, exactly as the naive path does).
 *
 * In every case the result is the integer max d' (or ∞); ĝ = 2·max d' then goes through the same `sizeLoss`
 * and `lemma1Entry` as the naive path. The test suite checks Object.is-equality on thousands of masks.
 */
import { DT_INF, dtKernel, validateMask } from './distanceTransform.js';
import { objectSizeUnchecked, sizeLoss, validateTargetSize } from './objectSize.js';

export type Lemma1Method = 'naive' | 'fast';

export interface Lemma1Options {
  /** 'fast' (default) or 'naive'; both give bit-identical results. */
  method?: Lemma1Method;
}

/** One Lemma-1 entry: y_i·(l0 − l1) with y_i = +1 for mask value 1 and −1 for 0. Shared by both methods. */
export function lemma1Entry(maskValue: number, l0: number, l1: number): number {
  const y = maskValue === 1 ? 1 : -1;
  return y * (l0 - l1);
}

/**
 * Lemma-1 estimate of ∂L/∂p_i (L = E[l(s, ĝ(Y))], p_i = Pr(Y_i = +1)) from ONE sample `sample` (0/1, row-major,
 * height×width). Returns a Float64Array of V entries. `method` 'fast' (default) and 'naive' agree bit for bit.
 */
export function lemma1Gradient(
  sample: Uint8Array,
  height: number,
  width: number,
  targetSize: number,
  options: Lemma1Options = {},
): Float64Array {
  validateMask('lemma1Gradient', sample, height, width, 1, 'sample');
  validateTargetSize('lemma1Gradient', targetSize);
  const method = options.method ?? 'fast';
  const out = new Float64Array(height * width);
  if (method === 'fast') lemma1FastInto(sample, 0, height, width, targetSize, out, 0);
  else if (method === 'naive') lemma1NaiveInto(sample, 0, height, width, targetSize, out, 0);
  else {
    throw new Error(`lemma1Gradient: unknown method '${String(method)}'. Use 'fast' (default) or 'naive'.`);
  }
  return out;
}

/** Dispatch helper for other modules (unchecked). */
export function lemma1Into(
  method: Lemma1Method,
  sample: Uint8Array,
  offset: number,
  height: number,
  width: number,
  targetSize: number,
  out: Float64Array,
  outOffset: number,
): void {
  if (method === 'naive') lemma1NaiveInto(sample, offset, height, width, targetSize, out, outOffset);
  else lemma1FastInto(sample, offset, height, width, targetSize, out, outOffset);
}

/**
 * Naive Θ(V²) estimator: flip, recompute g from scratch, un-flip (unchecked). `pixelStart`/`pixelEnd` restrict
 * it to a range of pixels (the benchmark uses this to time a slice of the 256×256 case and extrapolate).
 */
export function lemma1NaiveInto(
  sample: Uint8Array,
  offset: number,
  height: number,
  width: number,
  targetSize: number,
  out: Float64Array,
  outOffset: number,
  pixelStart = 0,
  pixelEnd = height * width,
): void {
  const V = height * width;
  const y = sample.slice(offset, offset + V);
  const scratch = new Int32Array(V);
  const l0 = sizeLoss(targetSize, objectSizeUnchecked(y, 0, height, width, scratch), height, width);
  for (let i = pixelStart; i < pixelEnd; i++) {
    const m = y[i] as number;
    y[i] = 1 - m;
    const g1 = objectSizeUnchecked(y, 0, height, width, scratch);
    y[i] = m;
    out[outOffset + i] = lemma1Entry(m, l0, sizeLoss(targetSize, g1, height, width));
  }
}

/** Fast estimator (unchecked); see the module comment for the exactness argument. */
export function lemma1FastInto(
  sample: Uint8Array,
  offset: number,
  height: number,
  width: number,
  targetSize: number,
  out: Float64Array,
  outOffset: number,
): void {
  const H = height;
  const W = width;
  const V = H * W;
  const d = new Int32Array(V);
  const Dmax = dtKernel(sample, offset, H, W, d, 0);
  const g0 = Dmax >= DT_INF ? Infinity : 2 * Dmax;
  const l0 = sizeLoss(targetSize, g0, H, W);

  // (0) All foreground: removing pixel i leaves BG = {i}; max d' = distance to the farthest corner.
  if (Dmax >= DT_INF) {
    for (let r = 0; r < H; r++) {
      const fr = Math.max(r, H - 1 - r);
      for (let c = 0; c < W; c++) {
        const far = Math.max(fr, c, W - 1 - c);
        out[outOffset + r * W + c] = lemma1Entry(1, l0, sizeLoss(targetSize, 2 * far, H, W));
      }
    }
    return;
  }
  const D = Dmax;

  // (1) Bounding boxes B_k of A_k = {c : d_c ≥ k}, k = 1..D (index k; entry 0 unused).
  const bR0 = new Int32Array(D + 2).fill(H);
  const bR1 = new Int32Array(D + 2).fill(-1);
  const bC0 = new Int32Array(D + 2).fill(W);
  const bC1 = new Int32Array(D + 2).fill(-1);
  if (D >= 1) {
    for (let r = 0; r < H; r++) {
      const row = r * W;
      for (let c = 0; c < W; c++) {
        const k = d[row + c] as number;
        if (k === 0) continue;
        if (r < (bR0[k] as number)) bR0[k] = r;
        if (r > (bR1[k] as number)) bR1[k] = r;
        if (c < (bC0[k] as number)) bC0[k] = c;
        if (c > (bC1[k] as number)) bC1[k] = c;
      }
    }
    // Make them cumulative: B_k = bbox of levels ≥ k.
    for (let k = D - 1; k >= 1; k--) {
      if ((bR0[k + 1] as number) < (bR0[k] as number)) bR0[k] = bR0[k + 1] as number;
      if ((bR1[k + 1] as number) > (bR1[k] as number)) bR1[k] = bR1[k + 1] as number;
      if ((bC0[k + 1] as number) < (bC0[k] as number)) bC0[k] = bC0[k + 1] as number;
      if ((bC1[k + 1] as number) > (bC1[k] as number)) bC1[k] = bC1[k + 1] as number;
    }
  }
  // P(k): some pixel with d ≥ k lies at Chebyshev distance ≥ k from (r, c).
  const P = (k: number, r: number, c: number): boolean => {
    const rad = k - 1;
    return !(
      (bR0[k] as number) >= r - rad &&
      (bR1[k] as number) <= r + rad &&
      (bC0[k] as number) >= c - rad &&
      (bC1[k] as number) <= c + rad
    );
  };

  // (2) Background flips: integral images of the background indicator and of background pixel indices.
  const W1 = W + 1;
  const cnt = new Int32Array((H + 1) * W1);
  const idx = new Float64Array((H + 1) * W1);
  let bgTotal = 0;
  for (let r = 0; r < H; r++) {
    let rowCnt = 0;
    let rowIdx = 0;
    const base = (r + 1) * W1;
    const prev = r * W1;
    for (let c = 0; c < W; c++) {
      const p = r * W + c;
      if (sample[offset + p] === 0) {
        rowCnt++;
        rowIdx += p;
      }
      cnt[base + c + 1] = (cnt[prev + c + 1] as number) + rowCnt;
      idx[base + c + 1] = (idx[prev + c + 1] as number) + rowIdx;
    }
    bgTotal += rowCnt;
  }
  // best[i] = max second(c) over c with n_c(D) = 1 and u(c) = i; 0 = "no c", so ĝ unchanged.
  const best = new Float64Array(V);
  const maxRad = Math.max(H, W) - 1;
  const countIn = (r: number, c: number, rad: number): number => {
    const r0 = r - rad < 0 ? 0 : r - rad;
    const r1 = r + rad >= H ? H - 1 : r + rad;
    const c0 = c - rad < 0 ? 0 : c - rad;
    const c1 = c + rad >= W ? W - 1 : c + rad;
    return (
      (cnt[(r1 + 1) * W1 + c1 + 1] as number) -
      (cnt[r0 * W1 + c1 + 1] as number) -
      (cnt[(r1 + 1) * W1 + c0] as number) +
      (cnt[r0 * W1 + c0] as number)
    );
  };
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      if (countIn(r, c, D) !== 1) continue;
      const r0 = r - D < 0 ? 0 : r - D;
      const r1 = r + D >= H ? H - 1 : r + D;
      const c0 = c - D < 0 ? 0 : c - D;
      const c1 = c + D >= W ? W - 1 : c + D;
      const u =
        (idx[(r1 + 1) * W1 + c1 + 1] as number) -
        (idx[r0 * W1 + c1 + 1] as number) -
        (idx[(r1 + 1) * W1 + c0] as number) +
        (idx[r0 * W1 + c0] as number);
      let second: number;
      if (bgTotal < 2) second = Infinity;
      else {
        // Smallest rad in [D+1, maxRad] with countIn ≥ 2 (exists because the whole image has ≥ 2).
        let lo = D + 1;
        let hi = maxRad;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (countIn(r, c, mid) >= 2) hi = mid;
          else lo = mid + 1;
        }
        second = lo;
      }
      if (second > (best[u] as number)) best[u] = second;
    }
  }

  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const i = r * W + c;
      const m = sample[offset + i] as number;
      let l1 = l0;
      if (m === 1) {
        if (!P(D, r, c)) {
          // Binary search max k in [0, D−1] with P(k) (P(0) := true).
          let lo = 0;
          let hi = D - 1;
          while (lo < hi) {
            const mid = (lo + hi + 1) >>> 1;
            if (P(mid, r, c)) lo = mid;
            else hi = mid - 1;
          }
          l1 = sizeLoss(targetSize, 2 * lo, H, W);
        }
      } else {
        const b = best[i] as number;
        if (b > D) l1 = sizeLoss(targetSize, b === Infinity ? Infinity : 2 * b, H, W);
      }
      out[outOffset + i] = lemma1Entry(m, l0, l1);
    }
  }
}
