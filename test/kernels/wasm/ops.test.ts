/**
 * The WebAssembly batch norm (fused with ReLU or not), elementwise kernels and GEMM against float64
 * nested-loop references (test/kernels/gpu/_reference.ts). Inputs are seeded, so every comparison is
 * deterministic; tolerances are relative to the reference's largest magnitude and sized for float32
 * arithmetic (a few roundings of O(1) values: ~1e-6; batch norm's backward cancels m·dy against
 * Σdy and x̂·Σdy·x̂, which loses up to ~log2(m) bits more).
 */
import { describe, expect, it } from 'vitest';
import { batchNorm2dBackwardWasm, batchNorm2dForwardWasm } from '../../../src/kernels/wasm/batchNorm2d.js';
import { elementwiseWasm } from '../../../src/kernels/wasm/elementwise.js';
import { gemmWasm } from '../../../src/kernels/wasm/gemm.js';
import { distanceTransformBatchWasm } from '../../../src/kernels/wasm/distanceTransform.js';
import { upsampleNearest2xBackwardWasm, upsampleNearest2xForwardWasm } from '../../../src/kernels/wasm/upsample.js';
import { wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import { getNumThreads, setNumThreads } from '../../../src/kernels/wasm/threads.js';
import {
  batchNormBackwardRef,
  batchNormRef,
  expectClose,
  randomF32,
  rng,
  upsampleRef,
  type S4,
} from '../gpu/_reference.js';
import { skipNote } from '../../_helpers/skipNote.js';

const noSimd = skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later');

const shapes: S4[] = [
  [2, 3, 5, 7],
  [1, 17, 4, 4],
  [3, 2, 1, 9],
  [32, 16, 6, 4],
  [4, 5, 13, 3],
  // planes are reduced four at a time: a group of four and a remainder of two, and a scalar tail per plane
  [6, 3, 5, 3],
];

describe.runIf(wasmSimdAvailable())('WebAssembly batch norm', noSimd, () => {
  for (const s of shapes) {
    const [N, C, H, W] = s;
    it(`training forward, running statistics and backward, ${s.join('×')}`, () => {
      const r = rng(N * 100 + C);
      const x = randomF32(N * C * H * W, r, 2, 0.5),
        gamma = randomF32(C, r, 1, 1),
        beta = randomF32(C, r);
      const dy = randomF32(x.length, r);
      const rm = randomF32(C, r),
        rv = randomF32(C, r, 0.5, 1);
      const ref = batchNormRef(x, s, gamma, beta, rm, rv, true, 0.1, 1e-5);
      const runningMean = rm.slice(),
        runningVar = rv.slice();
      for (const relu of [false, true]) {
        const got = batchNorm2dForwardWasm(
          x,
          s,
          gamma,
          beta,
          {
            training: true,
            eps: 1e-5,
            momentum: 0.1,
            runningMean: relu ? rm.slice() : runningMean,
            runningVar: relu ? rv.slice() : runningVar,
          },
          relu,
        );
        expectClose(got.out, relu ? ref.y.map((v) => Math.max(v, 0)) : ref.y, 2e-6, relu ? 'y (fused ReLU)' : 'y');
        expectClose(got.mean, ref.mean, 1e-6, 'mean');
        expectClose(got.invStd, ref.invStd, 1e-6, 'invStd');
      }
      expectClose(runningMean, ref.runningMean, 1e-6, 'running mean');
      expectClose(runningVar, ref.runningVar, 1e-6, 'running var');
      const b = batchNormBackwardRef(dy, x, s, gamma, 1e-5);
      const got = batchNorm2dBackwardWasm(dy, x, s, gamma, Float32Array.from(b.mean), Float32Array.from(b.invStd));
      expectClose(got.dx, b.dx, 2e-5, 'dx');
      expectClose(got.dgamma, b.dgamma, 2e-6, 'dgamma');
      expectClose(got.dbeta, b.dbeta, 2e-6, 'dbeta');
    });
  }

  it('the fused ReLU mask in the backward equals masking dy first, bit for bit', () => {
    const s: S4 = [4, 6, 5, 7];
    const r = rng(12);
    const x = randomF32(4 * 6 * 35, r),
      dy = randomF32(x.length, r),
      gamma = randomF32(6, r),
      beta = randomF32(6, r);
    const f = batchNorm2dForwardWasm(x, s, gamma, beta, { training: true, eps: 1e-5, momentum: 0.1 }, true);
    const masked = dy.map((g, i) => (f.out[i]! > 0 ? g : 0));
    const fused = batchNorm2dBackwardWasm(dy, x, s, gamma, f.mean, f.invStd, f.out);
    const plain = batchNorm2dBackwardWasm(masked, x, s, gamma, f.mean, f.invStd);
    for (const k of ['dx', 'dgamma', 'dbeta'] as const)
      expect(Buffer.from(fused[k].buffer).equals(Buffer.from(plain[k].buffer))).toBe(true);
  });

  it('sums in its documented order — per plane in four float32 lanes, planes in order in float64 — and rounds its float64 constants once, bit for bit', () => {
    // an emulation of that order in JavaScript (Math.fround for every float32 operation): planes are
    // reduced several at a time, which must not change any sum
    const s: S4 = [7, 2, 3, 5];
    const [N, C, H, W] = s;
    const HW = H * W,
      m = N * HW,
      vec = HW - (HW % 4);
    const r = rng(31);
    const x = randomF32(N * C * HW, r, 2, 0.5),
      dy = randomF32(x.length, r),
      gamma = randomF32(C, r, 1, 1),
      beta = randomF32(C, r);
    const f32 = Math.fround;
    /** Σ term(index) over channel c in the kernels' order. */
    const channelSum = (c: number, term: (i: number) => number) => {
      let total = 0;
      for (let n = 0; n < N; n++) {
        const base = (n * C + c) * HW;
        const lanes = [0, 0, 0, 0];
        for (let i = 0; i < vec; i++) lanes[i % 4] = f32(lanes[i % 4]! + term(base + i));
        total = total + lanes[0]! + lanes[1]! + lanes[2]! + lanes[3]!;
        for (let i = vec; i < HW; i++) total += term(base + i);
      }
      return total;
    };
    const f = batchNorm2dForwardWasm(x, s, gamma, beta, { training: true, eps: 1e-5, momentum: 0.1 }, true);
    const b = batchNorm2dBackwardWasm(dy, x, s, gamma, f.mean, f.invStd, f.out);
    for (let c = 0; c < C; c++) {
      const mean = channelSum(c, (i) => x[i]!) / m;
      const mean32 = f32(mean);
      const m2 = channelSum(c, (i) => f32(f32(x[i]! - mean32) * f32(x[i]! - mean32)));
      expect(f.mean[c]).toBe(f32(mean));
      expect(f.invStd[c]).toBe(f32(1 / Math.sqrt(m2 / m + 1e-5)));
      const mask = (i: number) => (f.out[i]! > 0 ? dy[i]! : 0);
      const sdy = channelSum(c, mask);
      const sdyx = channelSum(c, (i) => f32(mask(i) * f32(x[i]! - f.mean[c]!)));
      expect(b.dbeta[c]).toBe(f32(sdy));
      expect(b.dgamma[c]).toBe(f32(sdyx * f.invStd[c]!));
      // the constants (float64, rounded once) and the float32 passes that use them
      const is = 1 / Math.sqrt(m2 / m + 1e-5);
      const a = gamma[c]! * is;
      const [a32, b32] = [f32(a), f32(beta[c]! - mean * a)];
      const k = (gamma[c]! * f.invStd[c]!) / m;
      const [A, B, Cc] = [f32(k * m), f32(k * sdy), f32(k * (sdyx * f.invStd[c]!) * f.invStd[c]!)];
      for (let n = 0; n < N; n++)
        for (let i = (n * C + c) * HW; i < (n * C + c + 1) * HW; i++) {
          expect(f.out[i]).toBe(Math.max(f32(f32(x[i]! * a32) + b32), 0));
          expect(b.dx[i]).toBe(f32(f32(f32(A * mask(i)) - B) - f32(Cc * f32(x[i]! - f.mean[c]!))));
        }
    }
  });

  it('eval mode uses the running statistics', () => {
    const s: S4 = [3, 4, 5, 6];
    const r = rng(5);
    const x = randomF32(360, r),
      gamma = randomF32(4, r),
      beta = randomF32(4, r),
      rm = randomF32(4, r),
      rv = randomF32(4, r, 0.5, 1);
    const ref = batchNormRef(x, s, gamma, beta, rm, rv, false, 0.1, 1e-5);
    const got = batchNorm2dForwardWasm(x, s, gamma, beta, {
      training: false,
      eps: 1e-5,
      momentum: 0.1,
      runningMean: rm,
      runningVar: rv,
    });
    expectClose(got.out, ref.y, 2e-6, 'eval y');
  });

  it('is bit-identical on 1 and 2 threads (one thread reduces each channel, in one order)', () => {
    const s: S4 = [32, 24, 12, 8];
    const r = rng(9);
    const x = randomF32(32 * 24 * 96, r),
      dy = randomF32(x.length, r),
      gamma = randomF32(24, r),
      beta = randomF32(24, r);
    const saved = getNumThreads();
    const run = () => {
      const f = batchNorm2dForwardWasm(
        x,
        s,
        gamma,
        beta,
        {
          training: true,
          eps: 1e-5,
          momentum: 0.1,
          runningMean: new Float32Array(24),
          runningVar: new Float32Array(24).fill(1),
        },
        true,
      );
      const bw = batchNorm2dBackwardWasm(dy, x, s, gamma, f.mean, f.invStd);
      return [f.out, f.mean, f.invStd, bw.dx, bw.dgamma, bw.dbeta];
    };
    try {
      setNumThreads(1);
      const one = run();
      setNumThreads(2);
      const two = run();
      one.forEach((a, i) => expect(Buffer.from(two[i]!.buffer).equals(Buffer.from(a.buffer))).toBe(true));
    } finally {
      setNumThreads(saved);
    }
  });
});

describe.runIf(wasmSimdAvailable())('WebAssembly elementwise kernels and GEMM', noSimd, () => {
  it('relu, its gradient and add, on lengths around the chunk and vector sizes', () => {
    const r = rng(3);
    for (const n of [1, 3, 4, 5, 8191, 8192, 8193, 40001]) {
      const a = randomF32(n, r),
        b = randomF32(n, r);
      a[0] = -0;
      expect([...elementwiseWasm('relu', a, null)]).toEqual([...a].map((v) => (v > 0 ? v : 0)));
      expect([...elementwiseWasm('reluBackward', a, b)]).toEqual([...a].map((v, i) => (b[i]! > 0 ? v : 0)));
      // float32 addition of float32 values is the correctly rounded sum: Math.fround of the exact sum
      expect([...elementwiseWasm('add', a, b)]).toEqual([...a].map((v, i) => Math.fround(v + b[i]!)));
    }
    expect(Object.is(elementwiseWasm('relu', Float32Array.of(-0), null)[0], 0)).toBe(true);
    for (const n of [5, 8193]) {
      const a = randomF32(n, r),
        b = randomF32(n, r);
      expect([...elementwiseWasm('addRelu', a, b)]).toEqual([...a].map((v, i) => Math.max(Math.fround(v + b[i]!), 0)));
    }
    expect(Number.isNaN(elementwiseWasm('relu', Float32Array.of(Number.NaN), null)[0])).toBe(true);
    expect(() => elementwiseWasm('add', new Float32Array(3), new Float32Array(4))).toThrow(/different lengths/);
  });

  it('upsampling: the forward is a copy; the backward sums 2×2 blocks in float64, rounded once', () => {
    const r = rng(6);
    for (const [N, C, H, W] of [
      [1, 1, 1, 1],
      [2, 3, 5, 7],
      [3, 9, 6, 4],
      [32, 20, 12, 8],
    ] as const) {
      const x = randomF32(N * C * H * W, r);
      expect([...upsampleNearest2xForwardWasm(x, N * C, H, W)]).toEqual([...upsampleRef(x, [N, C, H, W])]);
      const dy = randomF32(4 * x.length, r);
      const want = new Float64Array(x.length);
      for (let p = 0; p < N * C; p++) {
        for (let i = 0; i < H; i++) {
          for (let j = 0; j < W; j++) {
            const at = (k: number, l: number) => dy[(p * 2 * H + 2 * i + k) * 2 * W + 2 * j + l]!;
            want[(p * H + i) * W + j] = Math.fround(at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1));
          }
        }
      }
      expect([...upsampleNearest2xBackwardWasm(dy, N * C, H, W)]).toEqual([...want]);
    }
  });

  it("addRelu (a residual block's output) equals relu(add) in values and gradients, bit for bit", async () => {
    const { Tensor, add, relu } = await import('../../../src/index.js');
    const { addRelu } = await import('../../../src/autograd/ops/elementwise.js');
    const shape = [4, 8, 12, 16];
    const run = (fused: boolean) => {
      const a = new Tensor(randomF32(6144, rng(1)), shape).requiresGrad_();
      const b = new Tensor(randomF32(6144, rng(2)), shape).requiresGrad_();
      const y = fused ? addRelu(a, b) : relu(add(a, b));
      y.backward(new Tensor(randomF32(6144, rng(3)), shape));
      return [y.values(), a.grad!.values(), b.grad!.values()] as Float32Array[];
    };
    const fused = run(true),
      plain = run(false);
    fused.forEach((v, i) =>
      expect(
        Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(
          Buffer.from(plain[i]!.buffer, plain[i]!.byteOffset, plain[i]!.byteLength),
        ),
      ).toBe(true),
    );
  });

  it('distance transforms of a batch, four masks per SIMD vector, equal the O(V²) definition', () => {
    const r = rng(14);
    for (const [B, H, W, fg] of [
      [1, 1, 1, 1],
      [3, 5, 7, 0.8],
      [6, 9, 4, 1],
      [9, 8, 13, 0.9],
      [4, 11, 11, 0.6],
    ] as const) {
      const masks = new Uint8Array(B * H * W).map(() => (r() < fg ? 1 : 0));
      const got = distanceTransformBatchWasm(masks, B, H, W);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < H * W; i++) {
          // d_i = min over background j of max(|Δrow|, |Δcol|); 0 on background; +∞ without background
          let d = masks[b * H * W + i] === 0 ? 0 : Infinity;
          if (d !== 0) {
            for (let j = 0; j < H * W; j++) {
              if (masks[b * H * W + j] === 0)
                d = Math.min(d, Math.max(Math.abs(Math.floor(i / W) - Math.floor(j / W)), Math.abs((i % W) - (j % W))));
            }
          }
          if (got[b * H * W + i] !== d)
            throw new Error(`mask ${b} of ${B} (${H}×${W}), pixel ${i}: ${got[b * H * W + i]} vs ${d}`);
        }
      }
    }
  });

  it('gemm equals a float64 triple loop within float32 accumulation error', () => {
    const r = rng(4);
    for (const [M, N, K] of [
      [1, 1, 1],
      [5, 7, 3],
      [17, 130, 33],
      [64, 64, 64],
      [33, 65, 100],
    ] as const) {
      const A = randomF32(M * K, r),
        B = randomF32(K * N, r);
      const ref = new Float64Array(M * N);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++)
          for (let k = 0; k < K; k++) ref[i * N + j] = ref[i * N + j]! + A[i * K + k]! * B[k * N + j]!;
      // |error| ≤ γ(K)·Σ|a||b| ≤ K·2^-24·K (entries in [-1, 1)); relative to max|ref| ≈ √K this is loose but exact
      expectClose(
        gemmWasm(M, N, K, A, B),
        ref,
        (K * K * 2 ** -24 * 1.01) / Math.max(1e-3, Math.max(...ref.map(Math.abs))),
        `${M}×${N}×${K}`,
      );
    }
  });
});
