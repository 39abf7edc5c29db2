/**
 * The kernel suite can fail: Conv2D's source with a planted error (every product scaled by 1.001 — valid code that
 * computes a wrong value) must fail the suite's own comparison (float64 reference, tolerance TOL), and must match a
 * reference with the same error, which shows that the planted source is what ran. Like the other files here it runs
 * in GPU.js's cpu mode under `npm test` and as WGSL on lavapipe under `npm run test:webgpu`
 * (SIZESEG_GPU_TEST_MODE=webgpu), where it checks that an error in a kernel source reaches the device.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Tensor } from '../../../src/autograd/tensor.js';
import { runKernel } from '../../../src/autograd/kernel.js';
import type { GpuBackend } from '../../../src/kernels/gpu/backend.js';
import { conv2dSource } from '../../../src/kernels/gpu/sources.js';
import { conv2dRef, expectClose, randomF32, rng, type S4, size } from './_reference.js';
import { openTestBackend, TEST_MODE, TOL } from './_suite.js';

const PLANT = 1.001;

// Every module of this file's graph (ops.ts included) gets the planted Conv2D source; the other sources stay.
vi.mock(import('../../../src/kernels/gpu/sources.js'), async (importOriginal) => {
  const actual = await importOriginal();
  const planted = (hasBias: boolean): string => {
    const s = actual.conv2dSource(hasBias);
    const product = 'sum += x[xr + iw] * w[wr + kw];';
    // If the source changes, this test must be updated rather than pass without a plant.
    if (!s.includes(product))
      throw new Error(`planted.test.ts: Conv2D's source no longer contains '${product}'; update the plant`);
    return s.replace(product, `sum += x[xr + iw] * w[wr + kw] * ${PLANT};`);
  };
  return { ...actual, conv2dSource: planted };
});

describe(`a planted error in Conv2D's source (GPU.js ${TEST_MODE} mode)`, () => {
  let backend: GpuBackend;
  beforeAll(async () => {
    backend = await openTestBackend();
  });
  afterAll(async () => {
    await backend?.destroy();
  });

  it('is in the source the kernels are built from', () => {
    expect(conv2dSource(true)).toContain(`* ${PLANT};`);
  });

  it("fails the suite's comparison with the float64 reference, and matches the planted reference", async () => {
    expect(backend.info().mode).toMatch(TEST_MODE === 'webgpu' ? /^webgpu$/ : /^gpujs-cpu/);
    const xs: S4 = [2, 3, 7, 5],
      ws: S4 = [4, 3, 3, 3],
      stride = 1,
      padding = 1;
    const r = rng(2026);
    const x = randomF32(size(xs), r),
      w = randomF32(size(ws), r),
      b = randomF32(ws[0], r);
    const [y] = runKernel(
      'Conv2D',
      [backend.upload(new Tensor(x, xs)), backend.upload(new Tensor(w, ws)), backend.upload(new Tensor(b, [ws[0]]))],
      { stride, padding },
    );
    const got = (await y!.data()) as Float32Array;

    const want = conv2dRef(x, xs, w, ws, b, stride, padding).y;
    expect(() => expectClose(got, want, TOL, 'Conv2D')).toThrow(/Conv2D: relative error/);
    const wPlanted = Float64Array.from(w, (v) => v * PLANT);
    expectClose(got, conv2dRef(x, xs, wPlanted, ws, b, stride, padding).y, TOL, 'Conv2D with the planted error');
  });
});
