/**
 * The weight gradient by Winograd F(4×4, 3×3) (src/kernels/wasm/winograd4WeightGrad.ts) against the float64
 * nested-loop reference of dw (test/kernels/gpu/_reference.ts: conv2dBackFilterRef, written from the definition
 * dw[o][c][i][j] = Σ dy[n][o][h][w] · x[n][c][h + i − 1][w + j − 1], not from Winograd's), with separate
 * multiplications and additions and with fused multiply-adds: odd and even map sizes (tiles cut by the border
 * both ways, maps lower or narrower than a tile, the 6×4 and 12×8 maps of ResUNet-lite), channel counts that are
 * and are not multiples of the dot-product tile (2 output × 4 input channels), batch 1, 2, 3, 8 and 16, items of
 * whole images, of groups of images and of tile-row blocks, items whose tiles pad to 8.
 *
 * Tolerance, rigorous (never flaky), as in winograd.test.ts and winograd4.test.ts: every exact term of a weight's
 * gradient goes through at most k = Pg/4 + K + 21 roundings (Pg tiles per item, K items; winograd4WeightGrad.ts
 * lists them), so
 *
 *   |computed − exact| ≤ γ(k) · S,   S = Σ_tiles |G|ᵀ [(|A| |dy_t| |A|ᵀ) ⊙ (|Bᵀ| |d_t| |B|)] |G|,
 *
 * S computed in float64 from the matrices written out in _winogradReference.ts. The report gives the largest
 * error as a fraction of Σ|dy||x| (the direct sum's scale) and of the bound.
 *
 * Planted errors: a float32 emulation of the algorithm in the kernel's order of operations passes the bound
 * with the right constants and fails it with any one of A's, G's or Bᵀ's constants changed, as listed below.
 */
import { describe, expect, it } from 'vitest';
import { cpuKernels, runKernel, setCpuKernels } from '../../../src/kernels/engine.js';
import {
  getFusedMultiplyAdd,
  relaxedSimdAvailable,
  setFusedMultiplyAdd,
} from '../../../src/kernels/wasm/multiplyAdd.js';
import { wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import { weightGrad4Spec } from '../../../src/kernels/wasm/winograd4WeightGrad.js';
import {
  conv2dBackwardWeightWinograd,
  getConvAlgorithm,
  setAutoWeightGrad4,
  setConvAlgorithm,
  winogradWeightGradChosen,
  winogradWeightGradTileFor,
} from '../../../src/kernels/wasm/winogradConv.js';
import '../../../src/kernels/wasm/index.js';
import { conv2dBackFilterRef, randomF32, rng, type S4 } from '../gpu/_reference.js';
import { skipNote } from '../../_helpers/skipNote.js';
import { describeEachFmaMode } from '../../_helpers/fmaModes.js';
import {
  absMatrix,
  absValues,
  convOperands,
  expectSameBitsOnOneAndTwoThreads,
  expectWithinWinogradBound,
  F4_MATRICES,
  winogradWeightGradF64,
} from './_winogradReference.js';

const noSimd = skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later');
const noRelaxedSimd = skipNote(
  'this JavaScript engine has no relaxed SIMD (fused multiply-adds)',
  'run it on Node 20 through the test setup (which turns the V8 flag on), Node 22 or later',
);

/** Roundings besides the Pg/4 + K of the sums over tiles and items (see the top of this file). */
const EXTRA_ROUNDINGS = 21;

const F4_ABS = { bt: absMatrix(F4_MATRICES.bt), g: absMatrix(F4_MATRICES.g), at: absMatrix(F4_MATRICES.at) };
const absSum = (dy: Float32Array, x: Float32Array, xs: S4, O: number) =>
  winogradWeightGradF64(dy, x, xs, O, F4_ABS, true);
const abs = absValues;

interface Case {
  N: number;
  C: number;
  O: number;
  H: number;
  W: number;
  /** what the case reaches, checked on its plan */
  why: string;
  reaches: (s: ReturnType<typeof weightGrad4Spec>) => boolean;
}

const cases: Case[] = [
  {
    N: 1,
    C: 1,
    O: 1,
    H: 1,
    W: 1,
    why: 'one output: a single tile cut by the border both ways',
    reaches: (s) => !s.exact && s.items === 1,
  },
  {
    N: 3,
    C: 3,
    O: 5,
    H: 7,
    W: 5,
    why: 'odd sizes, channel counts not multiples of the dot tile, 4 tiles an item padded to 8',
    reaches: (s) => !s.exact && s.Pg > s.Pi && s.items === 3,
  },
  {
    N: 1,
    C: 16,
    O: 16,
    H: 12,
    W: 8,
    why: 'tiles read in place, 2 tiles a row: vectors span tile rows',
    reaches: (s) => s.exact && s.tW === 2,
  },
  {
    N: 2,
    C: 17,
    O: 9,
    H: 9,
    W: 13,
    why: 'odd sizes, tiles cut both ways, the last to 1 column',
    reaches: (s) => !s.exact && s.items === 2,
  },
  {
    N: 3,
    C: 5,
    O: 20,
    H: 6,
    W: 4,
    why: 'the 6×4 map: one tile a row, the second tile row cut',
    reaches: (s) => !s.exact && s.tW === 1 && s.Pg > s.Pi,
  },
  {
    N: 8,
    C: 12,
    O: 6,
    H: 6,
    W: 4,
    why: 'the 6×4 map in groups of 4 images: vectors span images, two items',
    reaches: (s) => s.g === 4 && s.items === 2 && s.Pg === s.Pi,
  },
  {
    N: 1,
    C: 8,
    O: 6,
    H: 96,
    W: 64,
    why: 'tiles read in place in tile-row blocks (12 of 24 tile rows a block)',
    reaches: (s) => s.exact && s.blocks === 2 && s.items === 2,
  },
  {
    N: 2,
    C: 7,
    O: 6,
    H: 93,
    W: 62,
    why: 'tile-row blocks over a map cut both ways: the last block ends in a cut row',
    reaches: (s) => !s.exact && s.blocks === 2 && s.items === 4,
  },
  {
    N: 5,
    C: 4,
    O: 6,
    H: 47,
    W: 31,
    why: 'five items of one image: the reduction loops over the items',
    reaches: (s) => !s.exact && s.g === 1 && s.blocks === 1 && s.items === 5,
  },
  {
    N: 3,
    C: 2,
    O: 6,
    H: 3,
    W: 18,
    why: 'a map lower than a tile, width with a tail of 2',
    reaches: (s) => s.tH === 1 && !s.exact,
  },
  {
    N: 16,
    C: 3,
    O: 5,
    H: 5,
    W: 6,
    why: 'groups of whole images per item (8 images of 4 tiles), odd height',
    reaches: (s) => s.g === 8 && s.items === 2,
  },
  {
    N: 4,
    C: 24,
    O: 36,
    H: 12,
    W: 8,
    why: 'the 12×8 map, 2 images of 6 tiles an item, padded to 16',
    reaches: (s) => s.exact && s.g === 2 && s.Pg > s.Pi,
  },
];

describe.runIf(wasmSimdAvailable())('Winograd F(4×4, 3×3) weight gradient vs float64 references', noSimd, () => {
  describeEachFmaMode((fma) => {
    const report: string[] = [];
    for (const c of cases) {
      it(`N${c.N} ${c.C}→${c.O} ${c.H}×${c.W}: ${c.why}`, () => {
        const r = rng(c.N * 1000 + c.C * 100 + c.O + c.H + 11);
        const xs: S4 = [c.N, c.C, c.H, c.W],
          ws: S4 = [c.O, c.C, 3, 3],
          ys: S4 = [c.N, c.O, c.H, c.W];
        const x = randomF32(c.N * c.C * c.H * c.W, r);
        const dy = randomF32(c.N * c.O * c.H * c.W, r);
        const spec = weightGrad4Spec(c.N, c.C, c.O, c.H, c.W);
        expect(c.reaches(spec)).toBe(true);
        const dw = conv2dBackwardWeightWinograd(dy, ys, x, xs, ws, { stride: 1, padding: 1 }, 4);
        const rel = expectWithinWinogradBound(
          dw,
          conv2dBackFilterRef(dy, x, xs, ws, 1, 1),
          absSum(dy, x, xs, c.O),
          conv2dBackFilterRef(abs(dy), abs(x), xs, ws, 1, 1),
          spec.Pg / 4 + spec.items + EXTRA_ROUNDINGS,
          'weight gradient',
        );
        report.push(`${c.N},${c.C}→${c.O},${c.H}×${c.W}: ${rel.replaceAll('Σ|w||x|', 'Σ|dy||x|')}`);
      });
    }
    it('reports the largest error relative to Σ|dy||x| and to the bound', () => {
      expect(report.length).toBe(cases.length);
      console.log(`Winograd F(4×4) weight gradient, FMA '${fma}', max |error|:\n  ${report.join('\n  ')}`);
    });
  });

  it('gives bit-identical results on 1 and 2 threads', () => {
    const r = rng(13);
    // images per item (48×32), groups of images (12×8), padded rows (6×4), tile-row blocks (96×64)
    const shapes: [S4, S4][] = [
      [
        [4, 16, 48, 32],
        [24, 16, 3, 3],
      ],
      [
        [16, 40, 12, 8],
        [36, 40, 3, 3],
      ],
      [
        [32, 24, 6, 4],
        [20, 24, 3, 3],
      ],
      [
        [2, 8, 96, 64],
        [12, 8, 3, 3],
      ],
    ];
    const data = convOperands(shapes, r);
    expect(data.map(({ xs, ws }) => weightGrad4Spec(xs[0], xs[1], ws[0], xs[2], xs[3]).items > 1)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    const run = () =>
      data.map(({ xs, ws, x, dy }) =>
        conv2dBackwardWeightWinograd(dy, [xs[0], ws[0], xs[2], xs[3]], x, xs, ws, { stride: 1, padding: 1 }, 4),
      );
    expectSameBitsOnOneAndTwoThreads(run);
  });

  it.runIf(relaxedSimdAvailable())(
    'each fused multiply-add mode gives its own bits, again after the other (the module caches carry the mode)',
    noRelaxedSimd,
    () => {
      const saved = getFusedMultiplyAdd();
      const r = rng(21);
      const xs: S4 = [4, 20, 12, 8],
        ws: S4 = [12, 20, 3, 3];
      const x = randomF32(4 * 20 * 96, r),
        dy = randomF32(4 * 12 * 96, r);
      const run = () => conv2dBackwardWeightWinograd(dy, [4, 12, 12, 8], x, xs, ws, { stride: 1, padding: 1 }, 4);
      try {
        setFusedMultiplyAdd('off');
        const off1 = run();
        setFusedMultiplyAdd('on');
        const on = run();
        setFusedMultiplyAdd('off');
        expect(run()).toEqual(off1);
        expect(on.some((v, i) => !Object.is(v, off1[i]))).toBe(true);
      } finally {
        setFusedMultiplyAdd(saved);
      }
    },
  );

  it("'auto' takes it for ResUNet-lite's 3×3 stride-1 layers but the stem", () => {
    const saved = getConvAlgorithm();
    const o = { stride: 1, padding: 1 };
    try {
      setConvAlgorithm('auto');
      // [C, O, H, W] of the layers (bench/_resunet.ts)
      const layers = [
        [16, 16, 48, 32],
        [48, 16, 48, 32],
        [32, 32, 24, 16],
        [96, 32, 24, 16],
        [64, 64, 12, 8],
        [192, 64, 12, 8],
        [128, 128, 6, 4],
      ] as const;
      for (const [C, O, H, W] of layers) {
        expect([
          winogradWeightGradChosen([32, C, H, W], [O, C, 3, 3], o),
          winogradWeightGradTileFor(C, O, H, W),
        ]).toEqual([true, 4]);
      }
      // the stem: direct; F(2×2) where 'auto' took it before, when F(4×4) is switched off for benchmarks
      expect(winogradWeightGradChosen([32, 1, 48, 32], [16, 1, 3, 3], o)).toBe(false);
      setAutoWeightGrad4(false);
      expect([
        winogradWeightGradTileFor(16, 16, 48, 32),
        winogradWeightGradChosen([32, 128, 6, 4], [128, 128, 3, 3], o),
      ]).toEqual([2, false]);
    } finally {
      setAutoWeightGrad4(true);
      setConvAlgorithm(saved);
    }
  });

  it("'winograd4' runs it through the backend's Conv2DBackpropFilter; 'winograd' keeps F(2×2)", () => {
    const savedAlgorithm = getConvAlgorithm();
    const savedKernels = cpuKernels();
    const r = rng(17);
    const xs: S4 = [2, 8, 10, 12],
      ws: S4 = [16, 8, 3, 3],
      ys: S4 = [2, 16, 10, 12];
    const x = randomF32(2 * 8 * 10 * 12, r),
      dy = randomF32(2 * 16 * 10 * 12, r);
    const o = { stride: 1, padding: 1 };
    const input = (v: Float32Array, shape: readonly number[]) => ({
      dtype: 'float32' as const,
      shape,
      device: null,
      values: () => v,
    });
    const viaBackend = () =>
      runKernel('Conv2DBackpropFilter', [input(dy, ys), input(x, xs)], { ...o, wShape: ws })[0]!.values as Float32Array;
    setCpuKernels('wasm');
    try {
      setConvAlgorithm('winograd4');
      expect([winogradWeightGradChosen(xs, ws, o), winogradWeightGradTileFor(8, 16, 10, 12)]).toEqual([true, 4]);
      const four = viaBackend();
      expect(four).toEqual(conv2dBackwardWeightWinograd(dy, ys, x, xs, ws, o, 4));
      setConvAlgorithm('winograd');
      expect(winogradWeightGradTileFor(8, 16, 10, 12)).toBe(2);
      const two = viaBackend();
      expect(two).toEqual(conv2dBackwardWeightWinograd(dy, ys, x, xs, ws, o, 2));
      // the two tiles round differently
      expect(two.some((v, i) => v !== four[i])).toBe(true);
    } finally {
      setConvAlgorithm(savedAlgorithm);
      setCpuKernels(savedKernels);
    }
  });
});

/**
 * The algorithm in float32 in the kernel's order of operations (winograd4.ts: emitBT for x; winograd4WeightGrad.ts:
 * emitA for dy, gT6 for Gᵀ·G), with the constants passed in (`k`), the sum over tiles in tile order.
 */
type K = Record<'a4' | 'a2' | 'aSign' | 'g4' | 'g24' | 'g6' | 'gHalf' | 'gA4' | 'b4' | 'b2', number>;
const K_RIGHT: K = { a4: 4, a2: 2, aSign: -1, g4: 0.25, g24: 24, g6: 6, gHalf: 0.5, gA4: 4, b4: 4, b2: 2 };

function weightGrad4F32(dy: Float32Array, x: Float32Array, [N, C, H, W]: S4, O: number, k: K): Float64Array {
  const fr = Math.fround;
  const bT = (d: number[]) => {
    const e = fr(d[4]! - d[2]!),
      a = fr(d[4]! - fr(k.b4 * d[2]!)),
      b = fr(d[3]! - fr(k.b4 * d[1]!)),
      h = fr(d[3]! - d[1]!);
    return [
      fr(fr(k.b4 * fr(d[0]! - d[2]!)) + e),
      fr(a + b),
      fr(a - b),
      fr(e + fr(k.b2 * h)),
      fr(e - fr(k.b2 * h)),
      fr(fr(d[5]! - d[3]!) - fr(k.b4 * h)),
    ];
  };
  const aV = (v: number[]) => {
    const e = fr(v[0]! + v[2]!),
      o = fr(v[1]! + v[3]!),
      e4 = fr(v[0]! + fr(k.a4 * v[2]!)),
      o4 = fr(k.a2 * fr(v[1]! + fr(k.a4 * v[3]!)));
    return [v[0]!, fr(e + o), fr(e + k.aSign * o), fr(e4 + o4), fr(e4 - o4), v[3]!];
  };
  const gT = (p: number[]) => {
    const a = fr(p[1]! + p[2]!),
      b = fr(p[1]! - p[2]!),
      c = fr(p[3]! + p[4]!),
      d = fr(p[3]! - p[4]!);
    const g6 = fr(1 / k.g6),
      g24 = fr(1 / k.g24);
    return [
      fr(fr(k.g4 * p[0]!) + fr(fr(c - fr(k.gA4 * a)) * g24)),
      fr(fr(fr(k.gHalf * d) - b) * g6),
      fr(fr(fr(c - a) * g6) + p[5]!),
    ];
  };
  const M = new Float32Array(O * C * 36);
  const D = new Float32Array(O * 36),
    V = new Float32Array(C * 36);
  for (let n = 0; n < N; n++)
    for (let ti = 0; ti < Math.ceil(H / 4); ti++)
      for (let tj = 0; tj < Math.ceil(W / 4); tj++) {
        for (let c = 0; c < C; c++) {
          const at = (i: number, j: number) => {
            const ih = 4 * ti - 1 + i,
              iw = 4 * tj - 1 + j;
            return ih < 0 || ih >= H || iw < 0 || iw >= W ? 0 : x[((n * C + c) * H + ih) * W + iw]!;
          };
          const rows = [0, 1, 2, 3, 4, 5].map((i) => bT([0, 1, 2, 3, 4, 5].map((j) => at(i, j))));
          for (let j = 0; j < 6; j++) {
            const col = bT(rows.map((r) => r[j]!));
            for (let i = 0; i < 6; i++) V[c * 36 + 6 * i + j] = col[i]!;
          }
        }
        for (let o = 0; o < O; o++) {
          const at = (i: number, j: number) => {
            const oh = 4 * ti + i,
              ow = 4 * tj + j;
            return oh >= H || ow >= W ? 0 : dy[((n * O + o) * H + oh) * W + ow]!;
          };
          const rows = [0, 1, 2, 3].map((i) => aV([0, 1, 2, 3].map((j) => at(i, j))));
          for (let j = 0; j < 6; j++) {
            const col = aV(rows.map((r) => r[j]!));
            for (let i = 0; i < 6; i++) D[o * 36 + 6 * i + j] = col[i]!;
          }
        }
        for (let o = 0; o < O; o++)
          for (let c = 0; c < C; c++)
            for (let xi = 0; xi < 36; xi++) {
              const at = (o * C + c) * 36 + xi;
              M[at] = fr(M[at]! + fr(D[o * 36 + xi]! * V[c * 36 + xi]!));
            }
      }
  const dg = new Float64Array(O * C * 9);
  for (let oc = 0; oc < O * C; oc++) {
    const m = M.subarray(oc * 36, oc * 36 + 36);
    const t = [0, 1, 2, 3, 4, 5].map((j) => gT([0, 1, 2, 3, 4, 5].map((i) => m[6 * i + j]!))); // t[j][i] = (Gᵀ M)(i, j)
    for (let i = 0; i < 3; i++) {
      const row = gT(t.map((col) => col[i]!));
      for (let j = 0; j < 3; j++) dg[oc * 9 + 3 * i + j] = row[j]!;
    }
  }
  return dg;
}

describe('the F(4×4) weight gradient bound catches a wrong constant', () => {
  const r = rng(9);
  const xs: S4 = [2, 6, 9, 11],
    O = 5;
  const x = randomF32(2 * 6 * 9 * 11, r),
    dy = randomF32(2 * O * 9 * 11, r);
  const ws: S4 = [O, 6, 3, 3];
  const exact = conv2dBackFilterRef(dy, x, xs, ws, 1, 1);
  const S = absSum(dy, x, xs, O);
  const direct = conv2dBackFilterRef(abs(dy), abs(x), xs, ws, 1, 1);
  // the emulation's roundings: x 4, dy 4, the sum over its T = 18 tiles in order (the products included) 18, Gᵀ·G 10
  const tiles = 2 * 3 * 3;
  const check = (k: K) =>
    expectWithinWinogradBound(weightGrad4F32(dy, x, xs, O, k), exact, S, direct, tiles + 18, 'emulated');

  it('the float32 emulation with the right constants is within the bound', () => {
    expect(check(K_RIGHT)).toMatch(/of the bound/);
  });

  // each off by one part in 2^11 (a wrong float32 literal would be much further off), or a sign
  const planted: [keyof K, number][] = [
    ['a4', 4 * (1 + 2 ** -11)],
    ['a2', 2 * (1 + 2 ** -11)],
    ['aSign', 1],
    ['g4', 0.25 * (1 + 2 ** -11)],
    ['g24', 24 * (1 + 2 ** -11)],
    ['g6', 6 * (1 + 2 ** -11)],
    ['gHalf', 0.5 * (1 + 2 ** -11)],
    ['gA4', 4 * (1 + 2 ** -11)],
    ['b4', 4 * (1 + 2 ** -11)],
    ['b2', -2],
  ];
  for (const [name, value] of planted) {
    it(`fails with ${name} = ${value} instead of ${K_RIGHT[name]}`, () => {
      expect(() => check({ ...K_RIGHT, [name]: value })).toThrow(/the Winograd float32 bound/);
    });
  }
});
