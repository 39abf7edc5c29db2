import { describe, expect, it } from 'vitest';
import { batchNorm2dBackward, batchNorm2dForward } from '../../../src/kernels/js/index.js';
import type { Shape4 } from '../../../src/kernels/js/index.js';
import { makeRng, randArray, relErr } from '../../_helpers/random.js';

type F = Float32Array | Float64Array;

/** Straightforward float64 reference of the training-mode forward. */
function refForward(x: F, [N, C, H, W]: Shape4, gamma: F, beta: F, eps: number) {
  const m = N * H * W;
  const out = new Float64Array(x.length);
  const mean = new Float64Array(C);
  const varB = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) s += x[(n * C + c) * H * W + i]!;
    mean[c] = s / m;
    let v = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) v += (x[(n * C + c) * H * W + i]! - mean[c]!) ** 2;
    varB[c] = v / m;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < H * W; i++) {
        const j = (n * C + c) * H * W + i;
        out[j] = (gamma[c]! * (x[j]! - mean[c]!)) / Math.sqrt(varB[c]! + eps) + beta[c]!;
      }
    }
  }
  return { out, mean, varB };
}

describe('batchNorm2d', () => {
  const shapes: Shape4[] = [
    [2, 3, 5, 4],
    [1, 1, 3, 7],
    [4, 16, 6, 4],
    [3, 2, 1, 1],
  ];

  for (const f32 of [false, true]) {
    it(`${f32 ? 'float32' : 'float64'} training forward matches the reference and updates running stats`, () => {
      const rng = makeRng(3);
      const tol = f32 ? 1e-5 : 1e-12;
      for (const shape of shapes) {
        const [N, C, H, W] = shape;
        const x = randArray(rng, N * C * H * W, f32, 2, 0.5);
        const gamma = randArray(rng, C, f32, 1, 1);
        const beta = randArray(rng, C, f32);
        const rm0 = randArray(rng, C, f32);
        const rv0 = randArray(rng, C, f32, 0.5, 1);
        const rm = rm0.slice();
        const rv = rv0.slice();
        const eps = 1e-5;
        const momentum = 0.1;
        const res = batchNorm2dForward(x, shape, gamma, beta, {
          training: true,
          eps,
          momentum,
          runningMean: rm,
          runningVar: rv,
        });
        expect(res.out instanceof Float32Array).toBe(f32);
        const ref = refForward(x, shape, gamma, beta, eps);
        expect(relErr(res.out, ref.out)).toBeLessThan(tol);
        expect(relErr(res.mean, ref.mean)).toBeLessThan(tol);
        const m = N * H * W;
        for (let c = 0; c < C; c++) {
          expect(res.invStd[c]!).toBeCloseTo(1 / Math.sqrt(ref.varB[c]! + eps), f32 ? 5 : 10);
          const unbiased = m > 1 ? (ref.varB[c]! * m) / (m - 1) : ref.varB[c]!;
          expect(rm[c]!).toBeCloseTo((1 - momentum) * rm0[c]! + momentum * ref.mean[c]!, f32 ? 5 : 12);
          expect(rv[c]!).toBeCloseTo((1 - momentum) * rv0[c]! + momentum * unbiased, f32 ? 5 : 12);
        }
      }
    });
  }

  it('eval mode normalises with the running statistics and leaves them unchanged', () => {
    const rng = makeRng(4);
    const shape: Shape4 = [2, 3, 4, 5];
    const x = randArray(rng, 120, false);
    const gamma = randArray(rng, 3, false);
    const beta = randArray(rng, 3, false);
    const rm = randArray(rng, 3, false);
    const rv = randArray(rng, 3, false, 0.3, 1);
    const rmCopy = rm.slice();
    const rvCopy = rv.slice();
    const { out } = batchNorm2dForward(x, shape, gamma, beta, {
      training: false,
      eps: 1e-3,
      momentum: 0.1,
      runningMean: rm,
      runningVar: rv,
    });
    expect(Array.from(rm)).toEqual(Array.from(rmCopy));
    expect(Array.from(rv)).toEqual(Array.from(rvCopy));
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 3; c++) {
        for (let i = 0; i < 20; i++) {
          const j = (n * 3 + c) * 20 + i;
          expect(out[j]!).toBeCloseTo((gamma[c]! * (x[j]! - rm[c]!)) / Math.sqrt(rv[c]! + 1e-3) + beta[c]!, 12);
        }
      }
    }
    expect(() => batchNorm2dForward(x, shape, gamma, beta, { training: false, eps: 1e-3, momentum: 0.1 })).toThrow(
      /running/,
    );
  });

  it('backward matches central finite differences of Σ out·R (float64)', () => {
    const rng = makeRng(11);
    for (const shape of [
      [2, 3, 3, 4],
      [3, 2, 1, 2],
    ] as Shape4[]) {
      const [N, C, H, W] = shape;
      const x = randArray(rng, N * C * H * W, false, 1.5, 0.3) as Float64Array;
      const gamma = randArray(rng, C, false, 0.5, 1) as Float64Array;
      const beta = randArray(rng, C, false) as Float64Array;
      const R = randArray(rng, x.length, false);
      const eps = 1e-5;
      const loss = (): number => {
        const { out } = batchNorm2dForward(x, shape, gamma, beta, { training: true, eps, momentum: 0.1 });
        let s = 0;
        for (let i = 0; i < out.length; i++) s += out[i]! * R[i]!;
        return s;
      };
      const fwd = batchNorm2dForward(x, shape, gamma, beta, { training: true, eps, momentum: 0.1 });
      const { dx, dgamma, dbeta } = batchNorm2dBackward(R, x, shape, gamma, fwd.mean, fwd.invStd);
      const h = 1e-5;
      for (const [arr, grad] of [
        [x, dx],
        [gamma, dgamma],
        [beta, dbeta],
      ] as const) {
        for (let i = 0; i < arr.length; i++) {
          const v = arr[i]!;
          arr[i] = v + h;
          const lp = loss();
          arr[i] = v - h;
          const lm = loss();
          arr[i] = v;
          const num = (lp - lm) / (2 * h);
          expect(Math.abs(num - grad[i]!)).toBeLessThan(1e-6 * Math.max(1, Math.abs(num)));
        }
      }
    }
  });

  it('float32 backward agrees with the float64 backward', () => {
    const rng = makeRng(12);
    const shape: Shape4 = [4, 5, 6, 3];
    const x64 = randArray(rng, 360, false);
    const g64 = randArray(rng, 5, false, 0.5, 1);
    const b64 = randArray(rng, 5, false);
    const dy64 = randArray(rng, 360, false);
    const x32 = Float32Array.from(x64);
    const g32 = Float32Array.from(g64);
    const dy32 = Float32Array.from(dy64);
    const f64 = batchNorm2dForward(Float64Array.from(x32), shape, Float64Array.from(g32), b64, {
      training: true,
      eps: 1e-5,
      momentum: 0.1,
    });
    const f32 = batchNorm2dForward(x32, shape, g32, Float32Array.from(b64), {
      training: true,
      eps: 1e-5,
      momentum: 0.1,
    });
    const r64 = batchNorm2dBackward(
      Float64Array.from(dy32),
      Float64Array.from(x32),
      shape,
      Float64Array.from(g32),
      f64.mean,
      f64.invStd,
    );
    const r32 = batchNorm2dBackward(dy32, x32, shape, g32, f32.mean, f32.invStd);
    expect(r32.dx instanceof Float32Array).toBe(true);
    expect(relErr(r32.dx, r64.dx)).toBeLessThan(1e-5);
    expect(relErr(r32.dgamma, r64.dgamma)).toBeLessThan(1e-5);
    expect(relErr(r32.dbeta, r64.dbeta)).toBeLessThan(1e-5);
  });

  it('rejects mismatched sizes', () => {
    const x = new Float32Array(24);
    expect(() =>
      batchNorm2dForward(x, [2, 3, 2, 2], new Float32Array(2), new Float32Array(3), {
        training: true,
        eps: 1e-5,
        momentum: 0.1,
      }),
    ).toThrow(/gamma/);
    expect(() =>
      batchNorm2dForward(x, [2, 3, 2, 3], new Float32Array(3), new Float32Array(3), {
        training: true,
        eps: 1e-5,
        momentum: 0.1,
      }),
    ).toThrow(/elements/);
  });
});
