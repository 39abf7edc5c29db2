/**
 * The gpu kernels against float64 references, as a reusable suite: run in GPU.js's cpu mode by
 * kernels.test.ts (everywhere), and in webgpu mode by webgpu.test.ts where a WebGPU adapter is available.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../../src/autograd/tensor.js';
import { runKernel } from '../../../src/autograd/kernel.js';
import { createGpuBackend, type GpuBackend } from '../../../src/kernels/gpu/backend.js';
import {
  batchNormBackwardRef,
  batchNormRef,
  channelSumRef,
  concatRef,
  conv2dBackFilterRef,
  conv2dBackInputRef,
  conv2dRef,
  dot,
  expectClose,
  outSize,
  randomF32,
  rng,
  type S4,
  size,
  upsampleRef,
} from './_reference.js';

/**
 * The backend the cpu-side test files use: GPU.js's cpu mode, or — with SIZESEG_GPU_TEST_MODE=webgpu, for
 * checking the WGSL path on a machine whose only WebGPU adapter is a software one — webgpu mode with the
 * explicit software-adapter opt-in.
 */
export const TEST_MODE: 'cpu' | 'webgpu' = process.env.SIZESEG_GPU_TEST_MODE === 'webgpu' ? 'webgpu' : 'cpu';

export async function openTestBackend(): Promise<GpuBackend> {
  const b = createGpuBackend({ mode: TEST_MODE, allowSoftwareAdapter: TEST_MODE === 'webgpu' });
  await b.init();
  return b;
}

export interface ConvCase {
  xs: S4;
  ws: S4;
  s: number;
  p: number;
}

export const FIXED_CONV_CASES: ConvCase[] = [
  { xs: [1, 1, 5, 5], ws: [1, 1, 3, 3], s: 1, p: 0 }, // batch 1, single channel
  { xs: [2, 3, 7, 5], ws: [4, 3, 3, 3], s: 1, p: 1 }, // odd, non-square
  { xs: [2, 3, 7, 5], ws: [4, 3, 3, 3], s: 2, p: 1 }, // stride 2
  { xs: [3, 2, 6, 9], ws: [5, 2, 1, 1], s: 1, p: 0 }, // 1×1
  { xs: [1, 4, 9, 6], ws: [3, 4, 1, 1], s: 2, p: 1 }, // 1×1, stride 2, padding 1 (padded border rows)
  { xs: [2, 2, 8, 7], ws: [3, 2, 3, 3], s: 2, p: 0 }, // stride 2, no padding, even/odd
  { xs: [1, 3, 5, 4], ws: [2, 3, 2, 3], s: 1, p: 1 }, // non-square kernel
];

export function randomConvCases(seed: number, count: number): ConvCase[] {
  const r = rng(seed);
  const pick = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const cases: ConvCase[] = [];
  while (cases.length < count) {
    const k = r() < 0.5 ? 1 : 3;
    const c: ConvCase = {
      xs: [pick(1, 3), pick(1, 4), pick(3, 9), pick(3, 9)],
      ws: [pick(1, 4), 0, k, k],
      s: pick(1, 2),
      p: pick(0, 1),
    };
    c.ws[1] = c.xs[1];
    if (outSize(c.xs[2], k, c.s, c.p) >= 1 && outSize(c.xs[3], k, c.s, c.p) >= 1) cases.push(c);
  }
  return cases;
}

const fmt = (c: ConvCase) => `x [${c.xs.join(',')}] w [${c.ws.join(',')}] s${c.s} p${c.p}`;

/** Tolerance for float32 kernels against float64 references (relative to the largest reference value). */
export const TOL = 2e-5;

export function gpuKernelSuite(label: string, open: () => Promise<GpuBackend>, cases: ConvCase[]): void {
  describe(label, () => {
    let backend: GpuBackend;
    beforeAll(async () => {
      backend = await open();
    });
    afterAll(async () => {
      await backend?.destroy();
    });
    const up = (a: Float32Array, shape: readonly number[]) => backend.upload(new Tensor(a, shape));
    const read = async (t: Tensor | undefined) => {
      expect(t).toBeDefined();
      return (await t!.data()) as Float32Array;
    };

    it.each(cases.map((c) => [fmt(c), c] as const))('conv2d forward and its three gradients: %s', async (_, c) => {
      const r = rng(size(c.xs) * 31 + size(c.ws));
      const x = randomF32(size(c.xs), r),
        w = randomF32(size(c.ws), r),
        b = randomF32(c.ws[0], r);
      const attrs = { stride: c.s, padding: c.p };
      const xt = up(x, c.xs),
        wt = up(w, c.ws),
        bt = up(b, [c.ws[0]]);

      const ref = conv2dRef(x, c.xs, w, c.ws, b, c.s, c.p);
      const [y] = runKernel('Conv2D', [xt, wt, bt], attrs);
      expect(y!.shape).toEqual(ref.ys);
      expectClose(await read(y), ref.y, TOL, 'Conv2D');
      const ref0 = conv2dRef(x, c.xs, w, c.ws, null, c.s, c.p);
      const [y0] = runKernel('Conv2D', [xt, wt], attrs);
      expectClose(await read(y0), ref0.y, TOL, 'Conv2D without bias');

      const dy = randomF32(size(ref.ys), r);
      const dyt = up(dy, ref.ys);
      const [dx] = runKernel('Conv2DBackpropInput', [dyt, wt], { ...attrs, xShape: c.xs });
      expect(dx!.shape).toEqual(c.xs);
      const dxv = await read(dx);
      expectClose(dxv, conv2dBackInputRef(dy, w, c.xs, c.ws, c.s, c.p), TOL, 'Conv2DBackpropInput');
      const [dw] = runKernel('Conv2DBackpropFilter', [dyt, xt], { ...attrs, wShape: c.ws });
      expect(dw!.shape).toEqual(c.ws);
      const dwv = await read(dw);
      expectClose(dwv, conv2dBackFilterRef(dy, x, c.xs, c.ws, c.s, c.p), TOL, 'Conv2DBackpropFilter');
      const [db] = runKernel('Conv2DBackpropBias', [dyt]);
      expect(db!.shape).toEqual([c.ws[0]]);
      const dbv = await read(db);
      expectClose(dbv, channelSumRef(dy, ref.ys), TOL, 'Conv2DBackpropBias');

      // adjoint identities in float64: <conv(x), dy> = <x, convᵀ(dy)> = <w, dW(dy, x)>, <bias part, dy> = <b, db>
      const lhs = dot(ref0.y, dy);
      const scale = Math.sqrt(dot(ref0.y, ref0.y) * dot(dy, dy)) + 1e-12;
      expect(Math.abs(lhs - dot(x, dxv)) / scale).toBeLessThan(1e-5);
      expect(Math.abs(lhs - dot(w, dwv)) / scale).toBeLessThan(1e-5);
      const biasPart = Float64Array.from(ref.y, (v, i) => v - ref0.y[i]!);
      expect(
        Math.abs(dot(biasPart, dy) - dot(b, dbv)) / (Math.sqrt(dot(biasPart, biasPart) * dot(dy, dy)) + 1e-12),
      ).toBeLessThan(1e-5);
    });

    it.each([
      ['training, odd sizes', [2, 3, 5, 7] as S4, true],
      ['training, batch 1', [1, 4, 3, 5] as S4, true],
      ['eval', [2, 3, 4, 3] as S4, false],
    ] as const)('batch norm forward (%s) and running statistics', async (_, s, training) => {
      const r = rng(size(s) + (training ? 1 : 2));
      const C = s[1];
      const x = randomF32(size(s), r, 2, 0.5),
        gamma = randomF32(C, r, 0.5, 1),
        beta = randomF32(C, r);
      const rm = randomF32(C, r, 0.1),
        rv = randomF32(C, r, 0.2, 1);
      const rmt = up(rm, [C]),
        rvt = up(rv, [C]);
      const momentum = 0.1,
        eps = 1e-5;
      const ref = batchNormRef(x, s, gamma, beta, rm, rv, training, momentum, eps);
      const [y, mean, invStd] = runKernel('BatchNorm2D', [up(x, s), up(gamma, [C]), up(beta, [C]), rmt, rvt], {
        training,
        momentum,
        eps,
      });
      expect(y!.shape).toEqual(s);
      expect(mean!.shape).toEqual([C]);
      expectClose(await read(y), ref.y, 1e-4, 'BatchNorm2D out');
      expectClose(await read(mean), ref.mean, 1e-5, 'BatchNorm2D mean');
      expectClose(await read(invStd), ref.invStd, 1e-4, 'BatchNorm2D invStd');
      // in place, as on the cpu backend (eval: unchanged)
      expectClose(await read(rmt), ref.runningMean, 1e-5, 'running mean');
      expectClose(await read(rvt), ref.runningVar, 1e-5, 'running var');
    });

    it('batch norm backward: vs the analytic reference, which is checked against finite differences', async () => {
      const s: S4 = [2, 3, 4, 5];
      const C = s[1];
      const r = rng(77);
      const x = randomF32(size(s), r, 1.5, 0.3),
        gamma = randomF32(C, r, 0.5, 1),
        dy = randomF32(size(s), r);
      const eps = 1e-5;
      const ref = batchNormBackwardRef(dy, x, s, gamma, eps);
      // the reference itself, against central differences of L(x, gamma, beta) = <BN(x), dy> in float64
      const loss = (xx: ArrayLike<number>, gg: ArrayLike<number>, bb: ArrayLike<number>) =>
        dot(batchNormRef(xx, s, gg, bb, new Float64Array(C), new Float64Array(C), true, 0.1, eps).y, dy);
      const h = 1e-6;
      const beta0 = new Float64Array(C);
      for (const k of [0, 7, 23, 59, 119]) {
        const xp = Float64Array.from(x),
          xm = Float64Array.from(x);
        xp[k]! += h;
        xm[k]! -= h;
        expect(Math.abs((loss(xp, gamma, beta0) - loss(xm, gamma, beta0)) / (2 * h) - ref.dx[k]!)).toBeLessThan(1e-6);
      }
      for (let c = 0; c < C; c++) {
        const gp = Float64Array.from(gamma),
          gm = Float64Array.from(gamma);
        gp[c]! += h;
        gm[c]! -= h;
        expect(Math.abs((loss(x, gp, beta0) - loss(x, gm, beta0)) / (2 * h) - ref.dgamma[c]!)).toBeLessThan(1e-6);
        const bp = Float64Array.from(beta0),
          bm = Float64Array.from(beta0);
        bp[c]! += h;
        bm[c]! -= h;
        expect(Math.abs((loss(x, gamma, bp) - loss(x, gamma, bm)) / (2 * h) - ref.dbeta[c]!)).toBeLessThan(1e-6);
      }
      // the kernel, with mean/invStd produced by the forward kernel as autograd does
      const xt = up(x, s),
        gt = up(gamma, [C]);
      const [, mean, invStd] = runKernel(
        'BatchNorm2D',
        [xt, gt, up(new Float32Array(C), [C]), up(new Float32Array(C), [C]), up(new Float32Array(C).fill(1), [C])],
        {
          training: true,
          momentum: 0.1,
          eps,
        },
      );
      const [dx, dgamma, dbeta] = runKernel('BatchNorm2DBackward', [up(dy, s), xt, gt, mean!, invStd!]);
      expect(dx!.shape).toEqual(s);
      expectClose(await read(dx), ref.dx, 1e-4, 'BatchNorm2DBackward dx');
      expectClose(await read(dgamma), ref.dgamma, 1e-4, 'BatchNorm2DBackward dgamma');
      expectClose(await read(dbeta), ref.dbeta, 1e-5, 'BatchNorm2DBackward dbeta');
    });

    it.each([[[1, 1, 3, 5]], [[2, 3, 4, 3]]] as [S4][])('nearest ×2 upsampling %j and its adjoint', async (s) => {
      const r = rng(size(s));
      const x = randomF32(size(s), r);
      const [y] = runKernel('UpsampleNearest2x', [up(x, s)]);
      const ys: S4 = [s[0], s[1], 2 * s[2], 2 * s[3]];
      expect(y!.shape).toEqual(ys);
      const yv = await read(y);
      expectClose(yv, upsampleRef(x, s), 0, 'UpsampleNearest2x');
      const dy = randomF32(size(ys), r);
      const [dx] = runKernel('UpsampleNearest2xBackward', [up(dy, ys)]);
      expect(dx!.shape).toEqual(s);
      const dxv = await read(dx);
      expect(Math.abs(dot(yv, dy) - dot(x, dxv))).toBeLessThan(1e-4);
      const want = new Float64Array(size(s));
      for (let nc = 0; nc < s[0] * s[1]; nc++)
        for (let h = 0; h < 2 * s[2]; h++)
          for (let w = 0; w < 2 * s[3]; w++)
            want[(nc * s[2] + (h >> 1)) * s[3] + (w >> 1)]! += dy[(nc * 2 * s[2] + h) * 2 * s[3] + w]!;
      expectClose(dxv, want, 1e-6, 'UpsampleNearest2xBackward');
    });

    it('relu, relu backward, add, mul', async () => {
      const s: S4 = [2, 3, 5, 3];
      const r = rng(5);
      const a = randomF32(size(s), r),
        b = randomF32(size(s), r);
      const at = up(a, s),
        bt = up(b, s);
      const [relu] = runKernel('Relu', [at]);
      expectClose(
        await read(relu),
        Array.from(a, (v) => Math.max(v, 0)),
        0,
        'Relu',
      );
      const [rb] = runKernel('ReluBackward', [bt, at]);
      expectClose(
        await read(rb),
        Array.from(a, (v, i) => (v > 0 ? b[i]! : 0)),
        0,
        'ReluBackward',
      );
      const [sum] = runKernel('Add', [at, bt]);
      expectClose(
        await read(sum),
        Array.from(a, (v, i) => v + b[i]!),
        1e-7,
        'Add',
      );
      const [prod] = runKernel('Mul', [at, bt]);
      expectClose(
        await read(prod),
        Array.from(a, (v, i) => v * b[i]!),
        1e-7,
        'Mul',
      );
      expect(() => runKernel('Add', [at, up(b.subarray(0, 30), [2, 3, 5, 1])])).toThrow(/equal shapes/);
    });

    it('concat on channels (2 and 3 inputs)', async () => {
      const r = rng(9);
      const shapes: S4[] = [
        [2, 1, 3, 5],
        [2, 3, 3, 5],
        [2, 2, 3, 5],
      ];
      const parts = shapes.map((s) => ({ a: randomF32(size(s), r), s }));
      for (const k of [2, 3]) {
        const use = parts.slice(0, k);
        const ref = concatRef(use);
        const [y] = runKernel(
          'ConcatChannels',
          use.map((p) => up(p.a, p.s)),
        );
        expect(y!.shape).toEqual(ref.ys);
        expectClose(await read(y), ref.y, 0, `ConcatChannels ×${k}`);
      }
      expect(() =>
        runKernel('ConcatChannels', [up(parts[0]!.a, shapes[0]!), up(new Float32Array(6), [1, 1, 2, 3])]),
      ).toThrow(/N, H, W must match/);
    });
  });
}
