/**
 * The same ResUNet code trains on the 'gpu' backend (here in GPU.js's cpu mode, the same kernel sources
 * as on a GPU): one forward + backward + optimiser step on the device gives the loss, gradients, updated
 * weights and batch-norm running statistics of the same model on the 'cpu' backend (which is itself
 * checked against float64 references in test/models and test/kernels/js), in train and eval mode;
 * a few device steps lower the loss.
 *
 * Tolerances (float32 on both sides, different summation orders in the reductions):
 *  - loss: relative 1e-5;
 *  - gradients: per parameter, max |Δ| ≤ 1e-4 · max |cpu gradient| (+1e-7);
 *  - weights and running statistics after the step: absolute 1e-5 (Adam with lr 1e-2 moves every weight
 *    by ≈ lr, so this is 1e-3 of the step).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, bceWithLogits, noGrad, randn, tensor, type Tensor } from '../../../src/autograd/index.js';
import { toHost } from '../../../src/autograd/ops/transfer.js';
import type { GpuBackend } from '../../../src/kernels/gpu/backend.js';
import { ResUNet } from '../../../src/models/resunet.js';
import { Adam, SGD } from '../../../src/models/optim.js';
import { sizeLoss } from '../../../src/estimators/sizeLossOp.js';
import { openTestBackend, TEST_MODE } from './_suite.js';

const WIDTHS = [2, 4];

function data(seed: number, batch = 2, h = 16, w = 8): { x: Tensor; t: Tensor } {
  const x = randn([batch, 1, h, w], new Rng(seed));
  const t = tensor(
    x.dataSync().map((v) => (v > 0.3 ? 1 : 0)),
    [batch, 1, h, w],
  );
  return { x, t };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}

describe(`training a ResUNet on the gpu backend (GPU.js ${TEST_MODE} mode) matches the cpu backend`, () => {
  let backend: GpuBackend;
  beforeAll(async () => {
    backend = await openTestBackend();
  });
  afterAll(() => backend.destroy());

  it.each([
    ['train', 'Adam'],
    ['eval', 'Adam'],
    ['train', 'SGD'],
  ] as const)('one step, batch norm in %s mode, %s', async (mode, optimiser) => {
    const cpu = new ResUNet({ widths: WIDTHS, rng: new Rng(3), headBias: -0.5 });
    const gpu = new ResUNet({ widths: WIDTHS, rng: new Rng(3), headBias: -0.5 }).to(backend);
    const { x, t } = data(4);
    const xDev = backend.upload(x);
    if (mode === 'eval') {
      // non-trivial running statistics first (one train-mode forward on another batch), then eval mode
      const warm = data(5).x;
      noGrad(() => cpu.forward(warm));
      noGrad(() => gpu.forward(backend.upload(warm)));
      cpu.eval();
      gpu.eval();
    }
    const make = (m: ResUNet) =>
      optimiser === 'Adam'
        ? new Adam(m.parameters(), { lr: 1e-2, weightDecay: 1e-3 })
        : new SGD(m.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true });
    const optCpu = make(cpu);
    const optGpu = make(gpu);

    const lossCpu = bceWithLogits(cpu.forward(x), t);
    lossCpu.backward();
    const gradsCpu = cpu.parameters().map((p) => p.grad!.dataSync());
    optCpu.step();

    const readsBefore = backend.context.stats.reads;
    const logits = gpu.forward(xDev);
    expect(logits.backend).toBe('gpu');
    const host = await toHost(logits);
    expect(backend.context.stats.reads).toBe(readsBefore + 1); // the whole forward: one read
    const lossGpu = bceWithLogits(host, t);
    lossGpu.backward();
    optGpu.step();
    // backward and the step stay on the device: nothing more was read
    expect(backend.context.stats.reads).toBe(readsBefore + 1);
    for (const p of gpu.parameters()) {
      expect(p.backend).toBe('gpu');
      expect(p.grad?.backend).toBe('gpu');
    }

    expect(Math.abs(lossGpu.item() - lossCpu.item())).toBeLessThan(1e-5 * Math.abs(lossCpu.item()));
    const gradsGpu = await Promise.all(gpu.parameters().map((p) => p.grad!.data()));
    const names = [...cpu.namedParameters()].map(([n]) => n);
    names.forEach((name, k) => {
      const ref = gradsCpu[k]!;
      expect(maxAbsDiff(gradsGpu[k]!, ref), `gradient of ${name}`).toBeLessThanOrEqual(1e-4 * maxAbs(ref) + 1e-7);
    });
    // weights and running statistics after the step, read through the asynchronous state dict
    const after = await gpu.hostStateDict();
    for (const [name, ref] of cpu.stateDict()) {
      expect(maxAbsDiff(after.get(name)!.dataSync(), ref.dataSync()), name).toBeLessThan(1e-5);
    }
    // the device model is still on the device
    expect(gpu.backend).toBe('gpu');
  });

  it('Adam over three steps: the device moments match the host ones (hostStateDict)', async () => {
    const cpu = new ResUNet({ widths: WIDTHS, rng: new Rng(8) });
    const gpu = new ResUNet({ widths: WIDTHS, rng: new Rng(8) }).to(backend);
    const optCpu = new Adam(cpu.parameters(), { lr: 1e-2 });
    const optGpu = new Adam(gpu.parameters(), { lr: 1e-2 });
    for (let step = 0; step < 3; step++) {
      const { x, t } = data(20 + step);
      optCpu.zeroGrad();
      bceWithLogits(cpu.forward(x), t).backward();
      optCpu.step();
      optGpu.zeroGrad();
      bceWithLogits(await toHost(gpu.forward(backend.upload(x))), t).backward();
      optGpu.step();
    }
    expect(() => optGpu.stateDict()).toThrow(/hostStateDict/);
    const sc = optCpu.stateDict();
    const sg = await optGpu.hostStateDict();
    expect(sg.t).toBe(3);
    sc.m.forEach((m, k) => {
      expect(maxAbsDiff(sg.m[k]!, m!)).toBeLessThanOrEqual(1e-4 * maxAbs(m!) + 1e-7);
      expect(maxAbsDiff(sg.v[k]!, sc.v[k]!)).toBeLessThanOrEqual(1e-4 * maxAbs(sc.v[k]!) + 1e-10);
    });
    const after = await gpu.hostStateDict();
    for (const [name, ref] of cpu.stateDict())
      expect(maxAbsDiff(after.get(name)!.dataSync(), ref.dataSync()), name).toBeLessThan(1e-4);
  });

  it('a size-loss step (masks sampled on the host from the read logits) matches the cpu backend', async () => {
    const cpu = new ResUNet({ widths: WIDTHS, rng: new Rng(12) });
    const gpu = new ResUNet({ widths: WIDTHS, rng: new Rng(12) }).to(backend);
    const { x } = data(13);
    const sizes = [6, 10];
    const lossCpu = sizeLoss(cpu.forward(x), sizes, { rng: new Rng(14) });
    lossCpu.backward();
    const lossGpu = sizeLoss(await toHost(gpu.forward(backend.upload(x))), sizes, { rng: new Rng(14) });
    lossGpu.backward();
    expect(Math.abs(lossGpu.item() - lossCpu.item())).toBeLessThanOrEqual(1e-5 * Math.abs(lossCpu.item()) + 1e-7);
    expect(maxAbs(cpu.head.bias!.grad!.dataSync())).toBeGreaterThan(1e-4); // the estimator's gradient is not trivially zero
    const gradsGpu = await Promise.all(gpu.parameters().map((p) => p.grad!.data()));
    cpu.parameters().forEach((p, k) => {
      const ref = p.grad!.dataSync();
      expect(maxAbsDiff(gradsGpu[k]!, ref), p.name).toBeLessThanOrEqual(1e-4 * maxAbs(ref) + 1e-7);
    });
  });

  it('a few Adam steps on the device lower the loss', async () => {
    const model = new ResUNet({ widths: [4, 8], rng: new Rng(7) }).to(backend);
    const opt = new Adam(model.parameters(), { lr: 0.01 });
    const { x, t } = data(9, 4, 8, 8);
    const xDev = backend.upload(x);
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      opt.zeroGrad();
      const loss = bceWithLogits(await toHost(model.forward(xDev)), t);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[19]!).toBeLessThan(0.7 * losses[0]!);
  });
});
