/**
 * The GPU.js facts the gpu backend must handle, checked in GPU.js's cpu mode:
 *  - loops with run-time bounds are cut at loopMaxIterations (default 1000) without an error, so every
 *    kernel loop bound is a constant: kernels with loops longer than 1000 must still be exact;
 *  - with pipeline: true and immutable: false the next call overwrites the previous result;
 *  - tensors over 2^24 elements are refused (float32 indexing in webgpu/webasm), with a clear message.
 */
import * as gpujs from 'gpu.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../../src/autograd/tensor.js';
import { runKernel } from '../../../src/autograd/kernel.js';
import type { GpuBackend } from '../../../src/kernels/gpu/backend.js';
import { GpuData } from '../../../src/kernels/gpu/deviceData.js';
import { checkGpuSize, MAX_GPU_ELEMENTS } from '../../../src/kernels/gpu/limits.js';
import {
  batchNormRef,
  channelSumRef,
  conv2dBackFilterRef,
  conv2dRef,
  expectClose,
  randomF32,
  rng,
  type S4,
  size,
} from './_reference.js';
import { openTestBackend } from './_suite.js';

type Kernel = (...args: unknown[]) => unknown;
const { GPU } = gpujs as unknown as {
  GPU: new (s: {
    mode: string;
  }) => { createKernel(src: string, settings: Record<string, unknown>): Kernel; destroy(): Promise<void> };
};

describe('GPU.js facts (cpu mode)', () => {
  const gpu = new GPU({ mode: 'cpu' });
  afterAll(() => gpu.destroy());
  const sumSource = (bound: string) => `function (a, n) {
    let s = 0;
    for (let i = 0; i < ${bound}; i++) { s += a[i]; }
    return s + n * 0;
  }`;
  const ones = new Float32Array(1500).fill(1);

  it('a run-time loop bound is silently cut at 1000; a constant bound or an explicit loopMaxIterations is not', () => {
    const dynamic = gpu.createKernel(sumSource('n'), { output: [1] });
    expect((dynamic(ones, 1500) as Float32Array)[0]).toBe(1000); // the silent cut: no error, a wrong sum
    const explicit = gpu.createKernel(sumSource('n'), { output: [1], loopMaxIterations: 2000 });
    expect((explicit(ones, 1500) as Float32Array)[0]).toBe(1500);
    const constant = gpu.createKernel(sumSource('this.constants.L'), { output: [1], constants: { L: 1500 } });
    expect((constant(ones, 1500) as Float32Array)[0]).toBe(1500);
  });

  it('pipeline without immutable reuses the output (the next call overwrites the previous result)', () => {
    const src = `function (a) { return a[this.thread.x] * 2; }`;
    const mutable = gpu.createKernel(src, { output: [3], pipeline: true });
    const r1 = mutable(new Float32Array([1, 2, 3])) as Float32Array;
    mutable(new Float32Array([10, 20, 30]));
    expect(Array.from(r1)).toEqual([20, 40, 60]); // overwritten
    const immutable = gpu.createKernel(src, { output: [3], pipeline: true, immutable: true });
    const i1 = immutable(new Float32Array([1, 2, 3])) as Float32Array;
    immutable(new Float32Array([10, 20, 30]));
    expect(Array.from(i1)).toEqual([2, 4, 6]);
  });
});

describe('gpu backend: loops longer than 1000 iterations', () => {
  let backend: GpuBackend;
  beforeAll(async () => {
    backend = await openTestBackend();
  });
  afterAll(() => backend.destroy());
  const up = (a: Float32Array, s: readonly number[]) => backend.upload(new Tensor(a, s));

  it('conv with 1100 input channels (1×1), and with C·KH·KW = 120·9 = 1080 (3×3)', async () => {
    for (const [xs, ws, p] of [
      [[1, 1100, 2, 3], [2, 1100, 1, 1], 0],
      [[1, 120, 3, 4], [2, 120, 3, 3], 1],
    ] as [S4, S4, number][]) {
      const r = rng(xs[1]);
      const x = randomF32(size(xs), r),
        w = randomF32(size(ws), r);
      const [y] = runKernel('Conv2D', [up(x, xs), up(w, ws)], { stride: 1, padding: p });
      expectClose(await y!.data(), conv2dRef(x, xs, w, ws, null, 1, p).y, 1e-5, `Conv2D C=${xs[1]}`);
    }
  });

  it('bias and filter gradients reduce over planes of 40×30 = 1200 elements', async () => {
    const xs: S4 = [2, 2, 40, 30],
      ws: S4 = [3, 2, 3, 3];
    const r = rng(3);
    const x = randomF32(size(xs), r),
      dy = randomF32(2 * 3 * 40 * 30, r);
    const dys: S4 = [2, 3, 40, 30];
    const dyt = up(dy, dys);
    const [db] = runKernel('Conv2DBackpropBias', [dyt]);
    expectClose(await db!.data(), channelSumRef(dy, dys), 1e-5, 'Conv2DBackpropBias over 2400 values');
    const [dw] = runKernel('Conv2DBackpropFilter', [dyt, up(x, xs)], { stride: 1, padding: 1, wShape: ws });
    expectClose(
      await dw!.data(),
      conv2dBackFilterRef(dy, x, xs, ws, 1, 1),
      1e-5,
      'Conv2DBackpropFilter over 2400 positions',
    );
  });

  it('batch norm statistics over planes of 1200 elements', async () => {
    const s: S4 = [2, 2, 30, 40];
    const r = rng(4);
    const x = randomF32(size(s), r, 1, 3);
    const g = new Float32Array([1, 2]),
      b = new Float32Array([0, 1]);
    const ref = batchNormRef(x, s, g, b, [0, 0], [1, 1], true, 0.1, 1e-5);
    const [y, mean] = runKernel(
      'BatchNorm2D',
      [up(x, s), up(g, [2]), up(b, [2]), up(new Float32Array(2), [2]), up(new Float32Array([1, 1]), [2])],
      {
        training: true,
        momentum: 0.1,
        eps: 1e-5,
      },
    );
    expectClose(await mean!.data(), ref.mean, 1e-6, 'mean');
    expectClose(await y!.data(), ref.y, 1e-4, 'normalised');
  });
});

describe('gpu backend: the 2^24-element limit', () => {
  let backend: GpuBackend;
  beforeAll(async () => {
    backend = await openTestBackend();
  });
  afterAll(() => backend.destroy());
  /** A device tensor of any shape without allocating it (the kernels refuse before touching the data). */
  const fake = (shape: readonly number[]) =>
    Tensor.onDevice(new GpuData(backend.context, Promise.resolve(null), size(shape)), shape);

  it('accepts exactly 2^24 and refuses 2^24 + 1 elements', () => {
    expect(MAX_GPU_ELEMENTS).toBe(16777216);
    expect(checkGpuSize([1, 1, 4096, 4096], 'x')).toBe(2 ** 24);
    expect(() => checkGpuSize([2 ** 24 + 1], 'x')).toThrow(/over the limit of 2\^24 = 16777216/);
  });

  it('a conv input over the limit: the error names the shape, the limit and a batch that fits', () => {
    const x = fake([33, 16, 192, 168]); // 17,031,168 elements
    const w = fake([16, 16, 3, 3]);
    let msg = '';
    try {
      runKernel('Conv2D', [x, w], { stride: 1, padding: 1 });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/\[33, 16, 192, 168\]/);
    expect(msg).toMatch(/17031168 elements/);
    expect(msg).toMatch(/2\^24 = 16777216/);
    expect(msg).toMatch(/smaller batch \(at most 32/);
  });

  it('an output over the limit is refused too (upsampling [1, 1, 2049, 2049] → 16,793,604 elements)', () => {
    expect(() => runKernel('UpsampleNearest2x', [fake([1, 1, 2049, 2049])])).toThrow(
      /UpsampleNearest2x output of shape \[1, 1, 4098, 4098\].*2\^24/,
    );
    expect(() =>
      runKernel('Conv2DBackpropInput', [fake([1, 1, 4097, 4096]), fake([1, 1, 1, 1])], {
        stride: 1,
        padding: 0,
        xShape: [1, 1, 4097, 4096],
      }),
    ).toThrow(/2\^24/);
  });

  it('upload refuses a host tensor over the limit', () => {
    expect(() => backend.upload(new Tensor(new Float32Array(2 ** 24 + 1), [2 ** 24 + 1]))).toThrow(
      /upload of shape \[16777217\].*2\^24/,
    );
  });
});
