/**
 * Optimisers. Each keeps its per-parameter state in typed arrays and updates parameters in place,
 * outside the tape (an update is not part of the model's computation).
 */
import { allocate, type TypedArray } from '../autograd/dtype.js';
import type { Tensor } from '../autograd/tensor.js';

abstract class Optimizer {
  readonly params: Tensor[];

  constructor(params: Iterable<Tensor>, name: string) {
    this.params = [...params];
    if (this.params.length === 0) throw new Error(`${name}: no parameters to optimise; pass model.parameters().`);
    for (const p of this.params) {
      if (!p.isContiguous || p.offset !== 0 || p.storage.length !== p.size) {
        throw new Error(`${name}: parameter ${p.name ?? p.toString()} must own contiguous storage (create it with tensor()/zeros(), not as a view).`);
      }
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  abstract step(): void;

  /** Gradient values of a parameter, or null if backward did not reach it. Non-finite gradients are an error. */
  protected gradOf(p: Tensor, name: string): TypedArray | null {
    if (!p.grad) return null;
    const g = p.grad.values();
    for (let i = 0; i < g.length; i++) {
      if (!Number.isFinite(g[i] as number)) {
        throw new Error(`${name}.step: the gradient of ${p.name ?? 'a parameter'} contains ${g[i]}; the loss diverged. Lower the learning rate or check the data for NaN.`);
      }
    }
    return g;
  }
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** Stochastic gradient descent with (Nesterov) momentum and L2 weight decay, PyTorch's formulation. */
export class SGD extends Optimizer {
  readonly options: Required<SGDOptions>;
  private readonly velocity: (TypedArray | null)[];

  constructor(params: Iterable<Tensor>, options: SGDOptions) {
    super(params, 'SGD');
    this.options = { momentum: 0, weightDecay: 0, nesterov: false, ...options };
    checkLr('SGD', this.options.lr);
    this.velocity = this.params.map(() => null);
  }

  step(): void {
    const { lr, momentum, weightDecay, nesterov } = this.options;
    this.params.forEach((p, k) => {
      const g = this.gradOf(p, 'SGD');
      if (!g) return;
      const w = p.storage;
      let v = this.velocity[k] ?? null;
      if (momentum !== 0 && !v) v = this.velocity[k] = allocate(p.dtype, p.size);
      for (let i = 0; i < w.length; i++) {
        let d = (g[i] as number) + weightDecay * (w[i] as number);
        if (v) {
          const vi = momentum * (v[i] as number) + d;
          v[i] = vi;
          d = nesterov ? d + momentum * vi : vi;
        }
        w[i] = (w[i] as number) - lr * d;
      }
    });
  }
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty added to the gradient (Adam) — or decoupled decay when `decoupled` (AdamW). */
  weightDecay?: number;
  decoupled?: boolean;
}

/** Adam (Kingma & Ba 2015) with bias correction; AdamW's decoupled weight decay as an option. */
export class Adam extends Optimizer {
  readonly options: Required<AdamOptions>;
  private readonly m: (TypedArray | null)[];
  private readonly v: (TypedArray | null)[];
  private t = 0;

  constructor(params: Iterable<Tensor>, options: AdamOptions) {
    super(params, 'Adam');
    this.options = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, ...options };
    checkLr('Adam', this.options.lr);
    this.m = this.params.map(() => null);
    this.v = this.params.map(() => null);
  }

  step(): void {
    const { lr, beta1, beta2, eps, weightDecay, decoupled } = this.options;
    this.t++;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    this.params.forEach((p, k) => {
      const g = this.gradOf(p, 'Adam');
      if (!g) return;
      const w = p.storage;
      const m = (this.m[k] ??= allocate(p.dtype, p.size));
      const v = (this.v[k] ??= allocate(p.dtype, p.size));
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
    });
  }

  /**
   * The optimiser's state, for resuming a run: the step count and copies of the first and second moments
   * (null for a parameter that has not had a gradient yet). `loadStateDict` puts it back, so a resumed run
   * continues with exactly the updates an uninterrupted one would make.
   */
  stateDict(): AdamState {
    return { t: this.t, m: this.m.map((a) => (a ? a.slice() : null)), v: this.v.map((a) => (a ? a.slice() : null)) };
  }

  loadStateDict(state: AdamState): void {
    const n = this.params.length;
    if (!Number.isInteger(state.t) || state.t < 0) throw new Error(`Adam.loadStateDict: step count must be an integer ≥ 0, got ${state.t}.`);
    if (state.m.length !== n || state.v.length !== n) {
      throw new Error(`Adam.loadStateDict: the state has moments for ${state.m.length} parameters, this optimiser has ${n}; was it saved for another model?`);
    }
    const copy = (a: ArrayLike<number> | null, k: number, which: string): TypedArray | null => {
      if (a === null) return null;
      const p = this.params[k]!;
      if (a.length !== p.size) throw new Error(`Adam.loadStateDict: moment ${which}[${k}] has ${a.length} values, parameter ${p.name ?? k} has ${p.size}.`);
      const out = allocate(p.dtype, p.size);
      out.set(a as ArrayLike<number>);
      return out;
    };
    const m = state.m.map((a, k) => copy(a, k, 'm'));
    const v = state.v.map((a, k) => copy(a, k, 'v'));
    this.t = state.t;
    m.forEach((a, k) => (this.m[k] = a));
    v.forEach((a, k) => (this.v[k] = a));
  }
}

export interface AdamState {
  t: number;
  m: (ArrayLike<number> | null)[];
  v: (ArrayLike<number> | null)[];
}

function checkLr(name: string, lr: number): void {
  if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`${name}: learning rate must be a positive finite number, got ${lr}.`);
}
