/**
 * Winograd F(2×2, 3×3) (src/kernels/wasm/winograd.ts; tile 2 passed explicitly) against the float64 nested-loop references
 * (test/kernels/gpu/_reference.ts, written from the definition of a convolution, not from Winograd's):
 * forward pass (with bias, with the fused ReLU), input gradient and weight gradient, on odd and even map sizes
 * (tiles cut by the border, maps narrower than a vector of tiles), channel counts that are and are not
 * multiples of the products' tiles (4 output channels × 8 tiles; 2 × 4 channels for the weight gradient),
 * batch 1, 3 and 16, the work split into tile-row blocks of one image and into groups of whole images.
 *
 * Tolerance, rigorous and so never flaky. The kernel computes y = Aᵀ[Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)]A in float32.
 * Expanded, y is a sum of exact terms a·(G-coefficient·g)·(B-coefficient·d); every one of them goes through
 * at most k = C + 12 roundings (input transform 2, weight transform 4 — its halvings are exact —, the product
 * 1, the sum over C channels C, output transform 4, bias 1), so (Higham, Accuracy and Stability of Numerical
 * Algorithms, §3.1)
 *
 *   |computed − exact| ≤ γ(k) · S,   S = |Aᵀ| [Σ_c (|G| |g_c| |G|ᵀ) ⊙ (|Bᵀ| |d_c| |B|)] |A| + |bias|,
 *
 * with γ(k) = k·u/(1 − k·u), u = 2^-24. S is the algorithm run on absolute values (computed here in float64
 * from the matrices written out below). It is where the transforms' constants show: S ≥ Σ|w||x| of the direct
 * sum (which bounds the direct kernels' error), because S also holds the products of weights and inputs that
 * the transforms add and then cancel; on these random operands S is up to 20× Σ|w||x| element by element, the
 * errors use 1–3 % of the bound, and relative to Σ|w||x| they are about 1e-7, as the direct kernels' (reported
 * beside the check). (A bound written as a multiple of Σ|w||x| alone cannot be
 * rigorous: the cancelled products do not appear in Σ|w||x|.)
 * The weight gradient Gᵀ[Σ_t (A dy_t Aᵀ) ⊙ (Bᵀ d_t B)]G has the same form of bound, over its own roundings
 * (src/kernels/wasm/winogradWeightGrad.ts) and its own S.
 */
import { describe, expect, it } from 'vitest';
import {
  conv2dBackwardInputWasm,
  conv2dBackwardWeightWasm,
  conv2dForwardWasm,
} from '../../../src/kernels/wasm/conv2d.js';
import {
  conv2dBackwardInputWinograd,
  conv2dBackwardWeightWinograd,
  conv2dForwardWinograd,
  getConvAlgorithm,
  parseConvAlgorithm,
  setConvAlgorithm,
  winogradForwardChosen,
  winogradInputGradChosen,
  winogradWeightGradChosen,
} from '../../../src/kernels/wasm/winogradConv.js';
import { wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import { winogradSpec } from '../../../src/kernels/wasm/winograd.js';
import { weightGradWinogradSpec } from '../../../src/kernels/wasm/winogradWeightGrad.js';
import { cpuKernels, runKernel, setCpuKernels } from '../../../src/kernels/engine.js';
import '../../../src/kernels/wasm/index.js';
import { conv2dBackFilterRef, conv2dBackInputRef, conv2dRef, randomF32, rng, type S4 } from '../gpu/_reference.js';
import { skipNote } from '../../_helpers/skipNote.js';
import {
  absValues,
  convOperands,
  expectSameBitsOnOneAndTwoThreads,
  expectWithinWinogradBound,
  winogradF64,
  winogradWeightGradF64,
  type Filter,
} from './_winogradReference.js';

const noSimd = skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later');

// The transforms (Lavin & Gray 2016), absolute values: |Bᵀ|, |G|, |Aᵀ|.
const BT_ABS = [
  [1, 0, 1, 0],
  [0, 1, 1, 0],
  [0, 1, 1, 0],
  [0, 1, 0, 1],
];
const G_ABS = [
  [1, 0, 0],
  [0.5, 0.5, 0.5],
  [0.5, 0.5, 0.5],
  [0, 0, 1],
];
const AT_ABS = [
  [1, 1, 1, 0],
  [0, 1, 1, 1],
];

/** S of the bound above for every output: F(2×2) on absolute values (_winogradReference.ts). */
const winogradAbsSum = (x: Float32Array, xs: S4, O: number, filt: Filter, bias: Float32Array | null) =>
  winogradF64(x, xs, O, filt, bias, { bt: BT_ABS, g: G_ABS, at: AT_ABS }, true);

/**
 * S of the weight gradient's bound (src/kernels/wasm/winogradWeightGrad.ts): for every weight (o, c, i, j),
 * Σ over images and tiles of |G|ᵀ [(|A| |dy_t| |A|ᵀ) ⊙ (|Bᵀ| |d_t| |B|)] |G|, dy_t the tile's 2×2 output
 * gradient (zeros outside the map), d_t its 4×4 input patch (zeros outside).
 */
const winogradWeightGradAbsSum = (dy: Float32Array, x: Float32Array, xs: S4, O: number) =>
  winogradWeightGradF64(dy, x, xs, O, { bt: BT_ABS, g: G_ABS, at: AT_ABS }, true);

const abs = absValues;

interface Case {
  N: number;
  C: number;
  O: number;
  H: number;
  W: number;
  bias: boolean;
  /** what the case reaches */
  why: string;
}

const cases: Case[] = [
  { N: 1, C: 1, O: 1, H: 1, W: 1, bias: true, why: 'one output: a single tile cut by the border both ways' },
  { N: 3, C: 3, O: 5, H: 7, W: 5, bias: true, why: 'odd height and width, channel counts not multiples of 4' },
  { N: 1, C: 16, O: 16, H: 12, W: 8, bias: false, why: 'even sizes, full vectors of tiles and product tiles' },
  { N: 2, C: 17, O: 9, H: 9, W: 13, bias: true, why: 'odd sizes, a partial last group of 8 outputs' },
  { N: 3, C: 5, O: 20, H: 6, W: 4, bias: false, why: 'a map narrower than a vector of tiles' },
  { N: 1, C: 24, O: 7, H: 48, W: 32, bias: true, why: 'a large map cut into tile-row blocks' },
  { N: 1, C: 12, O: 12, H: 45, W: 30, bias: false, why: 'odd height over many tile-row blocks (the last row alone)' },
  { N: 3, C: 2, O: 6, H: 3, W: 18, bias: true, why: 'odd height, width with a tail of 2' },
  { N: 16, C: 3, O: 5, H: 5, W: 6, bias: true, why: 'groups of whole images per item, odd height' },
];

describe.runIf(wasmSimdAvailable())('Winograd F(2×2, 3×3) vs float64 references', noSimd, () => {
  const report: string[] = [];
  for (const c of cases) {
    it(`N${c.N} ${c.C}→${c.O} ${c.H}×${c.W}${c.bias ? ' +bias' : ''}: ${c.why}`, () => {
      const r = rng(c.N * 1000 + c.C * 100 + c.O + c.H);
      const xs: S4 = [c.N, c.C, c.H, c.W],
        ws: S4 = [c.O, c.C, 3, 3],
        ys: S4 = [c.N, c.O, c.H, c.W];
      const x = randomF32(c.N * c.C * c.H * c.W, r);
      const w = randomF32(c.O * c.C * 9, r);
      const b = c.bias ? randomF32(c.O, r) : null;
      const dy = randomF32(c.N * c.O * c.H * c.W, r);
      const opts = { stride: 1, padding: 1 };

      const y = conv2dForwardWinograd(x, xs, w, ws, b, opts, false, 2);
      expect(y.outShape).toEqual(ys);
      const fwdFilter = (o: number, ch: number) => Array.from(w.subarray((o * c.C + ch) * 9, (o * c.C + ch + 1) * 9));
      const relFwd = expectWithinWinogradBound(
        y.out,
        conv2dRef(x, xs, w, ws, b, 1, 1).y,
        winogradAbsSum(x, xs, c.O, fwdFilter, b),
        conv2dRef(abs(x), xs, abs(w), ws, b && abs(b), 1, 1).y,
        c.C + 12,
        'forward',
      );

      // the input gradient is the convolution of dy with filter (c, o) = w[o][c] rotated by 180°
      const dx = conv2dBackwardInputWinograd(dy, ys, w, ws, xs, opts, 2);
      const flipped = (ch: number, o: number) => fwdFilter(o, ch).reverse();
      const relDx = expectWithinWinogradBound(
        dx,
        conv2dBackInputRef(dy, w, xs, ws, 1, 1),
        winogradAbsSum(dy, ys, c.C, flipped, null),
        conv2dBackInputRef(abs(dy), abs(w), xs, ws, 1, 1),
        c.O + 12,
        'input gradient',
      );
      // the weight gradient: roundings as its file says, from the work cut (Pg tiles per item, K items)
      const dw = conv2dBackwardWeightWinograd(dy, ys, x, xs, ws, opts, 2);
      const spec = weightGradWinogradSpec(c.N, c.C, c.O, c.H, c.W);
      const relDw = expectWithinWinogradBound(
        dw,
        conv2dBackFilterRef(dy, x, xs, ws, 1, 1),
        winogradWeightGradAbsSum(dy, x, xs, c.O),
        conv2dBackFilterRef(abs(dy), abs(x), xs, ws, 1, 1),
        spec.Pg / 4 + spec.items + 11,
        'weight gradient',
      );
      report.push(`${c.N},${c.C}→${c.O},${c.H}×${c.W}: ${relFwd} / ${relDx} / ${relDw}`);
    });
  }

  it('reports the largest error relative to Σ|w||x| (forward / input gradient / weight gradient)', () => {
    // informational: the bound above is what is checked; these show the size of the error in the direct
    // kernels' terms (their bound is γ(9C + 1) ≈ (9C + 1)·6e-8 relative to Σ|w||x|)
    expect(report.length).toBe(cases.length);
    console.log(`Winograd max |error| / Σ|w||x|:\n  ${report.join('\n  ')}`);
  });

  it('cuts the work as the comments say: tile-row blocks of one image, or groups of whole images', () => {
    const big = winogradSpec(32, 16, 16, 48, 32, false, false);
    expect([big.g, big.blocks > 1, big.Pi % 8]).toEqual([1, true, 0]);
    const small = winogradSpec(32, 64, 64, 12, 8, false, false);
    expect(small.g).toBeGreaterThan(1);
    expect(small.blocks).toBe(1);
    expect(small.items).toBeGreaterThanOrEqual(8);
    // the cases above reach both
    expect(winogradSpec(1, 24, 7, 48, 32, true, false).blocks).toBeGreaterThan(1);
    expect(winogradSpec(1, 12, 12, 45, 30, false, false).blocks).toBeGreaterThan(1);
    expect(winogradSpec(16, 3, 5, 5, 6, true, false).g).toBeGreaterThan(1);
  });

  it("'auto' takes Winograd for ResUNet-lite's 3×3 stride-1 layers of 16 channels and more on maps of 8 columns and more, all three passes", () => {
    const saved = getConvAlgorithm();
    const o = { stride: 1, padding: 1 };
    try {
      setConvAlgorithm('auto');
      const fwd = (C: number, O: number, H: number, W: number) => winogradForwardChosen([32, C, H, W], [O, C, 3, 3], o);
      const dx = (C: number, O: number, H: number, W: number) =>
        winogradInputGradChosen([32, C, H, W], [O, C, 3, 3], o);
      const dw = (C: number, O: number, H: number, W: number) =>
        winogradWeightGradChosen([32, C, H, W], [O, C, 3, 3], o);
      expect([
        fwd(16, 16, 48, 32),
        dx(16, 16, 48, 32),
        dw(16, 16, 48, 32),
        fwd(48, 16, 48, 32),
        dx(48, 16, 48, 32),
      ]).toEqual([true, true, true, true, true]);
      expect([fwd(64, 64, 12, 8), fwd(192, 64, 12, 8), dx(96, 32, 24, 16), dw(96, 32, 24, 16)]).toEqual([
        true,
        true,
        true,
        true,
      ]);
      // the stem (one input channel), few channels
      expect([fwd(1, 16, 48, 32), dw(1, 16, 48, 32), fwd(8, 16, 48, 32)]).toEqual([false, false, false]);
      // the 6×4 map, where F(2×2) would pad half its tiles, runs all three passes on F(4×4) (winograd4.test.ts,
      // winograd4WeightGrad.test.ts)
      expect([fwd(128, 128, 6, 4), dx(128, 128, 6, 4), dw(128, 128, 6, 4)]).toEqual([true, true, true]);
      setConvAlgorithm('winograd');
      expect([fwd(1, 16, 48, 32), fwd(128, 128, 6, 4)]).toEqual([true, true]);
    } finally {
      setConvAlgorithm(saved);
    }
  });

  it('reads SIZESEG_CONV_ALGORITHM: the three names, auto when unset, a clear error otherwise', () => {
    expect([undefined, '', 'direct', ' winograd ', 'auto'].map(parseConvAlgorithm)).toEqual([
      'auto',
      'auto',
      'direct',
      'winograd',
      'auto',
    ]);
    expect(() => parseConvAlgorithm('fast')).toThrow(
      /SIZESEG_CONV_ALGORITHM=fast: expected one of auto, direct, winograd/,
    );
  });

  it('fuses the ReLU: winograd(relu) = max(winograd, 0)', () => {
    const r = rng(5);
    const xs: S4 = [2, 6, 7, 9],
      ws: S4 = [10, 6, 3, 3];
    const x = randomF32(2 * 6 * 7 * 9, r),
      w = randomF32(10 * 6 * 9, r),
      b = randomF32(10, r);
    const plain = conv2dForwardWinograd(x, xs, w, ws, b, { stride: 1, padding: 1 }, false, 2).out;
    const fused = conv2dForwardWinograd(x, xs, w, ws, b, { stride: 1, padding: 1 }, true, 2).out;
    expect(fused).toEqual(plain.map((v) => Math.max(v, 0)));
    expect(plain.some((v) => v < 0)).toBe(true);
  });

  it('fails on a wrong answer (the bound is not vacuous)', () => {
    const r = rng(9);
    const xs: S4 = [1, 4, 6, 6],
      ws: S4 = [8, 4, 3, 3];
    const x = randomF32(144, r),
      w = randomF32(288, r);
    const y = conv2dForwardWinograd(x, xs, w, ws, null, { stride: 1, padding: 1 }, false, 2).out;
    y[17] = y[17]! * (1 + 1e-3);
    const filt = (o: number, c: number) => Array.from(w.subarray((o * 4 + c) * 9, (o * 4 + c + 1) * 9));
    expect(() =>
      expectWithinWinogradBound(
        y,
        conv2dRef(x, xs, w, ws, null, 1, 1).y,
        winogradAbsSum(x, xs, 8, filt, null),
        conv2dRef(abs(x), xs, abs(w), ws, null, 1, 1).y,
        16,
        'forward',
      ),
    ).toThrow(/element 17/);
  });

  it('gives bit-identical results on 1 and 2 threads', () => {
    const r = rng(13);
    // both ways of cutting the work: tile-row blocks (48×32) and groups of images (12×8)
    const shapes: [S4, S4][] = [
      [
        [4, 16, 48, 32],
        [24, 16, 3, 3],
      ],
      [
        [16, 40, 12, 8],
        [36, 40, 3, 3],
      ],
    ];
    const data = convOperands(shapes, r);
    const run = () =>
      data.flatMap(({ xs, ws, x, w, b, dy }) => {
        const o = { stride: 1, padding: 1 };
        const ys: S4 = [xs[0], ws[0], xs[2], xs[3]];
        return [
          conv2dForwardWinograd(x, xs, w, ws, b, o, false, 2).out,
          conv2dBackwardInputWinograd(dy, ys, w, ws, xs, o, 2),
          conv2dBackwardWeightWinograd(dy, ys, x, xs, ws, o, 2),
        ];
      });
    expectSameBitsOnOneAndTwoThreads(run);
  });

  it("runs the backend's kernels on the algorithm setConvAlgorithm chooses", () => {
    const saved = getConvAlgorithm();
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
    const viaBackend = () => [
      runKernel('Conv2D', [input(x, xs), input(w, ws)], o)[0]!.values as Float32Array,
      runKernel('Conv2DBackpropInput', [input(dy, ys), input(w, ws)], { ...o, xShape: xs })[0]!.values as Float32Array,
      runKernel('Conv2DBackpropFilter', [input(dy, ys), input(x, xs)], { ...o, wShape: ws })[0]!.values as Float32Array,
    ];
    const savedKernels = cpuKernels();
    setCpuKernels('wasm');
    try {
      setConvAlgorithm('winograd');
      expect([
        winogradForwardChosen(xs, ws, o),
        winogradInputGradChosen(xs, ws, o),
        winogradWeightGradChosen(xs, ws, o),
      ]).toEqual([true, true, true]);
      const [yw, dxw, dww] = viaBackend();
      expect(yw).toEqual(conv2dForwardWinograd(x, xs, w, ws, null, o, false, 2).out);
      expect(dxw).toEqual(conv2dBackwardInputWinograd(dy, ys, w, ws, xs, o, 2));
      expect(dww).toEqual(conv2dBackwardWeightWinograd(dy, ys, x, xs, ws, o));
      setConvAlgorithm('direct');
      const [yd, dxd, dwd] = viaBackend();
      expect(yd).toEqual(conv2dForwardWasm(x, xs, w, ws, null, o).out);
      expect(dxd).toEqual(conv2dBackwardInputWasm(dy, ys, w, ws, xs, o));
      expect(dwd).toEqual(conv2dBackwardWeightWasm(dy, ys, x, xs, ws, o));
      // the two algorithms round differently
      expect([yd, dxd, dwd].map((v, i) => v!.every((e, j) => e === [yw, dxw, dww][i]![j]))).toEqual([
        false,
        false,
        false,
      ]);
      // Winograd never takes strides, other paddings or other kernel sizes
      expect(winogradForwardChosen(xs, ws, { stride: 2, padding: 1 })).toBe(false);
      setConvAlgorithm('winograd');
      expect(winogradForwardChosen(xs, [16, 8, 1, 1], { stride: 1, padding: 0 })).toBe(false);
      expect(() => setConvAlgorithm('fast' as 'auto')).toThrow(/auto, direct, winograd/);
    } finally {
      setConvAlgorithm(saved);
      setCpuKernels(savedKernels);
    }
  });
});
