/**
 * Batch normalisation over NCHW (statistics per channel C, over N·H·W), PyTorch semantics:
 * training mode normalises with the biased batch variance and updates the running statistics
 * in place with the unbiased variance; eval mode normalises with the running statistics.
 * Statistics are accumulated in float64; outputs have x's dtype.
 */
import type { TypedArray as F } from '../types.js';
import { allocHost } from '../engine.js';
import type { Shape4 } from './conv2d.js';

export interface BatchNorm2dOptions {
  training: boolean;
  eps: number;
  momentum: number;
  /** [C], updated in place in training mode; required in eval mode. */
  runningMean?: F | null;
  /** [C], updated in place in training mode (unbiased variance); required in eval mode. */
  runningVar?: F | null;
}

export interface BatchNorm2dForwardResult {
  out: F;
  /** Per-channel mean used for normalisation [C] (batch mean in training, running mean in eval). */
  mean: F;
  /** Per-channel 1/sqrt(var + eps) used for normalisation [C]. */
  invStd: F;
}

function allocLike(like: F, n: number): F {
  return like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}

function check(x: F, xShape: Shape4, gamma: F, beta: F | null): void {
  if (xShape.length !== 4 || xShape.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new Error(`batchNorm2d: xShape must be 4 non-negative integers, got [${xShape.join(', ')}]`);
  }
  const [N, C, H, W] = xShape;
  if (x.length !== N * C * H * W)
    throw new Error(`batchNorm2d: x has ${x.length} elements, shape needs ${N * C * H * W}`);
  if (gamma.length !== C) throw new Error(`batchNorm2d: gamma has ${gamma.length} elements, expected ${C}`);
  if (beta !== null && beta.length !== C)
    throw new Error(`batchNorm2d: beta has ${beta.length} elements, expected ${C}`);
}

/** y = gamma · (x − mean) · invStd + beta, per channel. */
export function batchNorm2dForward(
  x: F,
  xShape: Shape4,
  gamma: F,
  beta: F,
  opts: BatchNorm2dOptions,
): BatchNorm2dForwardResult {
  check(x, xShape, gamma, beta);
  const [N, C, H, W] = xShape;
  const HW = H * W;
  const m = N * HW;
  const { training, eps, momentum } = opts;
  const rm = opts.runningMean ?? null;
  const rv = opts.runningVar ?? null;
  if (rm !== null && rm.length !== C)
    throw new Error(`batchNorm2d: runningMean has ${rm.length} elements, expected ${C}`);
  if (rv !== null && rv.length !== C)
    throw new Error(`batchNorm2d: runningVar has ${rv.length} elements, expected ${C}`);
  const out = allocLike(x, x.length);
  const mean = allocLike(x, C);
  const invStd = allocLike(x, C);
  for (let c = 0; c < C; c++) {
    let mu: number;
    let is: number;
    if (training) {
      if (m === 0) throw new Error('batchNorm2d: training mode needs at least one value per channel');
      let s = 0;
      for (let n = 0; n < N; n++) {
        let i = (n * C + c) * HW;
        const e = i + HW;
        for (; i < e; i++) s += x[i]!;
      }
      mu = s / m;
      let v = 0;
      for (let n = 0; n < N; n++) {
        let i = (n * C + c) * HW;
        const e = i + HW;
        for (; i < e; i++) {
          const d = x[i]! - mu;
          v += d * d;
        }
      }
      const varB = v / m;
      is = 1 / Math.sqrt(varB + eps);
      if (rm !== null) rm[c] = (1 - momentum) * rm[c]! + momentum * mu;
      if (rv !== null) {
        const unbiased = m > 1 ? v / (m - 1) : varB;
        rv[c] = (1 - momentum) * rv[c]! + momentum * unbiased;
      }
    } else {
      if (rm === null || rv === null) throw new Error('batchNorm2d: eval mode needs runningMean and runningVar');
      mu = rm[c]!;
      is = 1 / Math.sqrt(rv[c]! + eps);
    }
    mean[c] = mu;
    invStd[c] = is;
    const a = gamma[c]! * is;
    const b = beta[c]! - mu * a;
    for (let n = 0; n < N; n++) {
      let i = (n * C + c) * HW;
      const e = i + HW;
      for (; i < e; i++) out[i] = x[i]! * a + b;
    }
  }
  return { out, mean, invStd };
}

/**
 * Training-mode backward (the batch statistics depend on x): with x̂ = (x − mean)·invStd and
 * m = N·H·W per channel, dbeta = Σ dy, dgamma = Σ dy·x̂,
 * dx = gamma·invStd/m · (m·dy − dbeta − x̂·dgamma). Outputs have dy's dtype.
 */
export function batchNorm2dBackward(
  dy: F,
  x: F,
  xShape: Shape4,
  gamma: F,
  mean: F,
  invStd: F,
): { dx: F; dgamma: F; dbeta: F } {
  check(x, xShape, gamma, null);
  const [N, C, H, W] = xShape;
  if (dy.length !== x.length) throw new Error(`batchNorm2d: dy has ${dy.length} elements, x has ${x.length}`);
  if (mean.length !== C || invStd.length !== C) throw new Error('batchNorm2d: mean/invStd must have C elements');
  const HW = H * W;
  const m = N * HW;
  const dx = allocLike(dy, dy.length);
  const dgamma = allocLike(dy, C);
  const dbeta = allocLike(dy, C);
  for (let c = 0; c < C; c++) {
    const mu = mean[c]!;
    const is = invStd[c]!;
    let sdy = 0;
    let sdyx = 0;
    for (let n = 0; n < N; n++) {
      let i = (n * C + c) * HW;
      const e = i + HW;
      for (; i < e; i++) {
        const g = dy[i]!;
        sdy += g;
        sdyx += g * (x[i]! - mu);
      }
    }
    const dg = sdyx * is;
    dgamma[c] = dg;
    dbeta[c] = sdy;
    if (m === 0) continue;
    const k = (gamma[c]! * is) / m;
    // dx = k · (m·dy − sdy − x̂·dg) = (k·m)·dy − k·sdy − (k·dg·is)·(x − mu)
    const a = k * m;
    const b = k * sdy;
    const cc = k * dg * is;
    for (let n = 0; n < N; n++) {
      let i = (n * C + c) * HW;
      const e = i + HW;
      for (; i < e; i++) dx[i] = a * dy[i]! - b - cc * (x[i]! - mu);
    }
  }
  return { dx, dgamma, dbeta };
}

/**
 * Eval-mode backward: eval mode is y = γ·(x − μ)·s + β per channel with constants μ, s (the running
 * statistics), so dx = dy·γ·s, dγ = Σ dy·(x − μ)·s, dβ = Σ dy. Outputs have dy's dtype.
 */
export function batchNorm2dEvalBackward(
  dy: F,
  x: F,
  xShape: Shape4,
  gamma: F,
  mean: F,
  invStd: F,
): { dx: F; dgamma: F; dbeta: F } {
  const [N, C, H, W] = xShape;
  const dtype = dy instanceof Float64Array ? 'float64' : 'float32';
  const dx = allocHost(dtype, dy.length, false);
  const dgamma = allocHost(dtype, C, true); // accumulated over the images
  const dbeta = allocHost(dtype, C, true);
  const plane = H * W;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const scale = gamma[c]! * invStd[c]!;
      let sg = 0,
        sgx = 0;
      for (let i = 0, k = (n * C + c) * plane; i < plane; i++, k++) {
        const gk = dy[k]!;
        dx[k] = gk * scale;
        sg += gk;
        sgx += gk * (x[k]! - mean[c]!);
      }
      dbeta[c] = dbeta[c]! + sg;
      dgamma[c] = dgamma[c]! + sgx * invStd[c]!;
    }
  }
  return { dx, dgamma, dbeta };
}
