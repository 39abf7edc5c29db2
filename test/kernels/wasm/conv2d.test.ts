/**
 * The WebAssembly convolution kernels against float64 nested-loop references (test/kernels/gpu/_reference.ts,
 * written from the definitions), on shapes chosen to hit every code path: odd sizes, stride 1 and 2,
 * padding 0/1/2, batch 1, 1×1, 3×3 and non-square kernels, non-square images, channel counts that are not
 * multiples of the SIMD tiles (16 output channels for the forward pass, 8 for the weight gradient, 2 × 4
 * (channel, tap) pairs for its dot-product kernel, 4 output channels × 8 positions for the pointwise kernel).
 *
 * Tolerance, rigorous and so never flaky: float32 accumulation of a sum of k products obeys
 * |computed − exact| ≤ γ(k+1) · Σ|terms| with γ(m) = m·u/(1 − m·u), u = 2^-24 (Higham, Accuracy and
 * Stability of Numerical Algorithms, §3.1). Σ|terms| is the same reference applied to |x| and |w|.
 */
import { describe, expect, it } from 'vitest';
import {
  conv2dBackwardInputWasm,
  conv2dBackwardWeightWasm,
  conv2dForwardWasm,
} from '../../../src/kernels/wasm/conv2d.js';
import { setNumThreads, getNumThreads } from '../../../src/kernels/wasm/threads.js';
import { wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import {
  conv2dBackFilterRef,
  conv2dBackInputRef,
  conv2dRef,
  outSize,
  randomF32,
  rng,
  type S4,
} from '../gpu/_reference.js';
import { skipNote } from '../../_helpers/skipNote.js';
import { describeEachFmaMode } from '../../_helpers/fmaModes.js';

const noSimd = skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later');

const u = 2 ** -24;
const gamma = (m: number) => (m * u) / (1 - m * u);

/** Every element within the float32 summation bound; reports the worst element otherwise. */
function expectWithinBound(
  got: Float32Array,
  exact: Float64Array,
  absSum: Float64Array,
  terms: number,
  what: string,
): void {
  expect(got.length).toBe(exact.length);
  const g = gamma(terms + 1);
  let worst = -1,
    worstRatio = 0;
  for (let i = 0; i < exact.length; i++) {
    const bound = g * absSum[i]! + 1e-30;
    const ratio = Math.abs(got[i]! - exact[i]!) / bound;
    if (!(ratio <= 1)) {
      worst = i;
      worstRatio = ratio;
      break;
    }
  }
  if (worst >= 0)
    throw new Error(
      `${what}: element ${worst} is ${got[worst]} vs exact ${exact[worst]}, ${worstRatio.toFixed(2)}× the float32 bound`,
    );
}

const abs = (a: Float32Array) => a.map(Math.abs);

interface Case {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  s: number;
  p: number;
  bias: boolean;
}

const cases: Case[] = [
  { N: 2, C: 3, H: 7, W: 5, O: 5, KH: 3, KW: 3, s: 1, p: 1, bias: true },
  { N: 3, C: 9, H: 8, W: 6, O: 13, KH: 3, KW: 3, s: 2, p: 1, bias: false },
  { N: 1, C: 4, H: 5, W: 9, O: 3, KH: 1, KW: 1, s: 2, p: 0, bias: true },
  { N: 2, C: 16, H: 12, W: 8, O: 16, KH: 3, KW: 3, s: 1, p: 1, bias: false },
  { N: 2, C: 5, H: 6, W: 7, O: 17, KH: 1, KW: 1, s: 1, p: 0, bias: true },
  { N: 2, C: 3, H: 9, W: 9, O: 4, KH: 3, KW: 3, s: 2, p: 0, bias: false },
  { N: 1, C: 2, H: 5, W: 5, O: 3, KH: 3, KW: 3, s: 1, p: 2, bias: true },
  { N: 1, C: 19, H: 11, W: 3, O: 33, KH: 3, KW: 3, s: 2, p: 1, bias: true },
  { N: 2, C: 7, H: 6, W: 10, O: 9, KH: 3, KW: 1, s: 1, p: 1, bias: false },
  { N: 3, C: 1, H: 16, W: 12, O: 16, KH: 3, KW: 3, s: 1, p: 1, bias: false },
  { N: 2, C: 24, H: 6, W: 4, O: 20, KH: 3, KW: 3, s: 1, p: 1, bias: true },
  // an output map over 96 positions: the channel-vectorised weight gradient in its images-outer loop order
  // (the smaller maps above take the tiles-outer one)
  { N: 2, C: 9, H: 12, W: 10, O: 10, KH: 3, KW: 3, s: 1, p: 1, bias: false },
  { N: 1, C: 6, H: 4, W: 4, O: 2, KH: 2, KW: 2, s: 2, p: 0, bias: false },
  // 1×1 stride 2 with an image of 90 values: the input gradient zeroes the tapless phases with vector
  // stores and a scalar tail
  { N: 2, C: 3, H: 5, W: 6, O: 6, KH: 1, KW: 1, s: 2, p: 0, bias: false },
  // 1×1 without padding and a multiple of 8 output positions: the pointwise kernels (pointwise.ts), stride 2
  // on odd grids (subsampled input, scattered input gradient), output channels not a multiple of 4, the head
  { N: 2, C: 6, H: 7, W: 15, O: 6, KH: 1, KW: 1, s: 2, p: 0, bias: true },
  { N: 1, C: 9, H: 8, W: 16, O: 13, KH: 1, KW: 1, s: 2, p: 0, bias: false },
  { N: 3, C: 16, H: 8, W: 8, O: 1, KH: 1, KW: 1, s: 1, p: 0, bias: true },
  // one output channel on the single-output kernel with a partial channel group and rows of 24 positions
  // (2 vectors per step), stride 2
  { N: 2, C: 6, H: 6, W: 16, O: 1, KH: 1, KW: 1, s: 2, p: 0, bias: true },
  // stride 1 with output rows a multiple of 4 wide: the weight gradient's dot-product kernel
  // (weightGradDot.ts), with an odd number of output channels, partial channel blocks and tiles
  { N: 2, C: 5, H: 6, W: 8, O: 7, KH: 3, KW: 3, s: 1, p: 1, bias: false },
  { N: 1, C: 3, H: 5, W: 10, O: 1, KH: 3, KW: 3, s: 1, p: 0, bias: true },
  { N: 3, C: 11, H: 4, W: 12, O: 4, KH: 1, KW: 1, s: 1, p: 0, bias: false },
  { N: 2, C: 30, H: 3, W: 4, O: 5, KH: 3, KW: 3, s: 1, p: 1, bias: false },
];

describe.runIf(wasmSimdAvailable())('WebAssembly convolution kernels vs float64 references', noSimd, () => {
  // every case with separate multiplications and additions, and with fused multiply-adds (multiplyAdd.ts), which
  // round once per term instead of twice: the same bound holds for both
  describeEachFmaMode(() => forEachCase());
});

function forEachCase(): void {
  for (const c of cases) {
    const name = `N${c.N} ${c.C}→${c.O} ${c.H}×${c.W} k${c.KH}×${c.KW} s${c.s} p${c.p}${c.bias ? ' +bias' : ''}`;
    it(name, () => {
      const r = rng(c.N * 1000 + c.C * 100 + c.O);
      const xs: S4 = [c.N, c.C, c.H, c.W];
      const ws: S4 = [c.O, c.C, c.KH, c.KW];
      const HO = outSize(c.H, c.KH, c.s, c.p),
        WO = outSize(c.W, c.KW, c.s, c.p);
      const ys: S4 = [c.N, c.O, HO, WO];
      const x = randomF32(c.N * c.C * c.H * c.W, r);
      const w = randomF32(c.O * c.C * c.KH * c.KW, r);
      const b = c.bias ? randomF32(c.O, r) : null;
      const dy = randomF32(c.N * c.O * HO * WO, r);
      const opts = { stride: c.s, padding: c.p };
      const K = c.C * c.KH * c.KW;

      const y = conv2dForwardWasm(x, xs, w, ws, b, opts);
      expect(y.outShape).toEqual(ys);
      expectWithinBound(
        y.out,
        conv2dRef(x, xs, w, ws, b, c.s, c.p).y,
        conv2dRef(abs(x), xs, abs(w), ws, b && abs(b), c.s, c.p).y,
        K + 1,
        'forward',
      );

      const dx = conv2dBackwardInputWasm(dy, ys, w, ws, xs, opts);
      expectWithinBound(
        dx,
        conv2dBackInputRef(dy, w, xs, ws, c.s, c.p),
        conv2dBackInputRef(abs(dy), abs(w), xs, ws, c.s, c.p),
        c.O * c.KH * c.KW,
        'input gradient',
      );

      const dw = conv2dBackwardWeightWasm(dy, ys, x, xs, ws, opts);
      expectWithinBound(
        dw,
        conv2dBackFilterRef(dy, x, xs, ws, c.s, c.p),
        conv2dBackFilterRef(abs(dy), abs(x), xs, ws, c.s, c.p),
        c.N * HO * WO,
        'weight gradient',
      );
    });
  }
}

describe.runIf(wasmSimdAvailable())('WebAssembly convolution kernels: fused ReLU, a planted error', noSimd, () => {
  it('fuses the ReLU into the forward pass: conv2d(relu) = max(conv2d, 0), for the gather, the pointwise and the single-output kernels', () => {
    const r = rng(21);
    for (const [xs, ws, p] of [
      [[2, 5, 6, 7], [9, 5, 3, 3], 1],
      [[2, 8, 8, 16], [6, 8, 1, 1], 0],
      [[2, 5, 8, 8], [1, 5, 1, 1], 0],
    ] as [S4, S4, number][]) {
      const x = randomF32(
          xs.reduce((a, b) => a * b),
          r,
        ),
        w = randomF32(
          ws.reduce((a, b) => a * b),
          r,
        ),
        b = randomF32(ws[0], r);
      const plain = conv2dForwardWasm(x, xs, w, ws, b, { stride: 1, padding: p }).out;
      const fused = conv2dForwardWasm(x, xs, w, ws, b, { stride: 1, padding: p }, true).out;
      expect(fused).toEqual(plain.map((v) => Math.max(v, 0)));
    }
  });

  it('fails on a wrong answer (the bound is not vacuous)', () => {
    const r = rng(7);
    const xs: S4 = [1, 4, 6, 6],
      ws: S4 = [8, 4, 3, 3];
    const x = randomF32(144, r),
      w = randomF32(288, r);
    const y = conv2dForwardWasm(x, xs, w, ws, null, { stride: 1, padding: 1 }).out;
    y[17] = y[17]! * (1 + 1e-4);
    expect(() =>
      expectWithinBound(
        y,
        conv2dRef(x, xs, w, ws, null, 1, 1).y,
        conv2dRef(abs(x), xs, abs(w), ws, null, 1, 1).y,
        37,
        'forward',
      ),
    ).toThrow(/element 17/);
  });

  it('gives bit-identical results on 1 and 2 threads (the work split does not depend on the thread count)', () => {
    const saved = getNumThreads();
    const r = rng(11);
    const xs: S4 = [8, 16, 24, 16],
      ws: S4 = [32, 16, 3, 3];
    const x = randomF32(8 * 16 * 24 * 16, r),
      w = randomF32(32 * 16 * 9, r),
      b = randomF32(32, r);
    const dy = randomF32(8 * 32 * 12 * 8, r);
    const run = () => {
      const o = { stride: 2, padding: 1 };
      const y = conv2dForwardWasm(x, xs, w, ws, b, o).out;
      return [
        y,
        conv2dBackwardInputWasm(dy, [8, 32, 12, 8], w, ws, xs, o),
        conv2dBackwardWeightWasm(dy, [8, 32, 12, 8], x, xs, ws, o),
      ];
    };
    // the head (16→1 1×1 at 48×32, batch 32): few FLOPs but megabytes moved, so it is shared out too
    const hx: S4 = [32, 16, 48, 32],
      hw: S4 = [1, 16, 1, 1],
      hy: S4 = [32, 1, 48, 32];
    const hxv = randomF32(32 * 16 * 48 * 32, r),
      hwv = randomF32(16, r),
      hbv = randomF32(1, r),
      hdy = randomF32(32 * 48 * 32, r);
    const head = () => {
      const o = { stride: 1, padding: 0 };
      return [
        conv2dForwardWasm(hxv, hx, hwv, hw, hbv, o).out,
        conv2dBackwardInputWasm(hdy, hy, hwv, hw, hx, o),
        conv2dBackwardWeightWasm(hdy, hy, hxv, hx, hw, o),
      ];
    };
    try {
      setNumThreads(1);
      const one = run();
      const headOne = head();
      setNumThreads(2);
      const two = run();
      const headTwo = head();
      for (let i = 0; i < 3; i++) expect(Buffer.from(two[i]!.buffer).equals(Buffer.from(one[i]!.buffer))).toBe(true);
      for (let i = 0; i < 3; i++)
        expect(Buffer.from(headTwo[i]!.buffer).equals(Buffer.from(headOne[i]!.buffer))).toBe(true);
    } finally {
      setNumThreads(saved);
    }
  });

  it('refuses mismatched shapes with a message that names them', () => {
    const x = new Float32Array(2 * 3 * 5 * 5),
      w = new Float32Array(4 * 3 * 9);
    expect(() => conv2dForwardWasm(x, [2, 3, 5, 5], w, [4, 2, 3, 3], null, { stride: 1, padding: 1 })).toThrow(
      /input channels/,
    );
    expect(() =>
      conv2dBackwardInputWasm(new Float32Array(10), [2, 4, 5, 4], w, [4, 3, 3, 3], [2, 3, 5, 5], {
        stride: 1,
        padding: 1,
      }),
    ).toThrow(/dy shape/);
  });
});
