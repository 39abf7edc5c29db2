/**
 * The fused decoder input, concat([upsampleNearest2x(deep), skip], 1), and its backward: the WebAssembly
 * kernels against float64 nested loops written here, bit for bit against the composition of the two ops
 * (on 'wasm' and on 'js', which has no fused kernel and composes), on 1 and 2 threads, inside and outside a
 * step arena; and the op's gradient against float64 finite differences.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, concat, gradcheck, openStepArena, randn, Rng, upsampleNearest2x } from '../../../src/index.js';
import { upsampleConcat } from '../../../src/autograd/ops/upsample.js';
import { cpuKernels, hasKernel, setCpuKernels } from '../../../src/kernels/engine.js';
import { upsampleConcatBackwardWasm, upsampleConcatForwardWasm } from '../../../src/kernels/wasm/upsampleConcat.js';
import { wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import { getNumThreads, setNumThreads } from '../../../src/kernels/wasm/threads.js';
import { randomF32, rng } from '../gpu/_reference.js';
import { skipNote } from '../../_helpers/skipNote.js';

const noSimd = skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later');

/** [N, Cd, Cs, H, W]: odd widths (the rows' scalar tails), one image, the decoder's shapes at batch 32. */
const cases: [number, number, number, number, number][] = [
  [1, 1, 1, 1, 1],
  [2, 3, 2, 5, 7],
  [3, 4, 5, 2, 3],
  [32, 128, 64, 6, 4],
  [32, 32, 16, 24, 16],
];

/** y[n, c, i, j] = deep[n, c, ⌊i/2⌋, ⌊j/2⌋] for c < Cd, skip[n, c − Cd, i, j] after, in float64. */
function forwardRef(deep: Float32Array, skip: Float32Array, [N, Cd, Cs, H, W]: number[]): Float64Array {
  const C = Cd! + Cs!,
    H2 = 2 * H!,
    W2 = 2 * W!;
  const y = new Float64Array(N! * C * H2 * W2);
  for (let n = 0; n < N!; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H2; i++)
        for (let j = 0; j < W2; j++)
          y[((n * C + c) * H2 + i) * W2 + j] =
            c < Cd!
              ? deep[((n * Cd! + c) * H! + (i >> 1)) * W! + (j >> 1)]!
              : skip[((n * Cs! + c - Cd!) * H2 + i) * W2 + j]!;
  return y;
}

/** dDeep = 2×2 block sums of dy's first Cd channels (float64, rounded once), dSkip = the other channels. */
function backwardRef(dy: Float32Array, [N, Cd, Cs, H, W]: number[]): { dDeep: Float32Array; dSkip: Float32Array } {
  const C = Cd! + Cs!,
    H2 = 2 * H!,
    W2 = 2 * W!;
  const at = (n: number, c: number, i: number, j: number) => dy[((n * C + c) * H2 + i) * W2 + j]!;
  const dDeep = new Float32Array(N! * Cd! * H! * W!),
    dSkip = new Float32Array(N! * Cs! * H2 * W2);
  for (let n = 0; n < N!; n++) {
    for (let c = 0; c < Cd!; c++)
      for (let i = 0; i < H!; i++)
        for (let j = 0; j < W!; j++)
          dDeep[((n * Cd! + c) * H! + i) * W! + j] =
            at(n, c, 2 * i, 2 * j) +
            at(n, c, 2 * i, 2 * j + 1) +
            at(n, c, 2 * i + 1, 2 * j) +
            at(n, c, 2 * i + 1, 2 * j + 1);
    for (let c = 0; c < Cs!; c++)
      for (let i = 0; i < H2; i++)
        for (let j = 0; j < W2; j++) dSkip[((n * Cs! + c) * H2 + i) * W2 + j] = at(n, Cd! + c, i, j);
  }
  return { dDeep, dSkip };
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe.runIf(wasmSimdAvailable())('fused upsample + concat (a decoder input)', noSimd, () => {
  it('the kernels equal float64 loops: the forward copies, the backward sums 2×2 blocks rounded once', () => {
    const r = rng(21);
    for (const s of cases) {
      const [N, Cd, Cs, H, W] = s;
      const deep = randomF32(N * Cd * H * W, r),
        skip = randomF32(N * Cs * 4 * H * W, r);
      // a copy: the float64 reference holds float32 values, exactly
      const y = upsampleConcatForwardWasm(deep, skip, { N, Cd, Cs, H, W });
      expect(bits(y).equals(bits(Float32Array.from(forwardRef(deep, skip, s))))).toBe(true);
      const dy = randomF32(N * (Cd + Cs) * 4 * H * W, r);
      const got = upsampleConcatBackwardWasm(dy, { N, Cd, Cs, H, W });
      const want = backwardRef(dy, s);
      expect(bits(got.dDeep).equals(bits(want.dDeep))).toBe(true);
      expect(bits(got.dSkip).equals(bits(want.dSkip))).toBe(true);
    }
    expect(() =>
      upsampleConcatForwardWasm(new Float32Array(3), new Float32Array(4), { N: 1, Cd: 1, Cs: 1, H: 1, W: 1 }),
    ).toThrow(/deep has 3 and skip 4 elements/);
  });

  it("the op equals concat(upsample(deep), skip) bit for bit — fused on 'wasm', composed on 'js' — on 1 and 2 threads, in and outside a step arena", () => {
    const saved = { kernels: cpuKernels(), threads: getNumThreads() };
    const [N, Cd, Cs, H, W] = [4, 6, 3, 6, 5];
    const deep0 = randomF32(N * Cd * H * W, rng(1)),
      skip0 = randomF32(N * Cs * 4 * H * W, rng(2)),
      g0 = randomF32(N * (Cd + Cs) * 4 * H * W, rng(3));
    const run = (fused: boolean) => {
      const deep = new Tensor(deep0.slice(), [N, Cd, H, W]).requiresGrad_();
      const skip = new Tensor(skip0.slice(), [N, Cs, 2 * H, 2 * W]).requiresGrad_();
      const y = fused ? upsampleConcat(deep, skip) : concat([upsampleNearest2x(deep), skip], 1);
      y.backward(new Tensor(g0.slice(), y.shape));
      return [y.values().slice(), deep.grad!.values().slice(), skip.grad!.values().slice()] as Float32Array[];
    };
    try {
      setCpuKernels('js');
      const deep = new Tensor(deep0, [N, Cd, H, W]);
      expect(hasKernel('UpsampleNearest2xConcat', [deep, deep])).toBe(false);
      const want = run(false);
      const runs = [run(true)];
      setCpuKernels('wasm');
      expect(hasKernel('UpsampleNearest2xConcat', [deep, deep])).toBe(true);
      for (const threads of [1, 2]) {
        setNumThreads(threads);
        runs.push(run(true), run(false));
        const a = openStepArena();
        try {
          runs.push(run(true));
        } finally {
          a.close();
        }
      }
      for (const got of runs) got.forEach((v, i) => expect(bits(v).equals(bits(want[i]!))).toBe(true));
    } finally {
      setCpuKernels(saved.kernels);
      setNumThreads(saved.threads);
    }
  });

  it('the gradient equals float64 finite differences, and shapes that do not fit compose (and say what is wrong)', () => {
    const r = new Rng(5);
    const deep = randn([2, 3, 2, 3], r, { dtype: 'float64' }),
      skip = randn([2, 2, 4, 6], r, { dtype: 'float64' });
    expect(gradcheck((d, s) => upsampleConcat(d!, s!), [deep, skip]).ok).toBe(true);
    const wrong = randn([2, 2, 4, 5], r);
    expect(() => upsampleConcat(randn([2, 3, 2, 3], r), wrong)).toThrow(/concat: shapes/);
  });
});
