/**
 * Scopes on the gpu backend (src/kernels/gpu/deviceData.ts): a scope disposes the device values it made,
 * except what is kept or returned; scopes nest; a released device tensor refuses to be read with the same
 * message as a released host tensor; parameters, leaf gradients and optimiser state persist.
 *
 * Live device buffers are counted beside the code under test: every handle a kernel or an upload of the
 * context produced, minus every handle handed to the context's `release` (what frees a WebGPU buffer).
 * With scopes a training step leaves exactly the model's state on the device, the same count after every
 * step; without them the count grows (only the garbage collector frees what a step made).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, bceWithLogits, randn, tensor, type Tensor } from '../../../src/autograd/index.js';
import { toHost } from '../../../src/autograd/ops/transfer.js';
import { hostBackend, keep, scope } from '../../../src/kernels/engine.js';
import type { GpuBackend } from '../../../src/kernels/gpu/backend.js';
import type { GpuContext, KernelSpec } from '../../../src/kernels/gpu/context.js';
import type { GpuData } from '../../../src/kernels/gpu/deviceData.js';
import { Adam } from '../../../src/models/optim.js';
import { ResUNet } from '../../../src/models/resunet.js';
import { trainStep } from '../../../src/train/step.js';
import { openTestBackend, TEST_MODE } from './_suite.js';

const RELEASED = /was made inside a scope that has ended \(scope\(fn\), withStepArena, a training step\)/;

/** Wraps the context's run, upload and release to count the buffers alive (see the file comment). */
function countBuffers(ctx: GpuContext) {
  const made = new Set<unknown>();
  const released = new Set<unknown>();
  const pending: Promise<unknown>[] = [];
  const own = ctx as unknown as Record<string, unknown>;
  const run = ctx.run.bind(ctx);
  const upload = ctx.upload.bind(ctx);
  const release = ctx.release.bind(ctx);
  const track = (d: GpuData): GpuData => {
    pending.push(d.slot.promise.then((h) => made.add(h)).catch(() => {}));
    return d;
  };
  own.run = (spec: KernelSpec, inputs: readonly GpuData[]) => track(run(spec, inputs));
  own.upload = (values: Float32Array) => track(upload(values));
  own.release = (h: unknown) => {
    released.add(h);
    release(h);
  };
  return {
    /** Buffers made and not yet released, once every queued kernel and release has run. */
    async live(): Promise<number> {
      await Promise.allSettled(pending);
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
      // every call made its own buffer (else counting handles would count too few)
      expect(made.size).toBe(pending.length);
      let n = 0;
      for (const h of made) if (!released.has(h)) n++;
      return n;
    },
    restore(): void {
      delete own.run;
      delete own.upload;
      delete own.release;
    },
  };
}

function data(seed: number): { x: Tensor; t: Tensor } {
  const x = randn([2, 1, 16, 8], new Rng(seed));
  const t = tensor(
    x.dataSync().map((v) => (v > 0.3 ? 1 : 0)),
    [2, 1, 16, 8],
  );
  return { x, t };
}

describe(`scopes on the gpu backend (GPU.js ${TEST_MODE} mode)`, () => {
  let backend: GpuBackend;
  beforeAll(async () => {
    backend = await openTestBackend();
  });
  afterAll(() => backend.destroy());

  const up = (values: number[]) => backend.upload(tensor(values, [values.length]));

  it('nested scopes: kept and returned tensors survive, the others are released with a clear error', async () => {
    const a = up([1, -2, 3]); // outside every scope: never released
    let outerOnly!: Tensor, inner!: Tensor, kept!: Tensor, returned!: Tensor;
    const result = scope(() => {
      outerOnly = a.relu();
      returned = scope(() => {
        inner = a.add(a);
        kept = keep(a.mul(a));
        return a.relu().add(a);
      });
      // the inner scope has ended: its own tensor is gone, the kept and returned ones are not
      expect(() => inner.add(a)).toThrow(RELEASED);
      return returned.add(kept);
    });
    expect(await result.data()).toEqual(Float32Array.from([3, 2, 15]));
    expect(await returned.data()).toEqual(Float32Array.from([2, -2, 6]));
    expect(await kept.data()).toEqual(Float32Array.from([1, 4, 9]));
    expect(await a.data()).toEqual(Float32Array.from([1, -2, 3]));
    await expect(inner.data()).rejects.toThrow(RELEASED);
    await expect(outerOnly.data()).rejects.toThrow(RELEASED);
    await expect(outerOnly.data()).rejects.toThrow(/Tensor\(\[3\], float32\)/);
    expect(() => outerOnly.relu()).toThrow(RELEASED);
  });

  it('a released device tensor says what a released host tensor says', async () => {
    let host!: Tensor, device!: Tensor;
    const x = up([1, 2]);
    scope(() => {
      host = tensor([1, 2], [2]).add(tensor([3, 4], [2]));
      device = x.add(x);
      return null;
    });
    await expect(device.data()).rejects.toThrow(RELEASED);
    // host tensors are released where the host backend gives scoped memory ('wasm' with shared memory)
    if (hostBackend().scopedMemory?.() === true) expect(() => host.values()).toThrow(RELEASED);
  });

  /** Adam steps of a small ResUNet on the device, each through trainStep (a scope) or the same loop without one. */
  async function train(scoped: boolean, steps: number, count = false) {
    const model = new ResUNet({ widths: [2, 4], rng: new Rng(3), headBias: -0.5 }).to(backend);
    const opt = new Adam(model.parameters(), { lr: 1e-2 });
    const counter = count ? countBuffers(backend.context) : null;
    const live: number[] = [];
    const losses: number[] = [];
    try {
      for (let s = 0; s < steps; s++) {
        const { x, t } = data(30 + s);
        const lossFn = async () => bceWithLogits(await toHost(model.forward(backend.upload(x))), t);
        if (scoped) losses.push((await trainStep(opt, lossFn)).loss);
        else {
          opt.zeroGrad();
          const loss = await lossFn();
          losses.push(loss.item());
          loss.backward();
          opt.step();
        }
        if (counter) live.push(await counter.live());
      }
    } finally {
      counter?.restore();
    }
    const params = model.parameters();
    return {
      model,
      losses,
      live,
      weights: await Promise.all(params.map((p) => p.data())),
      grads: await Promise.all(params.map((p) => p.grad!.data())),
      state: await model.hostStateDict(),
    };
  }

  it('training steps in scopes give the same bits as without, and keep gradients and optimiser state', async () => {
    const plain = await train(false, 3);
    const scoped = await train(true, 3);
    expect(scoped.losses).toEqual(plain.losses);
    scoped.weights.forEach((w, k) => expect(w).toEqual(plain.weights[k]));
    // leaf gradients persist after the step's scope has ended
    scoped.grads.forEach((g, k) => expect(g).toEqual(plain.grads[k]));
    for (const [name, v] of plain.state) expect(scoped.state.get(name)!.dataSync(), name).toEqual(v.dataSync());
  });

  it('a training step in a scope leaves only the model state on the device: a bounded count of buffers', async () => {
    const steps = 5;
    const scoped = await train(true, steps, true);
    const P = scoped.model.parameters().length;
    const buffers = scoped.state.size - P; // batch norm's running statistics
    // weights, Adam's two moments, the gradients, the running statistics, Adam's hyper-parameters
    const expected = 4 * P + buffers + 1;
    expect(scoped.live).toEqual(Array.from({ length: steps }, () => expected));
  });

  it('the gradient zeroGrad drops is freed when the step that dropped it ends; the new one persists', async () => {
    const model = new ResUNet({ widths: [2, 4], rng: new Rng(5) }).to(backend);
    const opt = new Adam(model.parameters(), { lr: 1e-2 });
    const { x, t } = data(40);
    const lossFn = async () => bceWithLogits(await toHost(model.forward(backend.upload(x))), t);
    await trainStep(opt, lossFn);
    const p = model.parameters()[0]!;
    const first = p.grad!;
    const values = await first.data();
    await trainStep(opt, lossFn);
    await expect(first.data()).rejects.toThrow(/disposed/);
    expect(p.grad).not.toBe(first);
    expect((await p.grad!.data()).length).toBe(values.length);
  });

  it('a model moved onto the device inside a scope keeps its parameters and buffers', async () => {
    const model = new ResUNet({ widths: [2, 4], rng: new Rng(7) });
    const host = await Promise.all(model.parameters().map((p) => p.data()));
    scope(() => {
      model.to(backend);
      return null;
    });
    const moved = await Promise.all(model.parameters().map((p) => p.data()));
    moved.forEach((v, k) => expect(v).toEqual(host[k]));
    const { x, t } = data(60);
    const opt = new Adam(model.parameters(), { lr: 1e-2 });
    const { loss } = await trainStep(opt, async () => bceWithLogits(await toHost(model.forward(backend.upload(x))), t));
    expect(Number.isFinite(loss)).toBe(true);
  });

  it('gradients accumulate across scopes as without them', async () => {
    const run = async (scoped: boolean) => {
      const model = new ResUNet({ widths: [2, 4], rng: new Rng(6) }).to(backend);
      for (const seed of [50, 51]) {
        const { x, t } = data(seed);
        const host = await toHost(model.forward(backend.upload(x)));
        if (scoped) scope(() => bceWithLogits(host, t).backward());
        else bceWithLogits(host, t).backward();
      }
      return Promise.all(model.parameters().map((p) => p.grad!.data()));
    };
    const plain = await run(false);
    const scoped = await run(true);
    scoped.forEach((g, k) => expect(g).toEqual(plain[k]));
  });
});
