/**
 * A residual block's output, relu(bn(x) + skip) and relu(bn(x) + bn'(skip)), as the fused op
 * batchNorm2dAddRelu: values and gradients against float64 nested loops (test/kernels/gpu/_reference.ts),
 * and bit for bit against the composition addRelu(batchNorm2d(x), skip or batchNorm2d(skip)) — fused on
 * 'wasm', composed on 'js' (which has no fused kernel) — on 1 and 2 threads, in and outside a step arena,
 * in training and eval mode; the float64 op against finite differences.
 */
import { describe, expect, it } from 'vitest';
import { Rng, Tensor, gradcheck, ones, openStepArena, randn, zeros } from '../../../src/index.js';
import { batchNorm2d, batchNorm2dAddRelu, type BatchNorm2dOptions } from '../../../src/autograd/ops/batchNorm2d.js';
import { addRelu } from '../../../src/autograd/ops/elementwise.js';
import { cpuKernels, hasKernel, setCpuKernels } from '../../../src/kernels/engine.js';
import { batchNorm2dAddReluWasm } from '../../../src/kernels/wasm/batchNorm2d.js';
import { wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import { getNumThreads, setNumThreads } from '../../../src/kernels/wasm/threads.js';
import { batchNormBackwardRef, batchNormRef, expectClose, randomF32, rng, type S4 } from '../gpu/_reference.js';
import { skipNote } from '../../_helpers/skipNote.js';

const noSimd = skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later');
const bits = (a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe.runIf(wasmSimdAvailable())('fused batch norm + add + ReLU (a residual block’s output)', noSimd, () => {
  it('the kernel equals float64 loops: output, statistics and running statistics of both batch norms', () => {
    for (const s of [
      [2, 3, 5, 7],
      [6, 4, 3, 3],
      [32, 16, 6, 4],
    ] as S4[]) {
      const [N, C, H, W] = s;
      const r = rng(N * 10 + C);
      const n = N * C * H * W;
      const x = randomF32(n, r, 2, 0.5),
        skip = randomF32(n, r, 1.5, -0.2);
      const [gamma, beta, sGamma, sBeta] = [
        randomF32(C, r, 1, 1),
        randomF32(C, r),
        randomF32(C, r, 1, 1),
        randomF32(C, r),
      ];
      const [rm, rv, srm, srv] = [randomF32(C, r), randomF32(C, r, 0.5, 1), randomF32(C, r), randomF32(C, r, 0.5, 1)];
      for (const training of [true, false]) {
        for (const projection of [false, true]) {
          const opts = (m: Float32Array, v: Float32Array) => ({
            training,
            eps: 1e-5,
            momentum: 0.1,
            runningMean: m.slice(),
            runningVar: v.slice(),
          });
          const main = opts(rm, rv),
            side = opts(srm, srv);
          const got = batchNorm2dAddReluWasm(
            x,
            s,
            gamma,
            beta,
            main,
            skip,
            projection ? { gamma: sGamma, beta: sBeta, opts: side } : null,
          );
          const a = batchNormRef(x, s, gamma, beta, rm, rv, training, 0.1, 1e-5);
          const b = projection ? batchNormRef(skip, s, sGamma, sBeta, srm, srv, training, 0.1, 1e-5) : null;
          const want = a.y.map((v, i) => Math.max(v + (b ? b.y[i]! : skip[i]!), 0));
          const what = `${s.join('×')} ${training ? 'training' : 'eval'}${projection ? ', projection' : ''}`;
          expectClose(got.out, want, 4e-6, `out ${what}`);
          expectClose(got.mean, a.mean, 1e-6, `mean ${what}`);
          expectClose(got.invStd, a.invStd, 1e-6, `invStd ${what}`);
          expectClose(main.runningMean, a.runningMean, 1e-6, `running mean ${what}`);
          expectClose(main.runningVar, a.runningVar, 1e-6, `running var ${what}`);
          if (b) {
            expectClose(got.skipMean!, b.mean, 1e-6, `skip mean ${what}`);
            expectClose(got.skipInvStd!, b.invStd, 1e-6, `skip invStd ${what}`);
            expectClose(side.runningMean, b.runningMean, 1e-6, `skip running mean ${what}`);
            expectClose(side.runningVar, b.runningVar, 1e-6, `skip running var ${what}`);
          } else expect(got.skipMean).toBeNull();
        }
      }
    }
  });

  it('the op’s gradients equal float64 loops (the mask is the output’s, as the ReLU’s backward)', () => {
    const s: S4 = [4, 3, 6, 5];
    const [N, C, H, W] = s;
    const r = rng(77);
    const n = N * C * H * W;
    const [x0, skip0, dy0] = [randomF32(n, r, 2), randomF32(n, r), randomF32(n, r)];
    const [g0, b0, sg0, sb0] = [randomF32(C, r, 1, 1), randomF32(C, r), randomF32(C, r, 1, 1), randomF32(C, r)];
    const t = (v: Float32Array, shape: number[]) => new Tensor(v.slice(), shape).requiresGrad_();
    const [x, skip, gamma, beta, sGamma, sBeta] = [
      t(x0, s),
      t(skip0, s),
      t(g0, [C]),
      t(b0, [C]),
      t(sg0, [C]),
      t(sb0, [C]),
    ];
    const opts = (): BatchNorm2dOptions => ({ training: true, runningMean: zeros([C]), runningVar: ones([C]) });
    const y = batchNorm2dAddRelu(x, gamma, beta, opts(), { x: skip, gamma: sGamma, beta: sBeta, options: opts() });
    y.backward(new Tensor(dy0.slice(), s));
    const out = y.values();
    const masked = dy0.map((g, i) => (out[i]! > 0 ? g : 0));
    const a = batchNormBackwardRef(masked, x0, s, g0, 1e-5),
      b = batchNormBackwardRef(masked, skip0, s, sg0, 1e-5);
    expectClose(x.grad!.values(), a.dx, 2e-5, 'dx');
    expectClose(gamma.grad!.values(), a.dgamma, 2e-6, 'dgamma');
    expectClose(beta.grad!.values(), a.dbeta, 2e-6, 'dbeta');
    expectClose(skip.grad!.values(), b.dx, 2e-5, 'dskip');
    expectClose(sGamma.grad!.values(), b.dgamma, 2e-6, 'skip dgamma');
    expectClose(sBeta.grad!.values(), b.dbeta, 2e-6, 'skip dbeta');
  });

  it("equals addRelu(batchNorm2d(x), skip or batchNorm2d(skip)) bit for bit — fused on 'wasm' (1 and 2 threads, in and outside a step arena), composed on 'js'", () => {
    const saved = { kernels: cpuKernels(), threads: getNumThreads() };
    // large enough for the threaded batch-norm passes (≥ 2^16 elements)
    const s = [16, 8, 24, 32];
    const C = s[1]!,
      n = 16 * 8 * 24 * 32;
    const [x0, skip0, dy0] = [randomF32(n, rng(1), 2), randomF32(n, rng(2)), randomF32(n, rng(3))];
    const [g0, b0, sg0, sb0] = [
      randomF32(C, rng(4), 1, 1),
      randomF32(C, rng(5)),
      randomF32(C, rng(6), 1, 1),
      randomF32(C, rng(7)),
    ];
    const run = (fused: boolean, projection: boolean, training: boolean) => {
      const t = (v: Float32Array, shape: number[]) => new Tensor(v.slice(), shape).requiresGrad_();
      const [x, skip, gamma, beta, sGamma, sBeta] = [
        t(x0, s),
        t(skip0, s),
        t(g0, [C]),
        t(b0, [C]),
        t(sg0, [C]),
        t(sb0, [C]),
      ];
      const stats = [zeros([C]), ones([C]).mul(1.5), zeros([C]), ones([C]).mul(0.5)].map((v) => v.detach());
      const main = { training, runningMean: stats[0]!, runningVar: stats[1]! };
      const side = { training, runningMean: stats[2]!, runningVar: stats[3]! };
      const y = fused
        ? batchNorm2dAddRelu(
            x,
            gamma,
            beta,
            main,
            projection ? { x: skip, gamma: sGamma, beta: sBeta, options: side } : skip,
          )
        : addRelu(batchNorm2d(x, gamma, beta, main), projection ? batchNorm2d(skip, sGamma, sBeta, side) : skip);
      y.backward(new Tensor(dy0.slice(), s));
      const grads = [x, skip, gamma, beta, ...(projection ? [sGamma, sBeta] : [])].map((p) => p.grad!.values().slice());
      return [y.values().slice(), ...grads, ...stats.map((v) => v.values().slice())] as Float32Array[];
    };
    const probe = [new Tensor(x0, s), ones([C]), zeros([C]), zeros([C]), ones([C]), new Tensor(skip0, s)];
    try {
      setCpuKernels('js');
      expect(hasKernel('BatchNorm2DAddRelu', probe)).toBe(false);
      setCpuKernels('wasm');
      expect(hasKernel('BatchNorm2DAddRelu', probe)).toBe(true);
      for (const projection of [false, true]) {
        for (const training of [true, false]) {
          // 'js' composes (its batch norm sums in float64: other bits than 'wasm', so compared with itself)
          setCpuKernels('js');
          const js = run(false, projection, training);
          run(true, projection, training).forEach((v, i) => expect(bits(v).equals(bits(js[i]!))).toBe(true));
          setCpuKernels('wasm');
          const want = run(false, projection, training);
          const runs: Float32Array[][] = [];
          for (const threads of [1, 2]) {
            setNumThreads(threads);
            runs.push(run(true, projection, training), run(false, projection, training));
            const a = openStepArena();
            try {
              runs.push(run(true, projection, training));
            } finally {
              a.close();
            }
          }
          for (const got of runs) got.forEach((v, i) => expect(bits(v).equals(bits(want[i]!))).toBe(true));
        }
      }
    } finally {
      setCpuKernels(saved.kernels);
      setNumThreads(saved.threads);
    }
  });

  it('the float64 op (the composition) equals finite differences; unequal shapes compose and say what is wrong', () => {
    const r = new Rng(8);
    const f64 = { dtype: 'float64' as const };
    const opts = (): BatchNorm2dOptions => ({
      training: true,
      runningMean: zeros([3], f64),
      runningVar: ones([3], f64),
    });
    const [x, skip] = [randn([2, 3, 3, 2], r, f64), randn([2, 3, 3, 2], r, f64)];
    const [gamma, beta] = [randn([3], r, f64), randn([3], r, f64)];
    expect(gradcheck((a, s, g, b) => batchNorm2dAddRelu(a!, g!, b!, opts(), s!), [x, skip, gamma, beta]).ok).toBe(true);
    expect(
      gradcheck(
        (a, s, g, b) => batchNorm2dAddRelu(a!, g!, b!, opts(), { x: s!, gamma: g!, beta: b!, options: opts() }),
        [x, skip, gamma, beta],
      ).ok,
    ).toBe(true);
    const opts32 = { training: true, runningMean: zeros([3]), runningVar: ones([3]) };
    expect(() =>
      batchNorm2dAddRelu(randn([2, 3, 3, 2], r), ones([3]), zeros([3]), opts32, randn([2, 3, 3, 3], r)),
    ).toThrow(/add: .*broadcast|broadcast/);
  });
});
