/**
 * Optimiser updates, in place, as plain loops: w, and the optimiser's state beside it, are overwritten.
 * Every update is computed in float64 and stored in the arrays' type.
 */
import type { TypedArray } from '../types.js';

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  /** Bias corrections 1 − β1^t and 1 − β2^t of this step. */
  c1: number;
  c2: number;
}

/** Adam (AdamW with `decoupled`): m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; w ← w − lr·(m/c1)/(√(v/c2) + ε). */
export function adamUpdate(w: TypedArray, g: TypedArray, m: TypedArray, v: TypedArray, h: AdamHyper): void {
  const { lr, beta1, beta2, eps, weightDecay, decoupled, c1, c2 } = h;
  for (let i = 0; i < w.length; i++) {
    let gi = g[i] as number;
    if (weightDecay !== 0 && !decoupled) gi += weightDecay * (w[i] as number);
    const mi = beta1 * (m[i] as number) + (1 - beta1) * gi;
    const vi = beta2 * (v[i] as number) + (1 - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    let wi = w[i] as number;
    if (weightDecay !== 0 && decoupled) wi -= lr * weightDecay * wi;
    w[i] = wi - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
  }
}

export interface SgdHyper {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** SGD with (Nesterov) momentum and L2 weight decay, PyTorch's formulation; `v` null without momentum. */
export function sgdUpdate(w: TypedArray, g: TypedArray, v: TypedArray | null, h: SgdHyper): void {
  const { lr, momentum, weightDecay, nesterov } = h;
  for (let i = 0; i < w.length; i++) {
    let d = (g[i] as number) + weightDecay * (w[i] as number);
    if (v) {
      const vi = momentum * (v[i] as number) + d;
      v[i] = vi;
      d = nesterov ? d + momentum * vi : vi;
    }
    w[i] = (w[i] as number) - lr * d;
  }
}
