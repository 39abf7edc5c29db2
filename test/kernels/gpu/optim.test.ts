/**
 * The optimiser kernels ('AdamUpdate', 'SgdUpdate') through SGD/Adam on device parameters, against
 * float64 references of the update rules written here (PyTorch's formulations), over several steps with
 * fresh gradients each step. The inputs are float32 values, so the reference sees exactly what the kernels
 * see; the kernels round to float32 after every step, hence relative tolerances of a few float32 ulps per
 * step (stated per check).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../../src/autograd/tensor.js';
import type { GpuBackend } from '../../../src/kernels/gpu/backend.js';
import { runKernel } from '../../../src/autograd/kernel.js';
import { Adam, type AdamOptions, SGD, type SGDOptions } from '../../../src/models/optim.js';
import { randomF32, rng } from './_reference.js';
import { openTestBackend, TEST_MODE } from './_suite.js';

const N = 37; // odd, not a multiple of any workgroup size
const STEPS = 4;

function adamRef(
  w0: Float32Array,
  grads: Float32Array[],
  o: Required<AdamOptions>,
): { w: Float64Array; m: Float64Array; v: Float64Array } {
  const w = Float64Array.from(w0),
    m = new Float64Array(w.length),
    v = new Float64Array(w.length);
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i]! + (o.decoupled ? 0 : o.weightDecay * w[i]!);
      m[i] = o.beta1 * m[i]! + (1 - o.beta1) * gi;
      v[i] = o.beta2 * v[i]! + (1 - o.beta2) * gi * gi;
      const decayed = o.decoupled ? w[i]! * (1 - o.lr * o.weightDecay) : w[i]!;
      w[i] = decayed - (o.lr * m[i]!) / (1 - o.beta1 ** t) / (Math.sqrt(v[i]! / (1 - o.beta2 ** t)) + o.eps);
    }
  });
  return { w, m, v };
}

function sgdRef(w0: Float32Array, grads: Float32Array[], o: Required<SGDOptions>): Float64Array {
  const w = Float64Array.from(w0),
    buf = new Float64Array(w.length);
  for (const g of grads) {
    for (let i = 0; i < w.length; i++) {
      let d = g[i]! + o.weightDecay * w[i]!;
      if (o.momentum !== 0) {
        buf[i] = o.momentum * buf[i]! + d;
        d = o.nesterov ? d + o.momentum * buf[i]! : buf[i]!;
      }
      w[i] = w[i]! - o.lr * d;
    }
  }
  return w;
}

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let d = 0,
    m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs((got[i] as number) - (want[i] as number)));
    m = Math.max(m, Math.abs(want[i] as number));
  }
  return d / (m + 1e-30);
}

describe(`optimiser kernels, GPU.js ${TEST_MODE} mode, against float64 references`, () => {
  let backend: GpuBackend;
  beforeAll(async () => {
    backend = await openTestBackend();
  });
  afterAll(() => backend.destroy());

  /** A device parameter, and the gradients of each step (uploaded into p.grad before each step). */
  function setup(seed: number) {
    const r = rng(seed);
    const w0 = randomF32(N, r);
    const grads = Array.from({ length: STEPS }, (_, s) => randomF32(N, r, s === 2 ? 1e-3 : 1)); // one step with tiny gradients
    const p = backend.upload(new Tensor(w0, [N])).requiresGrad_();
    const run = (step: () => void) => {
      for (const g of grads) {
        p.grad = backend.upload(new Tensor(g, [N]));
        step();
      }
    };
    return { w0, grads, p, run };
  }

  it.each([
    ['plain', {}],
    ['L2 weight decay', { weightDecay: 0.05 }],
    ['decoupled (AdamW)', { weightDecay: 0.05, decoupled: true }],
    ['other betas and eps', { beta1: 0.5, beta2: 0.9, eps: 1e-3, lr: 0.1 }],
  ] as const)('Adam, %s', async (_, extra) => {
    const options: Required<AdamOptions> = {
      lr: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      decoupled: false,
      ...extra,
    };
    const { w0, grads, p, run } = setup(11);
    const opt = new Adam([p], options);
    run(() => opt.step());
    const ref = adamRef(w0, grads, options);
    expect(relErr(await p.data(), ref.w)).toBeLessThan(1e-6);
    const state = await opt.hostStateDict();
    expect(state.t).toBe(STEPS);
    expect(relErr(state.m[0]!, ref.m)).toBeLessThan(1e-6);
    expect(relErr(state.v[0]!, ref.v)).toBeLessThan(1e-6);
  });

  it.each([
    ['plain', {}],
    ['weight decay', { weightDecay: 0.1 }],
    ['momentum', { momentum: 0.9 }],
    ['Nesterov momentum and weight decay', { momentum: 0.8, nesterov: true, weightDecay: 0.01 }],
  ] as const)('SGD, %s', async (_, extra) => {
    const options: Required<SGDOptions> = { lr: 0.05, momentum: 0, weightDecay: 0, nesterov: false, ...extra };
    const { w0, grads, p, run } = setup(12);
    const opt = new SGD([p], options);
    run(() => opt.step());
    expect(relErr(await p.data(), sgdRef(w0, grads, options))).toBeLessThan(1e-6);
  });

  it('Adam resumes on the device from a host state (loadStateDict), as an uninterrupted run would', async () => {
    const { w0, grads, p } = setup(13);
    const host = new Tensor(Float32Array.from(w0), [N]).requiresGrad_();
    const hostOpt = new Adam([host], { lr: 0.01 });
    for (const g of grads.slice(0, 2)) {
      host.grad = new Tensor(g, [N]);
      hostOpt.step();
    }
    // the device parameter takes the host weights and moments and continues
    p.device!.assign(p.device!.upload(Float32Array.from(host.values())));
    const devOpt = new Adam([p], { lr: 0.01 });
    devOpt.loadStateDict(hostOpt.stateDict());
    for (const g of grads.slice(2)) {
      p.grad = backend.upload(new Tensor(g, [N]));
      devOpt.step();
    }
    const ref = adamRef(w0, grads, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false });
    expect(relErr(await p.data(), ref.w)).toBeLessThan(1e-6);
  });

  it('the update swaps in new device versions: kernels queued before the step still read the old weights', async () => {
    const p = backend.upload(new Tensor(new Float32Array([1, -2, 3]), [3])).requiresGrad_();
    const before = runKernel('Relu', [p])[0]!; // queued before the step
    p.grad = backend.upload(new Tensor(new Float32Array([1, 1, 1]), [3]));
    new SGD([p], { lr: 0.5 }).step();
    expect(Array.from(await before.data())).toEqual([1, 0, 3]);
    expect(Array.from(await p.data())).toEqual([0.5, -2.5, 2.5]);
  });

  it('gradients on another backend than the parameter are a clear error', () => {
    const p = backend.upload(new Tensor(new Float32Array(3), [3])).requiresGrad_();
    p.grad = new Tensor(new Float32Array(3), [3]);
    expect(() => new Adam([p], { lr: 0.1 }).step()).toThrow(/lives on 'gpu' but its gradient on 'cpu'/);
    const h = new Tensor(new Float32Array(3), [3]).requiresGrad_();
    h.grad = backend.upload(new Tensor(new Float32Array(3), [3]));
    expect(() => new SGD([h], { lr: 0.1 }).step()).toThrow(
      /host tensor but its gradient lives on 'gpu'.*model\.to\('gpu'\)/,
    );
  });
});
