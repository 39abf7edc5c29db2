/**
 * The backward kernels added for training on the device: 'SliceChannels' (the backward of channel
 * concatenation) and 'BatchNorm2DEvalBackward' (eval-mode batch norm), against float64 references:
 * plain index loops, and central differences of the float64 batch-norm forward (`batchNormRef`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../../src/autograd/tensor.js';
import type { GpuBackend } from '../../../src/kernels/gpu/backend.js';
import { runKernel } from '../../../src/autograd/kernel.js';
import { batchNormRef, concatRef, dot, expectClose, randomF32, rng, type S4, size } from './_reference.js';
import { openTestBackend, TEST_MODE } from './_suite.js';

describe(`gpu backward kernels for training, GPU.js ${TEST_MODE} mode`, () => {
  let backend: GpuBackend;
  beforeAll(async () => {
    backend = await openTestBackend();
  });
  afterAll(() => backend.destroy());
  const up = (a: Float32Array, shape: readonly number[]) => backend.upload(new Tensor(a, shape));

  it('SliceChannels cuts every channel range out of an NCHW value, and undoes ConcatChannels', async () => {
    const s: S4 = [2, 5, 3, 4];
    const x = randomF32(size(s), rng(3));
    const xt = up(x, s);
    for (const [start, channels] of [
      [0, 5],
      [0, 2],
      [2, 3],
      [4, 1],
    ] as const) {
      const [y] = runKernel('SliceChannels', [xt], { start, channels });
      expect(y!.shape).toEqual([2, channels, 3, 4]);
      const want = new Float64Array(2 * channels * 12);
      for (let n = 0; n < 2; n++)
        for (let c = 0; c < channels; c++)
          for (let p = 0; p < 12; p++) want[(n * channels + c) * 12 + p] = x[(n * 5 + start + c) * 12 + p]!;
      expectClose(await y!.data(), want, 0, `SliceChannels [${start}, ${start + channels})`);
    }
    // concat then slice gives back the parts
    const parts: { a: Float32Array; s: S4 }[] = [
      { a: randomF32(2 * 1 * 12, rng(4)), s: [2, 1, 3, 4] },
      { a: randomF32(2 * 3 * 12, rng(5)), s: [2, 3, 3, 4] },
    ];
    const [cat] = runKernel(
      'ConcatChannels',
      parts.map((p) => up(p.a, p.s)),
    );
    expectClose(await cat!.data(), concatRef(parts).y, 0, 'ConcatChannels');
    expectClose(
      await runKernel('SliceChannels', [cat!], { start: 1, channels: 3 })[0]!.data(),
      parts[1]!.a,
      0,
      'slice of concat',
    );
    expect(() => runKernel('SliceChannels', [xt], { start: 3, channels: 3 })).toThrow(
      /channels \[3, 6\) are not inside the 5 channels/,
    );
  });

  it('BatchNorm2DEvalBackward against central differences of the float64 eval-mode forward', async () => {
    const s: S4 = [2, 3, 4, 3];
    const C = s[1];
    const r = rng(21);
    const x = randomF32(size(s), r, 2, 0.3),
      gamma = randomF32(C, r, 0.5, 1),
      beta = randomF32(C, r),
      dy = randomF32(size(s), r);
    const rm = randomF32(C, r, 0.2),
      rv = randomF32(C, r, 0.3, 1);
    const eps = 1e-5;
    // L(x, gamma, beta) = <BN_eval(x), dy>, differentiated numerically in float64
    const loss = (xx: ArrayLike<number>, gg: ArrayLike<number>, bb: ArrayLike<number>) =>
      dot(batchNormRef(xx, s, gg, bb, rm, rv, false, 0.1, eps).y, dy);
    const h = 1e-4;
    const central = (n: number, at: (k: number, d: number) => number) =>
      Float64Array.from({ length: n }, (_, k) => (at(k, h) - at(k, -h)) / (2 * h));
    const bump = (a: Float32Array, k: number, d: number) => {
      const b = Float64Array.from(a);
      b[k]! += d;
      return b;
    };
    const dxRef = central(size(s), (k, d) => loss(bump(x, k, d), gamma, beta));
    const dgRef = central(C, (k, d) => loss(x, bump(gamma, k, d), beta));
    const dbRef = central(C, (k, d) => loss(x, gamma, bump(beta, k, d)));

    const xt = up(x, s),
      gt = up(gamma, [C]);
    const [, mean, invStd] = runKernel('BatchNorm2D', [xt, gt, up(beta, [C]), up(rm, [C]), up(rv, [C])], {
      training: false,
      momentum: 0.1,
      eps,
    });
    const [dx, dgamma, dbeta] = runKernel('BatchNorm2DEvalBackward', [up(dy, s), xt, gt, mean!, invStd!]);
    expect(dx!.shape).toEqual(s);
    expect(dgamma!.shape).toEqual([C]);
    // the loss is linear in each variable, so central differences are exact up to float64 rounding
    expectClose(await dx!.data(), dxRef, 1e-6, 'dx');
    expectClose(await dgamma!.data(), dgRef, 1e-6, 'dgamma');
    expectClose(await dbeta!.data(), dbRef, 1e-6, 'dbeta');
  });
});
