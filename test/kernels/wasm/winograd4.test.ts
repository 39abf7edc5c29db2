/**
 * Winograd F(4×4, 3×3) (src/kernels/wasm/winograd4.ts) against the float64 nested-loop references
 * (test/kernels/gpu/_reference.ts, written from the definition of a convolution, not from Winograd's): forward
 * pass (with bias, with the fused ReLU) and input gradient, on odd and even map sizes (tiles cut by the border
 * in both directions, maps narrower than a tile or than a vector of tiles, vectors of tiles that span tile rows
 * and images), channel counts that are and are not multiples of the products' tile (4 output channels), batch
 * 1, 3 and 16, the work split into tile-row blocks of one image and into groups of whole images.
 *
 * Tolerance, rigorous (never flaky), as in winograd.test.ts: every exact term of an output goes through at most
 * k = C + 20 roundings (input transform 4, weight transform 8 — two sums, the constant ⅙ or 1⁄24 in float32 and
 * the product, per direction —, the product 1, the sum over C channels C, output transform 6, bias 1: winograd4.ts
 * shows where each happens), so
 *
 *   |computed − exact| ≤ γ(k) · S,   S = |Aᵀ| [Σ_c (|G| |g_c| |G|ᵀ) ⊙ (|Bᵀ| |d_c| |B|)] |A| + |bias|,
 *
 * S computed here in float64 from the matrices written out below (not from the kernel's code). The report
 * gives the largest error as a fraction of Σ|w||x| (the direct sum's scale) and of the bound.
 *
 * Planted errors: the bound must reject an answer computed with one wrong constant. A float32 emulation of the
 * algorithm (Math.fround after every operation, in the kernel's order of operations) passes the bound, and
 * fails it with any one of G's, Bᵀ's or Aᵀ's constants changed as listed below.
 */
import { describe, expect, it } from 'vitest';
import {
  conv2dBackwardInputWinograd,
  conv2dForwardWinograd,
  getConvAlgorithm,
  parseConvAlgorithm,
  setConvAlgorithm,
  winogradForwardChosen,
  winogradInputGradChosen,
  winogradTileFor,
  winogradWeightGradChosen,
} from '../../../src/kernels/wasm/winogradConv.js';
import { wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import { winograd4Spec } from '../../../src/kernels/wasm/winograd4.js';
import { cpuKernels, runKernel, setCpuKernels } from '../../../src/kernels/engine.js';
import '../../../src/kernels/wasm/index.js';
import { conv2dBackInputRef, conv2dRef, randomF32, rng, type S4 } from '../gpu/_reference.js';
import { skipNote } from '../../_helpers/skipNote.js';
import {
  absMatrix,
  absValues,
  convOperands,
  expectSameBitsOnOneAndTwoThreads,
  expectWithinWinogradBound,
  F4_MATRICES,
  winogradF64,
  type Filter,
} from './_winogradReference.js';

const noSimd = skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later');

/** Roundings besides the C of the sum over channels (see the top of this file). */
const EXTRA_ROUNDINGS = 20;

// The transforms (Lavin & Gray 2016).
const { bt: BT, g: G, at: AT } = F4_MATRICES;

const absSum = (x: Float32Array, xs: S4, O: number, filt: Filter, bias: Float32Array | null) =>
  winogradF64(x, xs, O, filt, bias, { bt: absMatrix(BT), g: absMatrix(G), at: absMatrix(AT) }, true);

const expectWithinBound = expectWithinWinogradBound;
const abs = absValues;

interface Case {
  N: number;
  C: number;
  O: number;
  H: number;
  W: number;
  bias: boolean;
  why: string;
}

const cases: Case[] = [
  { N: 1, C: 1, O: 1, H: 1, W: 1, bias: true, why: 'one output: a single tile cut by the border both ways' },
  {
    N: 3,
    C: 3,
    O: 5,
    H: 7,
    W: 5,
    bias: true,
    why: 'odd sizes, channel counts not multiples of 4, tiles cut both ways',
  },
  { N: 1, C: 16, O: 16, H: 12, W: 8, bias: false, why: 'even sizes, 2 tiles a row: vectors span tile rows' },
  { N: 2, C: 17, O: 9, H: 9, W: 13, bias: true, why: 'odd sizes, 4 tiles a row, the last cut to 1 column' },
  { N: 3, C: 5, O: 20, H: 6, W: 4, bias: false, why: 'one tile a row, the second tile row cut: vectors span images' },
  { N: 1, C: 40, O: 37, H: 48, W: 32, bias: true, why: 'a large map cut into tile-row blocks' },
  { N: 1, C: 36, O: 36, H: 45, W: 30, bias: false, why: 'odd height over tile-row blocks, tiles cut both ways' },
  { N: 3, C: 2, O: 6, H: 3, W: 18, bias: true, why: 'a map lower than a tile, width with a tail of 2' },
  { N: 16, C: 3, O: 5, H: 5, W: 6, bias: true, why: 'groups of whole images per item, odd height' },
];

describe.runIf(wasmSimdAvailable())('Winograd F(4×4, 3×3) vs float64 references', noSimd, () => {
  const report: string[] = [];
  for (const c of cases) {
    it(`N${c.N} ${c.C}→${c.O} ${c.H}×${c.W}${c.bias ? ' +bias' : ''}: ${c.why}`, () => {
      const r = rng(c.N * 1000 + c.C * 100 + c.O + c.H + 7);
      const xs: S4 = [c.N, c.C, c.H, c.W],
        ws: S4 = [c.O, c.C, 3, 3],
        ys: S4 = [c.N, c.O, c.H, c.W];
      const x = randomF32(c.N * c.C * c.H * c.W, r);
      const w = randomF32(c.O * c.C * 9, r);
      const b = c.bias ? randomF32(c.O, r) : null;
      const dy = randomF32(c.N * c.O * c.H * c.W, r);
      const opts = { stride: 1, padding: 1 };

      const y = conv2dForwardWinograd(x, xs, w, ws, b, opts, false, 4);
      expect(y.outShape).toEqual(ys);
      const fwdFilter = (o: number, ch: number) => Array.from(w.subarray((o * c.C + ch) * 9, (o * c.C + ch + 1) * 9));
      const relFwd = expectWithinBound(
        y.out,
        conv2dRef(x, xs, w, ws, b, 1, 1).y,
        absSum(x, xs, c.O, fwdFilter, b),
        conv2dRef(abs(x), xs, abs(w), ws, b && abs(b), 1, 1).y,
        c.C + EXTRA_ROUNDINGS,
        'forward',
      );
      // the input gradient: the convolution of dy with filter (c, o) = w[o][c] rotated by 180°
      const dx = conv2dBackwardInputWinograd(dy, ys, w, ws, xs, opts, 4);
      const flipped = (ch: number, o: number) => fwdFilter(o, ch).reverse();
      const relDx = expectWithinBound(
        dx,
        conv2dBackInputRef(dy, w, xs, ws, 1, 1),
        absSum(dy, ys, c.C, flipped, null),
        conv2dBackInputRef(abs(dy), abs(w), xs, ws, 1, 1),
        c.O + EXTRA_ROUNDINGS,
        'input gradient',
      );
      report.push(`${c.N},${c.C}→${c.O},${c.H}×${c.W}: forward ${relFwd}; input gradient ${relDx}`);
    });
  }

  it('reports the largest error relative to Σ|w||x| and to the bound', () => {
    expect(report.length).toBe(cases.length);
    console.log(`Winograd F(4×4) max |error|:\n  ${report.join('\n  ')}`);
  });

  it('cuts the work as winograd4.ts says: tile-row blocks of one image, or groups of whole images padding least', () => {
    // 16→16 at 48×32: one image (96 tiles) per item; 48→16: blocks of 6 of its 12 tile rows
    const one = winograd4Spec(32, 16, 16, 48, 32, false, false);
    expect([one.g, one.blocks, one.Pi, one.Pg]).toEqual([1, 1, 96, 96]);
    const big = winograd4Spec(32, 48, 16, 48, 32, false, false);
    expect([big.g, big.TR, big.blocks, big.Pi, big.items]).toEqual([1, 6, 2, 48, 64]);
    const small = winograd4Spec(32, 64, 64, 12, 8, false, false);
    expect([small.g > 1, small.blocks, small.items >= 8, small.Pg]).toEqual([true, 1, true, small.Pi]);
    // 6 tiles an image: 4 images (24 tiles, no padding) rather than 2 (12, padded to 16)
    expect(winograd4Spec(32, 192, 64, 12, 8, false, false).Pg).toBe(winograd4Spec(32, 192, 64, 12, 8, false, false).Pi);
    expect(winograd4Spec(1, 40, 37, 48, 32, true, false).blocks).toBeGreaterThan(1);
    expect(winograd4Spec(1, 36, 36, 45, 30, false, false).blocks).toBeGreaterThan(1);
    expect(winograd4Spec(16, 3, 5, 5, 6, true, false).g).toBeGreaterThan(1);
  });

  it('fuses the ReLU: winograd4(relu) = max(winograd4, 0)', () => {
    const r = rng(5);
    const xs: S4 = [2, 6, 7, 9],
      ws: S4 = [10, 6, 3, 3];
    const x = randomF32(2 * 6 * 7 * 9, r),
      w = randomF32(10 * 6 * 9, r),
      b = randomF32(10, r);
    const plain = conv2dForwardWinograd(x, xs, w, ws, b, { stride: 1, padding: 1 }, false, 4).out;
    const fused = conv2dForwardWinograd(x, xs, w, ws, b, { stride: 1, padding: 1 }, true, 4).out;
    expect(fused).toEqual(plain.map((v) => Math.max(v, 0)));
    expect(plain.some((v) => v < 0)).toBe(true);
  });

  it('gives bit-identical results on 1 and 2 threads', () => {
    const r = rng(13);
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
        [8, 20, 6, 4],
        [12, 20, 3, 3],
      ],
    ];
    const data = convOperands(shapes, r);
    const run = () =>
      data.flatMap(({ xs, ws, x, w, b, dy }) => {
        const o = { stride: 1, padding: 1 };
        const ys: S4 = [xs[0], ws[0], xs[2], xs[3]];
        return [
          conv2dForwardWinograd(x, xs, w, ws, b, o, false, 4).out,
          conv2dBackwardInputWinograd(dy, ys, w, ws, xs, o, 4),
        ];
      });
    expectSameBitsOnOneAndTwoThreads(run);
  });

  it("'auto' takes F(4×4) for the forward pass and the input gradient of ResUNet-lite's 3×3 stride-1 layers but the stem", () => {
    const saved = getConvAlgorithm();
    const o = { stride: 1, padding: 1 };
    try {
      setConvAlgorithm('auto');
      // [C, O, H, W] of the layers (bench/_resunet.ts); the input gradient reduces over O into C
      const layers = [
        [16, 16, 48, 32],
        [32, 32, 24, 16],
        [64, 64, 12, 8],
        [128, 128, 6, 4],
        [192, 64, 12, 8],
        [96, 32, 24, 16],
        [48, 16, 48, 32],
      ];
      for (const [C, O, H, W] of layers as [number, number, number, number][]) {
        expect([
          winogradForwardChosen([32, C, H, W], [O, C, 3, 3], o),
          winogradTileFor(C, O, H, W),
          winogradTileFor(O, C, H, W),
        ]).toEqual([true, 4, 4]);
      }
      expect(winogradForwardChosen([32, 1, 48, 32], [16, 1, 3, 3], o)).toBe(false);
      // too few channels, or a map whose cut tiles do more than a third of the direct multiplications
      expect([winogradTileFor(8, 16, 48, 32), winogradTileFor(16, 16, 3, 3), winogradTileFor(16, 16, 5, 5)]).toEqual([
        2, 2, 2,
      ]);
      setConvAlgorithm('winograd');
      expect(winogradTileFor(64, 64, 12, 8)).toBe(2);
      setConvAlgorithm('winograd4');
      expect(winogradTileFor(1, 16, 48, 32)).toBe(4);
    } finally {
      setConvAlgorithm(saved);
    }
  });

  it("'winograd4' runs F(4×4) through the backend for the forward pass and the input gradient (the weight gradient: winograd4WeightGrad.test.ts)", () => {
    const savedAlgorithm = getConvAlgorithm();
    const savedKernels = cpuKernels();
    const r = rng(17);
    const xs: S4 = [2, 8, 10, 12],
      ws: S4 = [16, 8, 3, 3],
      ys: S4 = [2, 16, 10, 12];
    const x = randomF32(2 * 8 * 10 * 12, r),
      w = randomF32(16 * 8 * 9, r),
      dy = randomF32(2 * 16 * 10 * 12, r);
    const o = { stride: 1, padding: 1 };
    const input = (v: Float32Array, shape: readonly number[]) => ({
      dtype: 'float32' as const,
      shape,
      device: null,
      values: () => v,
    });
    setCpuKernels('wasm');
    try {
      setConvAlgorithm('winograd4');
      expect([
        winogradForwardChosen(xs, ws, o),
        winogradInputGradChosen(xs, ws, o),
        winogradWeightGradChosen(xs, ws, o),
      ]).toEqual([true, true, true]);
      const y = runKernel('Conv2D', [input(x, xs), input(w, ws)], o)[0]!.values as Float32Array;
      const dx = runKernel('Conv2DBackpropInput', [input(dy, ys), input(w, ws)], { ...o, xShape: xs })[0]!
        .values as Float32Array;
      expect(y).toEqual(conv2dForwardWinograd(x, xs, w, ws, null, o, false, 4).out);
      expect(dx).toEqual(conv2dBackwardInputWinograd(dy, ys, w, ws, xs, o, 4));
      // and the two tiles round differently
      expect(y.every((v, i) => v === conv2dForwardWinograd(x, xs, w, ws, null, o, false, 2).out[i])).toBe(false);
      expect(parseConvAlgorithm(' winograd4 ')).toBe('winograd4');
      expect(() => parseConvAlgorithm('winograd8')).toThrow(/auto, direct, winograd, winograd4/);
    } finally {
      setConvAlgorithm(savedAlgorithm);
      setCpuKernels(savedKernels);
    }
  });
});

/**
 * The algorithm in float32 in the kernel's order of operations (winograd4.ts: emitBT, emitAT, gRow4; the
 * products' sum from zero in channel order), with the constants passed in: `k` maps each constant's name to
 * its value. Only its last output's bits are not the kernel's (fused multiply-adds may round once less).
 */
type K = Record<'g4' | 'g6' | 'g24' | 'b4' | 'b2' | 'a2' | 'a4' | 'a8', number>;
const K_RIGHT: K = { g4: 0.25, g6: -6, g24: 24, b4: 4, b2: 2, a2: 2, a4: 4, a8: 8 };

function winograd4F32(x: Float32Array, [N, C, H, W]: S4, O: number, filt: Filter, k: K): Float64Array {
  const fr = Math.fround;
  const gRow = (v: number[]) => {
    const s02 = fr(v[0]! + v[2]!),
      w = fr(v[0]! + 4 * v[2]!),
      t1 = 2 * v[1]!;
    const g6 = fr(1 / k.g6),
      g24 = fr(1 / k.g24);
    return [
      fr(k.g4 * v[0]!),
      fr(fr(s02 + v[1]!) * g6),
      fr(fr(s02 - v[1]!) * g6),
      fr(fr(w + t1) * g24),
      fr(fr(w - t1) * g24),
      v[2]!,
    ];
  };
  const bT = (d: number[]) => {
    const e = fr(d[4]! - d[2]!),
      a = fr(d[4]! - k.b4 * d[2]!),
      b = fr(d[3]! - k.b4 * d[1]!),
      h = fr(d[3]! - d[1]!);
    return [
      fr(k.b4 * fr(d[0]! - d[2]!) + e),
      fr(a + b),
      fr(a - b),
      fr(e + k.b2 * h),
      fr(e - k.b2 * h),
      fr(fr(d[5]! - d[3]!) - k.b4 * h),
    ];
  };
  const aT = (m: number[]) => {
    const p = fr(m[1]! + m[2]!),
      q = fr(m[1]! - m[2]!),
      r = fr(m[3]! + m[4]!),
      s = fr(m[3]! - m[4]!);
    return [fr(fr(m[0]! + p) + r), fr(q + k.a2 * s), fr(p + k.a4 * r), fr(fr(q + k.a8 * s) + m[5]!)];
  };
  const U = new Float32Array(O * C * 36);
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++) {
      const f = filt(o, c);
      const cols = [0, 1, 2].map((j) => gRow([f[j]!, f[3 + j]!, f[6 + j]!]));
      for (let i = 0; i < 6; i++) {
        const row = gRow([cols[0]![i]!, cols[1]![i]!, cols[2]![i]!]);
        for (let j = 0; j < 6; j++) U[(o * C + c) * 36 + 6 * i + j] = row[j]!;
      }
    }
  const out = new Float64Array(N * O * H * W);
  const V = new Float32Array(C * 36);
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
          const M = new Array<number>(36).fill(0);
          for (let c = 0; c < C; c++)
            for (let xi = 0; xi < 36; xi++) M[xi] = fr(M[xi]! + fr(U[(o * C + c) * 36 + xi]! * V[c * 36 + xi]!));
          const rowsA = [0, 1, 2, 3, 4, 5].map((r) => aT(M.slice(6 * r, 6 * r + 6)));
          for (let j = 0; j < 4; j++) {
            const col = aT(rowsA.map((r) => r[j]!));
            for (let i = 0; i < 4; i++) {
              const oh = 4 * ti + i,
                ow = 4 * tj + j;
              if (oh < H && ow < W) out[((n * O + o) * H + oh) * W + ow] = col[i]!;
            }
          }
        }
      }
  return out;
}

describe('the F(4×4) bound catches a wrong constant', () => {
  const r = rng(9);
  const xs: S4 = [2, 6, 9, 11],
    O = 5;
  const x = randomF32(2 * 6 * 9 * 11, r),
    w = randomF32(O * 6 * 9, r);
  const filt = (o: number, c: number) => Array.from(w.subarray((o * 6 + c) * 9, (o * 6 + c + 1) * 9));
  const ws: S4 = [O, 6, 3, 3];
  const exact = conv2dRef(x, xs, w, ws, null, 1, 1).y;
  const S = absSum(x, xs, O, filt, null);
  const direct = conv2dRef(abs(x), xs, abs(w), ws, null, 1, 1).y;
  const check = (k: K) =>
    expectWithinBound(winograd4F32(x, xs, O, filt, k), exact, S, direct, 6 + EXTRA_ROUNDINGS, 'emulated');

  it('the float32 emulation with the right constants is within the bound', () => {
    expect(check(K_RIGHT)).toMatch(/of the bound/);
  });

  // each off by one part in 2^11 (a wrong float32 literal would be much further off), or a sign
  const planted: [keyof K, number][] = [
    ['g4', 0.25 * (1 + 2 ** -11)],
    ['g6', -6 * (1 + 2 ** -11)],
    ['g24', 24 * (1 + 2 ** -11)],
    ['b4', 4 * (1 + 2 ** -11)],
    ['b2', -2],
    ['a2', 2 * (1 + 2 ** -11)],
    ['a4', 4 * (1 + 2 ** -11)],
    ['a8', 8 * (1 + 2 ** -11)],
  ];
  for (const [name, value] of planted) {
    it(`fails with ${name} = ${value} instead of ${K_RIGHT[name]}`, () => {
      expect(() => check({ ...K_RIGHT, [name]: value })).toThrow(/the Winograd float32 bound/);
    });
  }
});
