/**
 * Moving values between host and device: the differentiable `toHost`, `Module.to` / `toHost` /
 * `hostStateDict` / `loadStateDict` on a device model, gradient accumulation on the device, and the clear
 * errors for mixing host and device tensors in one op (or using ops the device backend has no kernel for).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, add, bceWithLogits, concat, noGrad, randn, tensor } from '../../../src/autograd/index.js';
import { conv2d } from '../../../src/autograd/ops/conv2d.js';
import { toHost } from '../../../src/autograd/ops/transfer.js';
import { Tensor } from '../../../src/autograd/tensor.js';
import { backendInstance, registerBackendFactory, setBackend } from '../../../src/backend.js';
import { createGpuBackend, type GpuBackend } from '../../../src/kernels/gpu/backend.js';
import { ResUNet } from '../../../src/models/resunet.js';
import { Adam } from '../../../src/models/optim.js';
import { openTestBackend, TEST_MODE } from './_suite.js';

describe(`host ↔ device transfers (GPU.js ${TEST_MODE} mode)`, () => {
  let backend: GpuBackend;
  beforeAll(async () => {
    backend = await openTestBackend();
  });
  afterAll(() => backend.destroy());
  const up = (values: number[], shape: number[]) => backend.upload(new Tensor(Float32Array.from(values), shape));

  it('toHost reads once and its backward uploads the gradient; device gradients accumulate on the device', async () => {
    const x = up([1, -2, 3, -4], [4]).requiresGrad_();
    const y = x.relu().mul(x); // x·relu(x): d/dx = 2x where x > 0, else 0
    const host = await toHost(y);
    expect(host.backend).toBe('cpu');
    expect(Array.from(host.values(), (v) => v + 0)).toEqual([1, 0, 9, 0]); // + 0: relu(−2)·(−2) is −0
    const w = tensor([1, 10, 100, 1000]);
    host.mul(w).sum().backward();
    expect(x.grad!.backend).toBe('gpu');
    expect(Array.from(await x.grad!.data())).toEqual([2, 0, 600, 0]);
    // a second backward adds into .grad with the device Add kernel
    (await toHost(x.relu())).mul(w).sum().backward();
    expect(Array.from(await x.grad!.data())).toEqual([3, 0, 700, 0]);
    // a host tensor passes through unchanged
    expect(await toHost(w)).toBe(w);
  });

  it('mixing host and device tensors in one op is a clear error naming both and the fix', () => {
    const dev = up([1, 2, 3, 4], [1, 1, 2, 2]);
    const host = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    const fix =
      /input 0 Tensor\(\[1, 1, 2, 2\], float32\) lives on '(cpu|gpu)' but input 1 Tensor\(\[1, 1, 2, 2\], float32\) on '(gpu|cpu)'.*backendInstance\('gpu'\)\.upload\(t\).*model\.to\('gpu'\).*await toHost\(t\)/;
    expect(() => add(host, dev)).toThrow(fix);
    expect(() => dev.mul(host)).toThrow(fix);
    expect(() => concat([dev, host], 1)).toThrow(fix);
    expect(() => conv2d(dev, tensor([1], [1, 1, 1, 1]))).toThrow(
      /conv2d.*lives on 'gpu' but input 1.*on 'cpu'.*backendInstance\('gpu'\)\.upload/,
    );
    // a model left on the host, fed a device image
    const model = new ResUNet({ widths: [2], rng: new Rng(1) });
    expect(() => model.forward(dev)).toThrow(/lives on 'gpu' but input 1 .* on 'cpu'.*model\.to\('gpu'\)/);
  });

  it('device ops without a kernel, broadcasting and device losses are clear errors', () => {
    const dev = up([1, 2, 3, 4], [1, 1, 2, 2]);
    expect(() => dev.add(1)).toThrow(/equal shape.*no broadcasting/);
    expect(() => dev.mul(up([1], [1, 1, 1, 1]))).toThrow(/equal shape.*no broadcasting/);
    expect(() => dev.sub(dev)).toThrow(/sub: the 'gpu' backend has no kernel for sub.*await toHost\(t\)/);
    expect(() => dev.exp()).toThrow(/exp: the 'gpu' backend has no kernel/);
    expect(() => dev.sum()).toThrow(/sum: .*'gpu' backend.*no reduction kernels/);
    expect(() => dev.slice(2, 0, 1)).toThrow(/slice: .*'gpu' backend/);
    expect(() => concat([dev, dev], 2)).toThrow(/only channel concatenation/);
    expect(() => bceWithLogits(dev, tensor([0, 1, 0, 1], [1, 1, 2, 2]))).toThrow(
      /losses are computed on the host.*await toHost\(logits\)/,
    );
    expect(() => dev.requiresGrad_().relu().backward()).toThrow(/compute the loss on the host.*toHost/);
  });

  it('Module.to moves parameters and buffers in place; toHost brings back the same values', async () => {
    const model = new ResUNet({ widths: [2, 4], rng: new Rng(5) });
    const before = new Map(
      [...model.stateDict()].map(([n, t]) => [
        n,
        { t, values: t.dataSync(), requiresGrad: t.requiresGrad, name: t.name },
      ]),
    );
    const weight = model.stem.conv.weight;
    expect(model.backend).toBe('cpu');
    expect(model.to(backend)).toBe(model);
    expect(model.backend).toBe('gpu');
    expect(model.stem.conv.weight).toBe(weight); // the same tensor objects: layers and optimisers follow
    for (const [name, t] of model.stateDict()) {
      const b = before.get(name)!;
      expect(t).toBe(b.t);
      expect(t.backend).toBe('gpu');
      expect(t.storage.length).toBe(0);
      expect(t.requiresGrad).toBe(b.requiresGrad);
      expect(t.name).toBe(b.name);
    }
    expect(() => model.to('cpu')).toThrow(/await model\.toHost\(\)/);
    expect(model.to(backend)).toBe(model); // already there: nothing to do

    // hostStateDict reads copies, the model stays on the device
    const saved = await model.hostStateDict();
    expect(model.backend).toBe('gpu');
    for (const [name, t] of saved) {
      expect(t.backend).toBe('cpu');
      expect(Array.from(t.dataSync())).toEqual(Array.from(before.get(name)!.values));
    }

    await model.toHost();
    expect(model.backend).toBe('cpu');
    for (const [name, t] of model.stateDict()) {
      expect(t).toBe(before.get(name)!.t);
      expect(Array.from(t.dataSync())).toEqual(Array.from(before.get(name)!.values));
    }
    // and it still computes on the host as before
    expect(noGrad(() => model.eval().forward(randn([1, 1, 4, 4], new Rng(1)))).backend).toBe('cpu');
  });

  it('loadStateDict into a device model uploads the values; it then computes what the host model computes', async () => {
    const source = new ResUNet({ widths: [2, 4], rng: new Rng(6) });
    const model = new ResUNet({ widths: [2, 4], rng: new Rng(7) }).to(backend);
    model.loadStateDict(source.stateDict());
    const x = randn([2, 1, 8, 8], new Rng(8));
    const want = noGrad(() => source.eval().forward(x)).dataSync();
    const got = await noGrad(() => model.eval().forward(backend.upload(x))).data();
    let d = 0;
    for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(want[i]! - got[i]!));
    expect(d).toBeLessThan(1e-5);
  });

  it("Module.to('gpu') by name uses the initialised backend; optimisers built afterwards see device parameters", async () => {
    // the cpu-mode backend stands in for the webgpu one under the name 'gpu'
    registerBackendFactory('gpu', async () =>
      createGpuBackend({ mode: TEST_MODE, allowSoftwareAdapter: TEST_MODE === 'webgpu' }),
    );
    await setBackend('gpu');
    const gpu = backendInstance('gpu');
    const model = new ResUNet({ widths: [2], rng: new Rng(9) }).to('gpu');
    expect(model.backend).toBe('gpu');
    const opt = new Adam(model.parameters(), { lr: 0.1 });
    const x = gpu.upload(randn([1, 1, 4, 4], new Rng(10)));
    bceWithLogits(await toHost(model.forward(x)), tensor(new Float32Array(16).fill(1), [1, 1, 4, 4])).backward();
    opt.step();
    expect(model.backend).toBe('gpu');
    const bias = (await model.hostStateDict()).get('head.bias')!.dataSync();
    expect(bias[0]).toBeCloseTo(0.1, 5); // Adam's first step: lr against the gradient's sign (BCE with target 1 pushes the bias up)
    await (gpu as GpuBackend).destroy();
  });
});
