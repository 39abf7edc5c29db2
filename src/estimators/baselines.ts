/**
 * Baseline gradient estimators, compared with Lemma 1 against the exact 2^V enumeration (bench, docs).
 * All return an estimate of ∂L/∂p_i (L = E[l(s, ĝ(Y))], p_i = Pr(Y_i = +1)) averaged over K samples, and all
 * evaluate losses through `sizeLoss` (same +∞ rule as everything else).
 *
 * Shared calling convention: `samples` holds K masks back to back (K·V bytes, 0/1, row-major), typically
 * drawn with `sampleBernoulliMasks` (sizeLossKernel.ts); K = samples.length / V.
 *
 * ## REINFORCE (score function) with a baseline — unbiased
 *     ∂L/∂p_i ≈ (1/K) Σ_k (l_k − b_k) · ∂ log Pr(y_k)/∂p_i,   ∂ log Pr(y)/∂p_i = 1/p_i if y_i = +1, −1/(1 − p_i) if −1.
 * baseline 'leave-one-out' (default): b_k = mean of l over the OTHER K − 1 samples. b_k is independent of y_k,
 * and E[∂ log Pr(y)/∂p_i] = 0, so the estimate stays unbiased while the baseline removes most of the variance
 * (needs K ≥ 2). baseline 'none': b_k = 0 (plain score function; K ≥ 1).
 * A sample that is impossible under `probs` (y_i = 1 with p_i = 0, or y_i = 0 with p_i = 1) is an error.
 *
 * ## Straight-through — biased on purpose
 * Forward uses the hard sample y; backward pretends the mask is continuous and the "identity" passes
 * ∂l/∂m_i straight to p_i. That needs a derivative of ĝ w.r.t. the mask, which we take from the
 * multilinear form of the distance transform:
 *     d̃_c(m) = Σ_{k=1}^{max(H,W)} Π_{j ∈ S(c, k−1)} m_j     (= min(d_c, max(H,W)) on 0/1 masks),
 * with the max over pixels held at its arg-max c* (first pixel in row-major order with the largest d):
 *     ŝ = 2·d̃_{c*}(m),   ∂l/∂m_i = 2(ŝ − s) · 2 · ∂d̃_{c*}/∂m_i,
 * and, because d̃ is multilinear, ∂d̃_{c*}/∂m_i at a 0/1 mask is exactly d̃_{c*}(y_{i=1}) − d̃_{c*}(y_{i=0}):
 *   foreground i:  max(0, D − cheb(c*, i))  with D = d̃_{c*} (a pyramid on the largest inscribed square);
 *   background i:  nonzero only for the single background pixel within distance D of c*, if it is unique:
 *                  (distance from c* to the next background pixel, capped at max(H, W)) − D.
 * The chain rule through the square loss and the max at a hard sample is exactly what makes it biased
 * (the multilinear extension of l∘max∘d is not l∘max of the multilinear extensions). The ST estimate is
 * deterministic given the sample; its error is mostly bias.
 * (Using finite differences of the whole loss instead, l(y_{i=1}) − l(y_{i=0}), would reproduce Lemma 1 exactly —
 * Lemma 1 is the straight-through estimator of the multilinear extension of l∘ĝ, which is why it is unbiased.)
 */
import { DT_INF, dtKernel, validateMask } from './distanceTransform.js';
import { objectSizeUnchecked, sizeLoss, validateTargetSize } from './objectSize.js';

export type ReinforceBaseline = 'leave-one-out' | 'none';

export interface ReinforceOptions {
  /** Pr(Y_i = +1) for every pixel, row-major (Float64Array of length V). Required. */
  probs: Float64Array;
  /** 'leave-one-out' (default, unbiased, K ≥ 2) or 'none'. */
  baseline?: ReinforceBaseline;
}

function sampleCount(fn: string, samples: unknown, height: number, width: number): number {
  if (!(samples instanceof Uint8Array)) {
    throw new Error(
      `${fn}: samples must be a Uint8Array holding K masks back to back (K·H·W bytes of 0/1). ` +
        `Draw them with sampleBernoulliMasks(probs, K, height, width, rng).`,
    );
  }
  const V = height * width;
  const K = samples.length / V;
  if (!Number.isInteger(K) || K < 1) {
    throw new Error(
      `${fn}: samples has length ${samples.length}, which is not a positive multiple of ` +
        `${height}×${width} = ${V}. Pass K whole masks back to back.`,
    );
  }
  return K;
}

/** REINFORCE estimate of ∂L/∂p (see the module comment). */
export function reinforceGradient(
  samples: Uint8Array,
  height: number,
  width: number,
  targetSize: number,
  options: ReinforceOptions,
): Float64Array {
  const fn = 'reinforceGradient';
  if (options === undefined || options === null || !(options.probs instanceof Float64Array)) {
    throw new Error(
      `${fn}: options.probs (Float64Array of Pr(Y_i = +1)) is required: the score function ` +
        `∂ log Pr(y)/∂p_i depends on it. Call reinforceGradient(samples, H, W, s, { probs }).`,
    );
  }
  const K = sampleCount(fn, samples, height, width);
  validateMask(fn, samples, height, width, K, 'samples');
  validateTargetSize(fn, targetSize);
  const probs = options.probs;
  const V = height * width;
  if (probs.length !== V) {
    throw new Error(`${fn}: options.probs has length ${probs.length}, expected ${V} (= ${height}×${width}).`);
  }
  for (let i = 0; i < V; i++) {
    const p = probs[i] as number;
    if (!(p >= 0 && p <= 1))
      throw new Error(`${fn}: options.probs[${i}] = ${p} is not in [0, 1]. Apply a sigmoid first.`);
  }
  const baseline = options.baseline ?? 'leave-one-out';
  if (baseline !== 'leave-one-out' && baseline !== 'none') {
    throw new Error(`${fn}: unknown baseline '${String(baseline)}'. Use 'leave-one-out' (default) or 'none'.`);
  }
  if (baseline === 'leave-one-out' && K < 2) {
    throw new Error(
      `${fn}: the leave-one-out baseline needs at least 2 samples, got ${K}. ` +
        `Pass more samples or { baseline: 'none' }.`,
    );
  }
  const scratch = new Int32Array(V);
  const losses = new Float64Array(K);
  let total = 0;
  for (let k = 0; k < K; k++) {
    const lk = sizeLoss(targetSize, objectSizeUnchecked(samples, k * V, height, width, scratch), height, width);
    losses[k] = lk;
    total += lk;
  }
  const grad = new Float64Array(V);
  for (let k = 0; k < K; k++) {
    const lk = losses[k] as number;
    const b = baseline === 'none' ? 0 : (total - lk) / (K - 1);
    const w = lk - b;
    for (let i = 0; i < V; i++) {
      const p = probs[i] as number;
      const y = samples[k * V + i] as number;
      if ((y === 1 && p === 0) || (y === 0 && p === 1)) {
        throw new Error(
          `${fn}: sample ${k} has pixel ${i} = ${y} but probs[${i}] = ${p} makes that impossible ` +
            `(the score function would be infinite). Draw samples from the same probs.`,
        );
      }
      grad[i] = (grad[i] as number) + w * (y === 1 ? 1 / p : -1 / (1 - p));
    }
  }
  for (let i = 0; i < V; i++) grad[i] = (grad[i] as number) / K;
  return grad;
}

/** Straight-through estimate of ∂L/∂p (see the module comment): mean over the K samples. */
export function straightThroughGradient(
  samples: Uint8Array,
  height: number,
  width: number,
  targetSize: number,
): Float64Array {
  const fn = 'straightThroughGradient';
  const K = sampleCount(fn, samples, height, width);
  validateMask(fn, samples, height, width, K, 'samples');
  validateTargetSize(fn, targetSize);
  const V = height * width;
  const cap = Math.max(height, width);
  const d = new Int32Array(V);
  const grad = new Float64Array(V);
  for (let k = 0; k < K; k++) {
    const off = k * V;
    const maxD = dtKernel(samples, off, height, width, d, 0);
    const D = maxD >= DT_INF ? cap : maxD; // d̃ = min(d, max(H, W))
    let cStar = 0;
    for (let i = 0; i < V; i++) {
      if ((d[i] as number) >= maxD) {
        cStar = i;
        break;
      }
    }
    const rs = Math.floor(cStar / width);
    const cs = cStar - rs * width;
    const s = 2 * D;
    const factor = 2 * (s - targetSize) * 2;
    // Background: the unique background pixel within distance D of c*, if unique.
    let uniqueBg = -1;
    let bgWithin = 0;
    for (let i = 0; i < V && bgWithin < 2; i++) {
      if (samples[off + i] !== 0) continue;
      const r = Math.floor(i / width);
      const c = i - r * width;
      if (Math.max(Math.abs(r - rs), Math.abs(c - cs)) <= D) {
        bgWithin++;
        uniqueBg = i;
      }
    }
    let bgDelta = 0;
    if (bgWithin === 1) {
      let next = cap; // no other background pixel → all foreground → capped at max(H, W)
      for (let i = 0; i < V; i++) {
        if (i === uniqueBg || samples[off + i] !== 0) continue;
        const r = Math.floor(i / width);
        const c = i - r * width;
        const dist = Math.max(Math.abs(r - rs), Math.abs(c - cs));
        if (dist < next) next = dist;
      }
      bgDelta = next - D;
    }
    for (let i = 0; i < V; i++) {
      let delta = 0;
      if (samples[off + i] === 1) {
        const r = Math.floor(i / width);
        const c = i - r * width;
        const dist = Math.max(Math.abs(r - rs), Math.abs(c - cs));
        delta = dist < D ? D - dist : 0;
      } else if (i === uniqueBg && bgWithin === 1) {
        delta = bgDelta;
      }
      grad[i] = (grad[i] as number) + factor * delta;
    }
  }
  for (let i = 0; i < V; i++) grad[i] = (grad[i] as number) / K;
  return grad;
}
