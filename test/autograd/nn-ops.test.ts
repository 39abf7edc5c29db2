/**
 * The differentiable NN ops (conv2d, batchNorm2d, upsampleNearest2x) through the kernel registry:
 * values against naive float64 loops written here, gradients against float64 finite differences.
 */
import { describe, expect, it } from 'vitest';
import { Rng, gradcheck, randn, tensor, zeros, ones, type Tensor } from '../../src/autograd/index.js';
import { conv2d } from '../../src/autograd/ops/conv2d.js';
import { batchNorm2d } from '../../src/autograd/ops/batchNorm2d.js';
import { upsampleNearest2x } from '../../src/autograd/ops/upsample.js';
import { listKernels } from '../../src/kernels/registry.js';

const f64 = { dtype: 'float64' as const };
const rng = new Rng(99);
const r64 = (shape: number[]) => randn(shape, rng, f64);

function naiveConv(x: Tensor, w: Tensor, b: Tensor | null, stride: number, pad: number): number[] {
  const [N, C, H, W] = x.shape as number[] as [number, number, number, number];
  const [O, , KH, KW] = w.shape as number[] as [number, number, number, number];
  const xv = x.dataSync(),
    wv = w.dataSync(),
    bv = b?.dataSync();
  const HO = Math.floor((H + 2 * pad - KH) / stride) + 1,
    WO = Math.floor((W + 2 * pad - KW) / stride) + 1;
  const out: number[] = [];
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < HO; i++)
        for (let j = 0; j < WO; j++) {
          let s = bv ? bv[o]! : 0;
          for (let c = 0; c < C; c++)
            for (let u = 0; u < KH; u++)
              for (let v = 0; v < KW; v++) {
                const r = i * stride - pad + u,
                  q = j * stride - pad + v;
                if (r >= 0 && r < H && q >= 0 && q < W)
                  s += xv[((n * C + c) * H + r) * W + q]! * wv[((o * C + c) * KH + u) * KW + v]!;
              }
          out.push(s);
        }
  return out;
}

describe('conv2d op', () => {
  for (const [stride, pad, k] of [
    [1, 1, 3],
    [2, 1, 3],
    [1, 0, 1],
    [2, 0, 1],
    [2, 0, 3],
  ] as const) {
    it(`values and gradients, stride ${stride} padding ${pad} kernel ${k}×${k}`, () => {
      const x = r64([2, 3, 7, 5]);
      const w = r64([4, 3, k, k]);
      const b = r64([4]);
      const out = conv2d(x, w, b, { stride, padding: pad });
      const ref = naiveConv(x, w, b, stride, pad);
      const got = out.dataSync();
      ref.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(1e-12 * Math.max(1, Math.abs(v))));
      expect(gradcheck((a, ww, bb) => conv2d(a!, ww!, bb, { stride, padding: pad }), [x, w, b]).ok).toBe(true);
    });
  }

  it('float32 path agrees with the float64 reference', () => {
    const x = r64([1, 2, 6, 9]);
    const w = r64([3, 2, 3, 3]);
    const got = conv2d(x.to('float32'), w.to('float32'), null, { padding: 1 }).dataSync();
    naiveConv(x, w, null, 1, 1).forEach((v, i) =>
      expect(Math.abs(got[i]! - v)).toBeLessThan(1e-5 * Math.max(1, Math.abs(v))),
    );
  });

  it('names the problem on bad shapes', () => {
    expect(() => conv2d(zeros([1, 2, 4, 4]), zeros([3, 1, 3, 3]))).toThrow(/x has 2 channels but the weight expects 1/);
    expect(() => conv2d(zeros([2, 4, 4]), zeros([3, 1, 3, 3]))).toThrow(/NCHW/);
    expect(() => conv2d(zeros([1, 1, 2, 2]), zeros([1, 1, 3, 3]))).toThrow(/kernel is larger/);
    expect(() => conv2d(zeros([1, 1, 4, 4]), zeros([2, 1, 3, 3]), zeros([3]))).toThrow(/bias must have shape \[2\]/);
    // options passed where the bias goes (PyTorch keyword habit): a message that says where they belong
    expect(() => conv2d(zeros([1, 1, 4, 4]), zeros([2, 1, 3, 3]), { padding: 1 } as never)).toThrow(
      /third argument is the bias.*conv2d\(x, weight, null, \{ padding: 1 \}\)/,
    );
  });
});

describe('batchNorm2d op', () => {
  it('training mode: normalises with batch statistics, updates running stats, gradients check', () => {
    const x = r64([3, 2, 4, 3]);
    const gamma = r64([2]),
      beta = r64([2]);
    const rm = zeros([2], f64),
      rv = ones([2], f64);
    const out = batchNorm2d(x, gamma, beta, {
      training: true,
      runningMean: rm,
      runningVar: rv,
      momentum: 0.1,
      eps: 1e-5,
    });
    const xv = x.dataSync(),
      ov = out.dataSync(),
      g = gamma.dataSync(),
      bt = beta.dataSync();
    for (let c = 0; c < 2; c++) {
      const vals: number[] = [];
      for (let n = 0; n < 3; n++) for (let i = 0; i < 12; i++) vals.push(xv[(n * 2 + c) * 12 + i]!);
      const mu = vals.reduce((s, v) => s + v, 0) / vals.length;
      const varB = vals.reduce((s, v) => s + (v - mu) ** 2, 0) / vals.length;
      for (let n = 0; n < 3; n++)
        for (let i = 0; i < 12; i++) {
          const k = (n * 2 + c) * 12 + i;
          expect(ov[k]).toBeCloseTo((g[c]! * (xv[k]! - mu)) / Math.sqrt(varB + 1e-5) + bt[c]!, 10);
        }
      expect(rm.dataSync()[c]).toBeCloseTo(0.1 * mu, 12);
      expect(rv.dataSync()[c]).toBeCloseTo(0.9 + (0.1 * varB * 36) / 35, 12);
    }
    const fresh = () => ({ training: true, runningMean: zeros([2], f64), runningVar: ones([2], f64) });
    expect(gradcheck((a, gm, bb) => batchNorm2d(a!, gm!, bb!, fresh()), [x, gamma, beta]).ok).toBe(true);
  });

  it('eval mode uses running statistics and its gradients check', () => {
    const x = r64([2, 3, 2, 2]);
    const rm = r64([3]),
      rv = r64([3]).abs().add(0.5);
    const gamma = r64([3]),
      beta = r64([3]);
    const out = batchNorm2d(x, gamma, beta, { training: false, runningMean: rm, runningVar: rv }).dataSync();
    const xv = x.dataSync();
    for (let k = 0; k < xv.length; k++) {
      const c = Math.floor(k / 4) % 3;
      expect(out[k]).toBeCloseTo(
        (gamma.dataSync()[c]! * (xv[k]! - rm.dataSync()[c]!)) / Math.sqrt(rv.dataSync()[c]! + 1e-5) +
          beta.dataSync()[c]!,
        10,
      );
    }
    expect(
      gradcheck(
        (a, gm, bb) => batchNorm2d(a!, gm!, bb!, { training: false, runningMean: rm, runningVar: rv }),
        [x, gamma, beta],
      ).ok,
    ).toBe(true);
  });
});

describe('upsampleNearest2x op', () => {
  it('repeats each pixel into a 2×2 block; gradient sums the block', () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [1, 1, 2, 3], f64);
    expect(upsampleNearest2x(x).toArray()).toEqual([
      [
        [
          [1, 1, 2, 2, 3, 3],
          [1, 1, 2, 2, 3, 3],
          [4, 4, 5, 5, 6, 6],
          [4, 4, 5, 5, 6, 6],
        ],
      ],
    ]);
    expect(gradcheck((a) => upsampleNearest2x(a!), [r64([2, 3, 3, 2])]).ok).toBe(true);
  });
});

it('the js reference backend registers every kernel the ops call (fused kernels are optional)', () => {
  const names = listKernels('js')
    .map((k) => k.kernelName)
    .sort();
  expect(names).toEqual([
    'AdamUpdate',
    'Add',
    'BatchMatMul',
    'BatchNorm2D',
    'BatchNorm2DBackward',
    'BatchNorm2DEvalBackward',
    'Conv2D',
    'Conv2DBackpropBias',
    'Conv2DBackpropFilter',
    'Conv2DBackpropInput',
    'Relu',
    'ReluBackward',
    'SgdUpdate',
    'UpsampleNearest2x',
    'UpsampleNearest2xBackward',
  ]);
});
