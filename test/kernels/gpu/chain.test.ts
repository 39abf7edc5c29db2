/**
 * Tensors on the gpu backend stay on the device: kernels chain on promises of GPU.js handles, model code
 * stays synchronous, and values come back only through `await t.data()`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../../src/autograd/tensor.js';
import { runKernel } from '../../../src/autograd/kernel.js';
import type { GpuBackend } from '../../../src/kernels/gpu/backend.js';
import { GpuData } from '../../../src/kernels/gpu/deviceData.js';
import {
  batchNormRef,
  concatRef,
  conv2dRef,
  expectClose,
  randomF32,
  rng,
  type S4,
  size,
  upsampleRef,
} from './_reference.js';
import { openTestBackend, TEST_MODE } from './_suite.js';

describe('gpu backend: chains of kernels on device values', () => {
  let backend: GpuBackend;
  beforeAll(async () => {
    backend = await openTestBackend();
  });
  afterAll(() => backend.destroy());
  const up = (a: Float32Array, s: readonly number[]) => backend.upload(new Tensor(a, s));
  const one = (name: string, inputs: Tensor[], attrs: Record<string, unknown> = {}) =>
    runKernel(name, inputs, attrs)[0]!;

  it('conv → batch norm → relu → upsample → concat → 1×1 conv → add → mul, read once at the end', async () => {
    const r = rng(11);
    const xs: S4 = [2, 3, 5, 4],
      w1s: S4 = [4, 3, 3, 3],
      w2s: S4 = [2, 6, 1, 1];
    const x = randomF32(size(xs), r),
      w1 = randomF32(size(w1s), r),
      b1 = randomF32(4, r);
    const gamma = randomF32(4, r, 0.3, 1),
      beta = randomF32(4, r, 0.2);
    const skip = randomF32(2 * 2 * 10 * 8, r),
      w2 = randomF32(size(w2s), r),
      m = randomF32(2 * 2 * 10 * 8, r);

    const statsBefore = { ...backend.context.stats };
    const xt = up(x, xs);
    const h1 = one('Conv2D', [xt, up(w1, w1s), up(b1, [4])], { stride: 1, padding: 1 });
    const [h2] = runKernel(
      'BatchNorm2D',
      [h1, up(gamma, [4]), up(beta, [4]), up(new Float32Array(4), [4]), up(new Float32Array(4).fill(1), [4])],
      {
        training: true,
        momentum: 0.1,
        eps: 1e-5,
      },
    );
    const h3 = one('Relu', [h2!]);
    const h4 = one('UpsampleNearest2x', [h3]);
    const h5 = one('ConcatChannels', [h4, up(skip, [2, 2, 10, 8])]);
    const h6 = one('Conv2D', [h5, up(w2, w2s)], { stride: 1, padding: 0 });
    const h7 = one('Add', [h6, h6]);
    const y = one('Mul', [h7, up(m, [2, 2, 10, 8])]);

    // everything above ran synchronously and lives on the device; nothing was read back
    for (const t of [xt, h1, h2!, h3, h4, h5, h6, h7, y]) {
      expect(t.backend).toBe('gpu');
      expect(t.device).toBeInstanceOf(GpuData);
      expect(t.storage.length).toBe(0);
    }
    expect(() => y.values()).toThrow(/await t\.data\(\)/);
    expect(backend.context.stats.reads).toBe(statsBefore.reads);
    expect(y.shape).toEqual([2, 2, 10, 8]);

    const got = await y.data();
    expect(backend.context.stats.reads).toBe(statsBefore.reads + 1);

    // float64 reference of the same chain
    const c1 = conv2dRef(x, xs, w1, w1s, b1, 1, 1);
    const bn = batchNormRef(c1.y, c1.ys, gamma, beta, [0, 0, 0, 0], [1, 1, 1, 1], true, 0.1, 1e-5);
    const relu = bn.y.map((v) => Math.max(v, 0));
    const ups = upsampleRef(relu, c1.ys);
    const cat = concatRef([
      { a: ups, s: [2, 4, 10, 8] },
      { a: skip, s: [2, 2, 10, 8] },
    ]);
    const c2 = conv2dRef(cat.y, cat.ys, w2, w2s, null, 1, 0);
    const want = c2.y.map((v, i) => 2 * v * m[i]!);
    expectClose(got, want, 1e-4, 'chain');
  });

  it('two calls of one compiled kernel keep separate results (pipeline + immutable)', async () => {
    const a = one('Relu', [up(new Float32Array([1, -2, 3]), [3])]);
    const b = one('Relu', [up(new Float32Array([-4, 5, -6]), [3])]);
    const c = one('Relu', [up(new Float32Array([7, 8, 9]), [3])]);
    expect(Array.from(await c.data())).toEqual([7, 8, 9]);
    expect(Array.from(await a.data())).toEqual([1, 0, 3]);
    expect(Array.from(await b.data())).toEqual([0, 5, 0]);
  });

  it('an in-place running-statistics update is seen by later kernels only', async () => {
    const s: S4 = [2, 2, 3, 3];
    const r = rng(12);
    const x1 = randomF32(size(s), r),
      x2 = randomF32(size(s), r, 1, 2);
    const g = new Float32Array([1, 1]),
      b = new Float32Array([0, 0]);
    const rm0 = new Float32Array([0.5, -0.5]),
      rv0 = new Float32Array([1, 2]);
    const rmt = up(rm0, [2]),
      rvt = up(rv0, [2]);
    const zeros = up(new Float32Array(2), [2]);
    const before = one('Add', [rmt, zeros]); // queued before the updates: must see rm0
    const attrs = { training: true, momentum: 0.25, eps: 1e-5 };
    runKernel('BatchNorm2D', [up(x1, s), up(g, [2]), up(b, [2]), rmt, rvt], attrs);
    const between = one('Add', [rmt, zeros]);
    runKernel('BatchNorm2D', [up(x2, s), up(g, [2]), up(b, [2]), rmt, rvt], attrs);
    const ref1 = batchNormRef(x1, s, g, b, rm0, rv0, true, 0.25, 1e-5);
    const ref2 = batchNormRef(x2, s, g, b, ref1.runningMean, ref1.runningVar, true, 0.25, 1e-5);
    expectClose(await before.data(), rm0, 0, 'before the updates');
    expectClose(await between.data(), ref1.runningMean, 1e-6, 'after one update');
    expectClose(await rmt.data(), ref2.runningMean, 1e-6, 'running mean after two updates');
    expectClose(await rvt.data(), ref2.runningVar, 1e-6, 'running var after two updates');
  });

  it('a failing kernel rejects every value that depends on it, naming the kernels', async () => {
    const bad = Tensor.onDevice(
      new GpuData(backend.context, Promise.reject(new Error('lost buffer')), 2 * 3 * 4 * 4),
      [2, 3, 4, 4],
    );
    const y = one('Relu', [one('Conv2D', [bad, up(new Float32Array(27), [1, 3, 3, 3])], { stride: 1, padding: 1 })]);
    await expect(y.data()).rejects.toThrow(/gpu kernel 'Relu' failed: gpu kernel 'Conv2D' failed: lost buffer/);
  });

  it('shape errors are thrown synchronously at the op', () => {
    const x = up(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
    expect(() =>
      runKernel('Conv2D', [x, up(new Float32Array(2 * 4 * 9), [2, 4, 3, 3])], { stride: 1, padding: 0 }),
    ).toThrow(/3 channels but the weight/);
    expect(() =>
      runKernel('Conv2D', [x, up(new Float32Array(2 * 3 * 25), [2, 3, 5, 5])], { stride: 1, padding: 0 }),
    ).toThrow(/larger than the padded image/);
    expect(() =>
      runKernel('Conv2D', [x, up(new Float32Array(2 * 3 * 9), [2, 3, 3, 3])], { stride: 0, padding: 0 }),
    ).toThrow(/stride must be a positive integer/);
  });

  it('upload: float32 only, device tensors pass through, values are copied at upload time', async () => {
    expect(() => backend.upload(new Tensor(new Float64Array(4), [4]))).toThrow(/float32.*to\('float32'\)/);
    const host = new Float32Array([1, 2, 3]);
    const t = backend.upload(new Tensor(host, [3]));
    host[0] = 99;
    expect(backend.upload(t)).toBe(t);
    expect(Array.from(await t.data())).toEqual([1, 2, 3]);
    const copy = await t.data();
    copy[1] = -1;
    expect(Array.from(await t.data())).toEqual([1, 2, 3]); // reads are fresh copies
  });

  it('mixing host and device tensors in one kernel is an error', () => {
    const d = up(new Float32Array(4), [1, 1, 2, 2]);
    expect(() => runKernel('Add', [d, new Tensor(new Float32Array(4), [1, 1, 2, 2])])).toThrow(/different backends/);
  });

  it('garbage-collected intermediates are released, but never before the kernels that read them ran', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const ctx = backend.context as unknown as {
      release: (h: unknown) => void;
      kernel: (spec: unknown) => (...hs: unknown[]) => unknown;
    };
    const released = new Set<unknown>();
    const originalKernel = ctx.kernel.bind(ctx);
    // every kernel call becomes slow and asynchronous (as a first webgpu call is: it awaits its build)
    // and refuses inputs whose buffer was already released
    ctx.release = (h) => released.add(h);
    ctx.kernel = (spec) => {
      const k = originalKernel(spec);
      return async (...hs: unknown[]) => {
        await sleep(20);
        if (hs.some((h) => released.has(h))) throw new Error('an input buffer was released before the kernel ran');
        return k(...hs);
      };
    };
    try {
      const x = up(
        Float32Array.from({ length: 12 }, (_, i) => i - 5),
        [1, 3, 2, 2],
      );
      let y: Tensor | null = null;
      (() => {
        const t1 = one('Relu', [x]); // intermediates: unreachable once this function returns
        const t2 = one('Add', [t1, t1]);
        y = one('Mul', [t2, x]);
      })();
      for (let i = 0; i < 6; i++) {
        gc();
        await sleep(10);
      }
      expect(Array.from(await y!.data())).toEqual(
        Array.from({ length: 12 }, (_, i) => 2 * Math.max(i - 5, 0) * (i - 5)),
      );
      for (let i = 0; i < 4; i++) {
        gc();
        await sleep(10);
      }
      expect(released.size).toBeGreaterThanOrEqual(2); // t1 and t2 were released after use
    } finally {
      delete (ctx as { release?: unknown }).release;
      delete (ctx as { kernel?: unknown }).kernel;
    }
  });

  it('dispose releases a value; reading it afterwards is a clear error', async () => {
    const t = up(new Float32Array([1, 2]), [2]);
    (t.device as GpuData).dispose();
    await expect(t.data()).rejects.toThrow(/disposed/);
  });

  it('info() reports the mode (gpujs-cpu emulation in tests)', () => {
    const info = backend.info();
    expect(info.backend).toBe('gpu');
    expect(String(info.mode)).toMatch(TEST_MODE === 'cpu' ? /^gpujs-cpu/ : /^webgpu$/);
    expect(info.kernels).toEqual(
      expect.arrayContaining([
        'Conv2D',
        'Conv2DBackpropInput',
        'Conv2DBackpropFilter',
        'Conv2DBackpropBias',
        'BatchNorm2D',
        'BatchNorm2DBackward',
        'UpsampleNearest2x',
        'UpsampleNearest2xBackward',
        'Relu',
        'ReluBackward',
        'Add',
        'Mul',
        'ConcatChannels',
      ]),
    );
  });
});
