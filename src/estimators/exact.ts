/**
 * Exact expected size loss and its gradient by enumerating all 2^V masks (paper eqs. 10, 13, 19), in float64.
 *
 *     L = Σ_y Pr(y) · l(s, ĝ(y)),     Pr(y) = Π_i p_i^[y_i=+1] (1 − p_i)^[y_i=−1]
 *     ∂L/∂p_i = Σ_{y_{−i}} Pr(y_{−i}) · ( l(s, ĝ(y_{i=+1})) − l(s, ĝ(y_{i=−1})) )          (eq. 19)
 *
 * ĝ is the object size with the +∞ rule (objectSize.ts). Implementation: a table T[m] = l(s, ĝ(mask m))
 * over all bit patterns m (bit i = pixel i in row-major order is foreground), then L is T contracted with
 * the Bernoulli weights over every variable, and ∂L/∂p_i is T contracted over every variable except i,
 * which leaves a 2-vector (T_i[0], T_i[1]) and ∂L/∂p_i = T_i[1] − T_i[0] — eq. 19 literally, with no division
 * by Pr(y_i) (so p_i ∈ {0, 1} is fine). Cost: Θ(2^V) size evaluations plus Θ(V·2^V) multiply-adds;
 * memory 12·2^V bytes. V > 24 is refused.
 */
import { DT_INF, dtKernel, validateShape } from './distanceTransform.js';
import { sizeLoss, validateTargetSize } from './objectSize.js';

/** Largest V that exactSizeLoss enumerates (2^24 ≈ 1.7e7 masks, ~200 MB of tables, seconds). */
export const EXACT_MAX_PIXELS = 24;

export interface ExactResult {
  /** L = E[l(s, ĝ(Y))]. */
  expectedLoss: number;
  /** ∂L/∂p_i for every pixel (row-major). */
  gradProbs: Float64Array;
}

function validateProbs(fn: string, probs: unknown, height: number, width: number): asserts probs is Float64Array {
  validateShape(fn, height, width);
  if (!(probs instanceof Float64Array)) {
    throw new Error(
      `${fn}: probs must be a Float64Array of probabilities p_i = Pr(Y_i = +1), got ` +
        `${probs === null ? 'null' : typeof probs === 'object' ? (probs as object).constructor?.name : typeof probs}. ` +
        `Convert with Float64Array.from(values).`,
    );
  }
  if (probs.length !== height * width) {
    throw new Error(
      `${fn}: probs has length ${probs.length} but a ${height}×${width} image needs ${height * width}. ` +
        `Check height/width.`,
    );
  }
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (!(p >= 0 && p <= 1)) {
      throw new Error(`${fn}: probs[${i}] = ${p} is not a probability in [0, 1]. Apply a sigmoid to logits first.`);
    }
  }
}

/** Contract variable at bit position j of table `src` (length n) into `dst` (length n/2; may be `src`). */
function contract(src: Float64Array, n: number, j: number, p: number, dst: Float64Array): void {
  const half = 1 << j;
  const q = 1 - p;
  let k = 0;
  for (let hi = 0; hi < n; hi += 2 * half) {
    for (let lo = 0; lo < half; lo++) {
      dst[k++] = q * (src[hi + lo] as number) + p * (src[hi + half + lo] as number);
    }
  }
}

/**
 * Expected loss and its gradient for the given table over `vars` (variable v sits at bit position v of the
 * table index; probabilities `p[v]`). Returns L and, for every v, T_v[1] − T_v[0].
 */
function contractAll(table: Float64Array, p: ArrayLike<number>, U: number): ExactResult {
  const n = table.length;
  const grad = new Float64Array(U);
  if (U === 0) return { expectedLoss: table[0] as number, gradProbs: grad };
  const scratch = new Float64Array(Math.max(1, n >>> 1));
  // Expected loss: contract from the top variable down.
  let len = n;
  let cur: Float64Array = table;
  for (let v = U - 1; v >= 0; v--) {
    contract(cur, len, v, p[v] as number, scratch);
    cur = scratch;
    len >>>= 1;
  }
  const expectedLoss = scratch[0] as number;
  // Gradient: for each i contract every other variable (top-down), leaving bit i as the only one.
  for (let i = 0; i < U; i++) {
    len = n;
    cur = table;
    // Contracting top-down keeps every remaining variable v at bit position v until the variables below i
    // are removed, and those are removed in decreasing order, so v is always at bit v when it is contracted.
    for (let v = U - 1; v >= 0; v--) {
      if (v === i) continue;
      contract(cur, len, v, p[v] as number, scratch);
      cur = scratch;
      len >>>= 1;
    }
    // Only variable i remains, now at bit 0.
    grad[i] = (cur[1] as number) - (cur[0] as number);
  }
  return { expectedLoss, gradProbs: grad };
}

/**
 * Exact L = E[l(s, ĝ(Y))] and ∂L/∂p_i over all 2^V masks (float64). `probs[i] = Pr(Y_i = +1)`, row-major.
 * Throws for V > 24.
 */
export function exactSizeLoss(probs: Float64Array, height: number, width: number, targetSize: number): ExactResult {
  validateProbs('exactSizeLoss', probs, height, width);
  validateTargetSize('exactSizeLoss', targetSize);
  const V = height * width;
  if (V > EXACT_MAX_PIXELS) {
    throw new Error(
      `exactSizeLoss: ${height}×${width} = ${V} pixels would need 2^${V} masks; the limit is ` +
        `V ≤ ${EXACT_MAX_PIXELS}. Use a smaller image, exactSizeLossUncertain (enumerates only pixels with ` +
        `0 < p < 1), or a sampled estimator such as lemma1Gradient.`,
    );
  }
  const table = lossTable(
    height,
    width,
    targetSize,
    Array.from({ length: V }, (_, i) => i),
    new Uint8Array(V),
  );
  return contractAll(table, probs, V);
}

/** T[m] for every bit pattern m over pixels `vars` (bit v ↔ pixel vars[v]); other pixels as in `base`. */
function lossTable(
  height: number,
  width: number,
  targetSize: number,
  vars: readonly number[],
  base: Uint8Array,
): Float64Array {
  const V = height * width;
  const U = vars.length;
  const n = 2 ** U;
  const table = new Float64Array(n);
  const mask = base.slice();
  const d = new Int32Array(V);
  for (let m = 0; m < n; m++) {
    for (let v = 0; v < U; v++) mask[vars[v] as number] = (m >>> v) & 1;
    const maxD = dtKernel(mask, 0, height, width, d, 0);
    table[m] = sizeLoss(targetSize, maxD >= DT_INF ? Infinity : 2 * maxD, height, width);
  }
  return table;
}

/**
 * Like exactSizeLoss, but enumerates only the pixels with 0 < p < 1 (pixels with p = 0 or 1 are fixed), so a
 * larger image works as long as at most 24 pixels are uncertain. The gradient w.r.t. a certain pixel j is
 * still eq. 19, E[l(y_{j=+1}) − l(y_{j=−1})] over the uncertain ones: one extra 2^U table per certain pixel,
 * so the cost is Θ((V − U + 1)·2^U) size evaluations. Used by the Fig. 3 toy map (6×6).
 */
export function exactSizeLossUncertain(
  probs: Float64Array,
  height: number,
  width: number,
  targetSize: number,
): ExactResult {
  validateProbs('exactSizeLossUncertain', probs, height, width);
  validateTargetSize('exactSizeLossUncertain', targetSize);
  const V = height * width;
  const vars: number[] = [];
  const base = new Uint8Array(V);
  for (let i = 0; i < V; i++) {
    const p = probs[i] as number;
    if (p > 0 && p < 1) vars.push(i);
    else base[i] = p === 1 ? 1 : 0;
  }
  const U = vars.length;
  if (U > EXACT_MAX_PIXELS) {
    throw new Error(
      `exactSizeLossUncertain: ${U} pixels have 0 < p < 1; the limit is ${EXACT_MAX_PIXELS}. ` +
        `Set more probabilities to exactly 0 or 1, or use a sampled estimator such as lemma1Gradient.`,
    );
  }
  const pu = vars.map((i) => probs[i] as number);
  const table = lossTable(height, width, targetSize, vars, base);
  const inner = contractAll(table, pu, U);
  const grad = new Float64Array(V);
  for (let v = 0; v < U; v++) grad[vars[v] as number] = inner.gradProbs[v] as number;
  for (let j = 0; j < V; j++) {
    const p = probs[j] as number;
    if (p > 0 && p < 1) continue;
    const flipped = base.slice();
    flipped[j] = 1 - (base[j] as number);
    const other = contractAll(lossTable(height, width, targetSize, vars, flipped), pu, U).expectedLoss;
    // eq. 19: E[l(y_{j=+1})] − E[l(y_{j=−1})]
    grad[j] = base[j] === 1 ? inner.expectedLoss - other : other - inner.expectedLoss;
  }
  return { expectedLoss: inner.expectedLoss, gradProbs: grad };
}
