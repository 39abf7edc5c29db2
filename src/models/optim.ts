/**
 * Optimisers. Each keeps its per-parameter state in typed arrays and updates parameters in place,
 * outside the tape (an update is not part of the model's computation), by the backend's update kernels
 * ('SgdUpdate'; 'AdamUpdate', which takes every parameter of a step at once: [w, grad, m, v] groups).
 *
 * Parameters on a device backend (after `model.to('gpu')`) are updated by the backend's kernels
 * ('SgdUpdate', 'AdamUpdate'): the parameter and its state (velocity, moments) get new device versions
 * swapped in, nothing is read back. Their state lives on the device (created on the first step, from the
 * host state if `loadStateDict` put one there). Differences from host parameters:
 *  - non-finite gradients are not detected at `step()` (that would need a synchronous read); a diverged
 *    step writes NaN into the weights, and the next loss computed on the host (`bceWithLogits` on
 *    `await toHost(logits)`) throws on the non-finite logits;
 *  - `Adam.stateDict()` needs host moments: use `await opt.hostStateDict()`.
 */
import { allocatePersistent, type TypedArray } from '../autograd/dtype.js';
import { runKernel } from '../autograd/kernel.js';
import { Tensor } from '../autograd/tensor.js';
import { uploadLike } from '../autograd/ops/transfer.js';

abstract class Optimizer {
  readonly params: Tensor[];

  constructor(params: Iterable<Tensor>, name: string) {
    this.params = [...params];
    if (this.params.length === 0) throw new Error(`${name}: no parameters to optimise; pass model.parameters().`);
    for (const p of this.params) {
      if (p.device) continue; // device values are always whole and contiguous
      if (!p.isContiguous || p.offset !== 0 || p.storage.length !== p.size) {
        throw new Error(
          `${name}: parameter ${p.name ?? p.toString()} must own contiguous storage (create it with tensor()/zeros(), not as a view).`,
        );
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
    if (p.grad.device)
      throw new Error(
        `${name}.step: ${p.name ?? 'a parameter'} is a host tensor but its gradient lives on '${p.grad.backend}'; move the model with model.to('${p.grad.backend}') before building the optimiser.`,
      );
    const g = p.grad.values();
    // x − x is 0 for every finite x and NaN for ±∞ and NaN, so one sum says whether to look: a branch-free loop,
    // half the time of testing each element (it runs over every gradient at every step)
    let probe = 0;
    for (let i = 0; i < g.length; i++) {
      const x = g[i] as number;
      probe += x - x;
    }
    if (probe !== 0) {
      const i = g.findIndex((x) => !Number.isFinite(x));
      throw new Error(
        `${name}.step: the gradient of ${p.name ?? 'a parameter'} contains ${g[i]}; the loss diverged. Lower the learning rate or check the data for NaN.`,
      );
    }
    return g;
  }

  /** The gradient of a device parameter (no finiteness check: see the file comment). */
  protected deviceGradOf(p: Tensor, name: string): Tensor | null {
    if (!p.grad) return null;
    if (p.grad.backend !== p.backend) {
      throw new Error(
        `${name}.step: ${p.name ?? 'a parameter'} lives on '${p.backend}' but its gradient on '${p.grad.backend}'; compute on the parameters' backend.`,
      );
    }
    return p.grad;
  }

  /** Device state for parameter `p`: the host state uploaded, or zeros. */
  protected deviceState(p: Tensor, host: TypedArray | null): Tensor {
    const values = host ? Float32Array.from(host) : new Float32Array(p.size);
    return uploadLike(p, values, p.shape);
  }

  /** Host state of a parameter that has moved back to the host while its state is on the device. */
  protected staleDeviceState(name: string, p: Tensor): never {
    throw new Error(
      `${name}.step: ${p.name ?? 'a parameter'} is on the host but this optimiser's state for it lives on a device; ` +
        `build a new optimiser after moving the model (carry the state over with loadStateDict).`,
    );
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
  /** Velocities of device parameters (see the file comment). */
  private readonly deviceVelocity: (Tensor | null)[];

  constructor(params: Iterable<Tensor>, options: SGDOptions) {
    super(params, 'SGD');
    this.options = { momentum: 0, weightDecay: 0, nesterov: false, ...options };
    checkLr('SGD', this.options.lr);
    this.velocity = this.params.map(() => null);
    this.deviceVelocity = this.params.map(() => null);
  }

  step(): void {
    const { lr, momentum, weightDecay, nesterov } = this.options;
    this.params.forEach((p, k) => {
      if (p.device) {
        const g = this.deviceGradOf(p, 'SGD');
        if (!g) return;
        const v = momentum !== 0 ? (this.deviceVelocity[k] ??= this.deviceState(p, this.velocity[k] ?? null)) : null;
        runKernel('SgdUpdate', v ? [p, g, v] : [p, g], { lr, momentum, weightDecay, nesterov });
        return;
      }
      if (this.deviceVelocity[k]) this.staleDeviceState('SGD', p);
      const g = this.gradOf(p, 'SGD');
      if (!g) return;
      let v = this.velocity[k] ?? null;
      if (momentum !== 0 && !v) v = this.velocity[k] = allocatePersistent(p.dtype, p.size);
      const inputs = [p, state(g, p), ...(v ? [state(v, p)] : [])];
      runKernel('SgdUpdate', inputs, { lr, momentum, weightDecay, nesterov });
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
  /** Moments of device parameters (see the file comment); `m`/`v` keep the host ones. */
  private readonly deviceM: (Tensor | null)[];
  private readonly deviceV: (Tensor | null)[];

  constructor(params: Iterable<Tensor>, options: AdamOptions) {
    super(params, 'Adam');
    this.options = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, ...options };
    checkLr('Adam', this.options.lr);
    this.m = this.params.map(() => null);
    this.v = this.params.map(() => null);
    this.deviceM = this.params.map(() => null);
    this.deviceV = this.params.map(() => null);
  }

  step(): void {
    const { lr, beta1, beta2, eps, weightDecay, decoupled } = this.options;
    this.t++;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    const hyper = { lr, beta1, beta2, eps, weightDecay, decoupled, c1, c2 };
    // host parameters: one kernel call for all of them ([w, grad, m, v] groups, updated in place)
    const groups: Tensor[] = [];
    this.params.forEach((p, k) => {
      if (p.device) {
        const g = this.deviceGradOf(p, 'Adam');
        if (!g) return;
        const m = (this.deviceM[k] ??= this.deviceState(p, this.m[k] ?? null));
        const v = (this.deviceV[k] ??= this.deviceState(p, this.v[k] ?? null));
        runKernel('AdamUpdate', [p, g, m, v], hyper);
        return;
      }
      if (this.deviceM[k]) this.staleDeviceState('Adam', p);
      const g = this.gradOf(p, 'Adam');
      if (!g) return;
      const m = (this.m[k] ??= allocatePersistent(p.dtype, p.size));
      const v = (this.v[k] ??= allocatePersistent(p.dtype, p.size));
      groups.push(p, state(g, p), state(m, p), state(v, p));
    });
    if (groups.length > 0) runKernel('AdamUpdate', groups, hyper);
  }

  /**
   * The optimiser's state, for resuming a run: the step count and copies of the first and second moments
   * (null for a parameter that has not had a gradient yet). `loadStateDict` puts it back, so a resumed run
   * continues with exactly the updates an uninterrupted one would make.
   */
  stateDict(): AdamState {
    if (this.deviceM.some((d) => d !== null)) {
      throw new Error(
        'Adam.stateDict: the moments of device parameters live on the device; read them with await opt.hostStateDict().',
      );
    }
    return { t: this.t, m: this.m.map((a) => (a ? a.slice() : null)), v: this.v.map((a) => (a ? a.slice() : null)) };
  }

  /** Like `stateDict()`, reading the moments of device parameters back from the device (asynchronous). */
  async hostStateDict(): Promise<AdamState> {
    const read = async (device: Tensor | null, host: TypedArray | null): Promise<TypedArray | null> =>
      device ? ((await device.data()) as TypedArray) : host ? host.slice() : null;
    const m = await Promise.all(this.params.map((_, k) => read(this.deviceM[k] ?? null, this.m[k] ?? null)));
    const v = await Promise.all(this.params.map((_, k) => read(this.deviceV[k] ?? null, this.v[k] ?? null)));
    return { t: this.t, m, v };
  }

  /** Puts a state back; device parameters get it uploaded at their next step. */
  loadStateDict(state: AdamState): void {
    const n = this.params.length;
    if (!Number.isInteger(state.t) || state.t < 0)
      throw new Error(`Adam.loadStateDict: step count must be an integer ≥ 0, got ${state.t}.`);
    if (state.m.length !== n || state.v.length !== n) {
      throw new Error(
        `Adam.loadStateDict: the state has moments for ${state.m.length} parameters, this optimiser has ${n}; was it saved for another model?`,
      );
    }
    const copy = (a: ArrayLike<number> | null, k: number, which: string): TypedArray | null => {
      if (a === null) return null;
      const p = this.params[k]!;
      if (a.length !== p.size)
        throw new Error(
          `Adam.loadStateDict: moment ${which}[${k}] has ${a.length} values, parameter ${p.name ?? k} has ${p.size}.`,
        );
      const out = allocatePersistent(p.dtype, p.size);
      out.set(a as ArrayLike<number>);
      return out;
    };
    const m = state.m.map((a, k) => copy(a, k, 'm'));
    const v = state.v.map((a, k) => copy(a, k, 'v'));
    this.t = state.t;
    m.forEach((a, k) => (this.m[k] = a));
    v.forEach((a, k) => (this.v[k] = a));
    // device moments are re-created from these at the next step
    this.deviceM.fill(null);
    this.deviceV.fill(null);
  }
}

export interface AdamState {
  t: number;
  m: (ArrayLike<number> | null)[];
  v: (ArrayLike<number> | null)[];
}

/** An optimiser's state array (or a gradient's values) as a tensor of the parameter's shape, for a kernel call. */
function state(values: TypedArray, like: Tensor): Tensor {
  return new Tensor(values, like.shape);
}

function checkLr(name: string, lr: number): void {
  if (!(lr > 0) || !Number.isFinite(lr))
    throw new Error(`${name}: learning rate must be a positive finite number, got ${lr}.`);
}
