/**
 * The size-loss op on a batch of logits: forward samples masks and evaluates l(s, ĝ(y)); backward is the Lemma-1
 * estimate chained through the sigmoid. Pure function; randomness comes only from the `rng` passed in.
 *
 * ## Exact sampling order (so tests and callers can reproduce it)
 * p_i = σ(a_i) by `stableSigmoid` (float64). Then
 *
 *     for b in 0..batch−1:            // images in order
 *       for k in 0..samples−1:        // derivative samples of that image
 *         for i in 0..V−1:            // pixels in row-major order
 *           u = rng.uniform();  y_{b,k,i} = (u < p_{b,i}) ? 1 : 0
 *
 * i.e. exactly the same calls as `sampleBernoulliMasks(p_b, samples, H, W, rng)` image after image.
 *
 * ## Outputs
 *     loss           = (1/batch) Σ_b l(s_b, ĝ(y_{b,0}))          (the first sample of each image; summed in order)
 *     gradLogits[b,i] = (Σ_k e_{b,k,i}) / samples * (p_{b,i} * (1 − p_{b,i})) / batch
 * where e_{b,k,·} = lemma1Gradient(y_{b,k}, H, W, s_b, { method }) and Σ_k runs k = 0, 1, … in that order,
 * evaluated left to right exactly as written. The 1/batch is there because the loss is a batch mean;
 * p(1 − p) = σ'(a) is the chain rule from p to the logit.
 */
import type { Rng } from '../autograd/rng.js';
import { stableSigmoid } from '../autograd/scalarMath.js';

export { stableSigmoid };
import { validateShape } from './distanceTransform.js';
import { lemma1Into, type Lemma1Method } from './lemma1.js';
import { objectSizeUnchecked, sizeLoss, validateTargetSize } from './objectSize.js';

/**
 * Draw `count` independent masks y ~ Bernoulli(probs) (K·V bytes, back to back): for each mask, pixels in
 * row-major order, y_i = 1 iff rng.uniform() < probs[i].
 */
export function sampleBernoulliMasks(
  probs: ArrayLike<number>,
  count: number,
  height: number,
  width: number,
  rng: Rng,
): Uint8Array {
  validateShape('sampleBernoulliMasks', height, width);
  const V = height * width;
  if (probs.length !== V) {
    throw new Error(`sampleBernoulliMasks: probs has length ${probs.length}, expected ${V} (= ${height}×${width}).`);
  }
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`sampleBernoulliMasks: count must be a positive integer, got ${count}.`);
  }
  const out = new Uint8Array(count * V);
  for (let k = 0; k < count; k++) {
    for (let i = 0; i < V; i++) out[k * V + i] = rng.uniform() < (probs[i] as number) ? 1 : 0;
  }
  return out;
}

export interface SizeLossOptions {
  /** The seeded generator all sampling draws from. */
  rng: Rng;
  /** Derivative samples per image (n in the paper), default 1. */
  samples?: number;
  /** Lemma-1 implementation, default 'fast' (bit-identical to 'naive'). */
  method?: Lemma1Method;
}

export interface SizeLossResult {
  /** Mean over the batch of l(s_b, ĝ(y_{b,0})). */
  loss: number;
  /** ∂loss/∂a estimate, same layout as the logits (batch×H×W). */
  gradLogits: Float64Array;
  /** g(y_{b,0}) per image (may be +Infinity; the loss used the +∞ rule). */
  sampledSizes: Float64Array;
}

/** Forward + backward of the stochastic size loss over a batch of logits (see the module comment). */
export function sizeLossForwardBackward(
  logits: Float32Array | Float64Array,
  batch: number,
  height: number,
  width: number,
  targetSizes: ArrayLike<number>,
  options: SizeLossOptions,
): SizeLossResult {
  const fn = 'sizeLossForwardBackward';
  validateShape(fn, height, width);
  if (!Number.isInteger(batch) || batch <= 0) {
    throw new Error(`${fn}: batch must be a positive integer, got ${batch}.`);
  }
  if (!(logits instanceof Float32Array || logits instanceof Float64Array)) {
    throw new Error(`${fn}: logits must be a Float32Array or Float64Array (batch×H×W, row-major).`);
  }
  const V = height * width;
  if (logits.length !== batch * V) {
    throw new Error(
      `${fn}: logits has length ${logits.length} but batch×H×W = ${batch}×${height}×${width} = ` +
        `${batch * V}. Check the shape arguments.`,
    );
  }
  if (targetSizes === null || targetSizes === undefined || targetSizes.length !== batch) {
    throw new Error(
      `${fn}: targetSizes must have one size per image (length ${batch}), got length ` + `${targetSizes?.length}.`,
    );
  }
  for (let b = 0; b < batch; b++) validateTargetSize(fn, targetSizes[b] as number, `targetSizes[${b}]`);
  if (
    options === undefined ||
    options === null ||
    options.rng === undefined ||
    typeof options.rng.uniform !== 'function'
  ) {
    throw new Error(`${fn}: options.rng (a seeded Rng) is required, e.g. { rng: new Rng(42) }.`);
  }
  const n = options.samples ?? 1;
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${fn}: options.samples must be a positive integer (derivative samples per image), got ${n}.`);
  }
  const method = options.method ?? 'fast';
  if (method !== 'fast' && method !== 'naive') {
    throw new Error(`${fn}: unknown method '${String(method)}'. Use 'fast' (default) or 'naive'.`);
  }
  for (let j = 0; j < logits.length; j++) {
    if (!Number.isFinite(logits[j] as number)) {
      const b = Math.floor(j / V);
      throw new Error(
        `${fn}: logits[${j}] (image ${b}, pixel ${j - b * V}) is ${logits[j]}; logits must be finite. ` +
          `Check the network output for overflow or NaN.`,
      );
    }
  }

  const rng = options.rng;
  const grad = new Float64Array(batch * V);
  const sizes = new Float64Array(batch);
  const p = new Float64Array(V);
  const y = new Uint8Array(V);
  const est = new Float64Array(V);
  const acc = new Float64Array(V);
  const scratch = new Int32Array(V);
  let lossSum = 0;
  for (let b = 0; b < batch; b++) {
    const s = targetSizes[b] as number;
    for (let i = 0; i < V; i++) p[i] = stableSigmoid(logits[b * V + i] as number);
    acc.fill(0);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < V; i++) y[i] = rng.uniform() < (p[i] as number) ? 1 : 0;
      if (k === 0) {
        const g = objectSizeUnchecked(y, 0, height, width, scratch);
        sizes[b] = g;
        lossSum += sizeLoss(s, g, height, width);
      }
      lemma1Into(method, y, 0, height, width, s, est, 0);
      for (let i = 0; i < V; i++) acc[i] = (acc[i] as number) + (est[i] as number);
    }
    for (let i = 0; i < V; i++) {
      const pi = p[i] as number;
      grad[b * V + i] = (((acc[i] as number) / n) * (pi * (1 - pi))) / batch;
    }
  }
  return { loss: lossSum / batch, gradLogits: grad, sampledSizes: sizes };
}
