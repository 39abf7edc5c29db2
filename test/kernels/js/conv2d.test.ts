import { describe, expect, it } from 'vitest';
import {
  conv2dBackwardBias,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  conv2dOutputShape,
} from '../../../src/kernels/js/index.js';
import type { Shape4 } from '../../../src/kernels/js/index.js';
import { makeRng, randArray, relErr } from '../../_helpers/random.js';

type F = Float32Array | Float64Array;

interface Geo {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  s: number;
  p: number;
}

function outHW(g: Geo): [number, number] {
  return [Math.floor((g.H + 2 * g.p - g.KH) / g.s) + 1, Math.floor((g.W + 2 * g.p - g.KW) / g.s) + 1];
}

/** Float64 references with the plain 7 nested loops: y, dx, dw. */
function reference(g: Geo, x: F, w: F, bias: F | null, dy: F | null) {
  const { N, C, H, W, O, KH, KW, s, p } = g;
  const [HO, WO] = outHW(g);
  const y = new Float64Array(N * O * HO * WO);
  const dx = new Float64Array(N * C * H * W);
  const dw = new Float64Array(O * C * KH * KW);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      for (let oh = 0; oh < HO; oh++) {
        for (let ow = 0; ow < WO; ow++) {
          const yi = ((n * O + o) * HO + oh) * WO + ow;
          let acc = bias === null ? 0 : bias[o]!;
          const gy = dy === null ? 0 : dy[yi]!;
          for (let c = 0; c < C; c++) {
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * s - p + kh;
                const iw = ow * s - p + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const xi = ((n * C + c) * H + ih) * W + iw;
                const wi = ((o * C + c) * KH + kh) * KW + kw;
                acc += x[xi]! * w[wi]!;
                dx[xi] = dx[xi]! + gy * w[wi]!;
                dw[wi] = dw[wi]! + gy * x[xi]!;
              }
            }
          }
          y[yi] = acc;
        }
      }
    }
  }
  return { y, dx, dw };
}

function randomGeo(rng: () => number): Geo {
  const k = rng() < 0.4 ? 1 : rng() < 0.85 ? 3 : 2;
  const KW = rng() < 0.8 ? k : k + 1;
  const s = rng() < 0.6 ? 1 : 2 + (rng() < 0.2 ? 1 : 0);
  const p = rng() < 0.4 ? 0 : rng() < 0.9 ? 1 : 2;
  return {
    N: rng() < 0.3 ? 1 : 1 + Math.floor(rng() * 3),
    C: 1 + Math.floor(rng() * 5),
    O: 1 + Math.floor(rng() * 9),
    H: Math.max(k, 1 + Math.floor(rng() * 12)),
    W: Math.max(KW, 1 + Math.floor(rng() * 19)),
    KH: k,
    KW,
    s,
    p,
  };
}

describe('conv2d forward / backward vs 7-loop reference', () => {
  const rng = makeRng(42);
  const geos: Geo[] = [
    { N: 1, C: 1, H: 1, W: 1, O: 1, KH: 1, KW: 1, s: 1, p: 0 },
    { N: 2, C: 3, H: 7, W: 5, O: 5, KH: 3, KW: 3, s: 1, p: 1 },
    { N: 1, C: 2, H: 9, W: 11, O: 6, KH: 3, KW: 3, s: 2, p: 1 },
    { N: 3, C: 4, H: 8, W: 6, O: 4, KH: 1, KW: 1, s: 2, p: 0 },
    { N: 2, C: 5, H: 6, W: 13, O: 9, KH: 3, KW: 3, s: 1, p: 0 },
    { N: 1, C: 3, H: 5, W: 4, O: 3, KH: 2, KW: 3, s: 1, p: 2 },
    { N: 2, C: 2, H: 12, W: 8, O: 8, KH: 3, KW: 3, s: 3, p: 1 },
    { N: 1, C: 1, H: 48, W: 32, O: 16, KH: 3, KW: 3, s: 1, p: 1 },
  ];
  for (let i = 0; i < 40; i++) geos.push(randomGeo(rng));

  for (const f32 of [false, true]) {
    it(`${f32 ? 'float32' : 'float64'}: ${geos.length} shapes (odd sizes, stride 1/2/3, padding 0/1/2, 1×1/3×3/2×3)`, () => {
      const tol = f32 ? 1e-5 : 1e-10;
      for (const g of geos) {
        const { N, C, H, W, O, KH, KW, s, p } = g;
        const xShape: Shape4 = [N, C, H, W];
        const wShape: Shape4 = [O, C, KH, KW];
        const x = randArray(rng, N * C * H * W, f32);
        const w = randArray(rng, O * C * KH * KW, f32);
        const bias = rng() < 0.5 ? randArray(rng, O, f32) : null;
        const [HO, WO] = outHW(g);
        const dy = randArray(rng, N * O * HO * WO, f32);
        const ref = reference(g, x, w, bias, dy);
        const opts = { stride: s, padding: p };
        const tag = JSON.stringify(g);

        const { out, outShape } = conv2dForward(x, xShape, w, wShape, bias, opts);
        expect(outShape, tag).toEqual([N, O, HO, WO]);
        expect(conv2dOutputShape(xShape, wShape, opts)).toEqual(outShape);
        expect(out instanceof Float32Array, tag).toBe(f32);
        expect(relErr(out, ref.y), `fwd ${tag}`).toBeLessThan(tol);

        const dx = conv2dBackwardInput(dy, outShape, w, wShape, xShape, opts);
        expect(dx instanceof Float32Array, tag).toBe(f32);
        expect(relErr(dx, ref.dx), `dx ${tag}`).toBeLessThan(tol);

        const dw = conv2dBackwardWeight(dy, outShape, x, xShape, wShape, opts);
        expect(dw instanceof Float32Array, tag).toBe(f32);
        expect(relErr(dw, ref.dw), `dw ${tag}`).toBeLessThan(tol);

        const db = conv2dBackwardBias(dy, outShape);
        const dbRef = new Float64Array(O);
        for (let n = 0; n < N; n++)
          for (let o = 0; o < O; o++)
            for (let q = 0; q < HO * WO; q++) dbRef[o] = dbRef[o]! + dy[(n * O + o) * HO * WO + q]!;
        expect(relErr(db, dbRef), `db ${tag}`).toBeLessThan(tol);
      }
    });
  }

  it('canonical model shapes (batch 2) match the reference in float32', () => {
    const shapes: [Geo][] = [
      [{ N: 2, C: 1, H: 48, W: 32, O: 16, KH: 3, KW: 3, s: 1, p: 1 }],
      [{ N: 2, C: 16, H: 48, W: 32, O: 32, KH: 3, KW: 3, s: 2, p: 1 }],
      [{ N: 2, C: 32, H: 24, W: 16, O: 64, KH: 1, KW: 1, s: 2, p: 0 }],
      [{ N: 2, C: 192, H: 12, W: 8, O: 64, KH: 3, KW: 3, s: 1, p: 1 }],
      [{ N: 2, C: 128, H: 6, W: 4, O: 128, KH: 3, KW: 3, s: 1, p: 1 }],
      [{ N: 2, C: 16, H: 48, W: 32, O: 1, KH: 1, KW: 1, s: 1, p: 0 }],
    ];
    for (const [g] of shapes) {
      const x = randArray(rng, g.N * g.C * g.H * g.W, true);
      const w = randArray(rng, g.O * g.C * g.KH * g.KW, true);
      const [HO, WO] = outHW(g);
      const dy = randArray(rng, g.N * g.O * HO * WO, true);
      const ref = reference(g, x, w, null, dy);
      const opts = { stride: g.s, padding: g.p };
      const xs: Shape4 = [g.N, g.C, g.H, g.W];
      const wsh: Shape4 = [g.O, g.C, g.KH, g.KW];
      const { out, outShape } = conv2dForward(x, xs, w, wsh, null, opts);
      expect(relErr(out, ref.y)).toBeLessThan(1e-5);
      expect(relErr(conv2dBackwardInput(dy, outShape, w, wsh, xs, opts), ref.dx)).toBeLessThan(1e-5);
      expect(relErr(conv2dBackwardWeight(dy, outShape, x, xs, wsh, opts), ref.dw)).toBeLessThan(1e-5);
    }
  });
});

describe('conv2d gradient check (central finite differences, float64)', () => {
  const cases: Geo[] = [
    { N: 2, C: 2, H: 5, W: 6, O: 3, KH: 3, KW: 3, s: 1, p: 1 },
    { N: 1, C: 3, H: 7, W: 5, O: 2, KH: 3, KW: 3, s: 2, p: 1 },
    { N: 2, C: 2, H: 6, W: 4, O: 3, KH: 1, KW: 1, s: 2, p: 0 },
    { N: 1, C: 2, H: 4, W: 5, O: 2, KH: 2, KW: 3, s: 1, p: 0 },
  ];
  for (const g of cases) {
    it(JSON.stringify(g), () => {
      const rng = makeRng(g.C * 100 + g.H);
      const { N, C, H, W, O, KH, KW, s, p } = g;
      const xShape: Shape4 = [N, C, H, W];
      const wShape: Shape4 = [O, C, KH, KW];
      const opts = { stride: s, padding: p };
      const x = randArray(rng, N * C * H * W, false) as Float64Array;
      const w = randArray(rng, O * C * KH * KW, false) as Float64Array;
      const b = randArray(rng, O, false) as Float64Array;
      const [HO, WO] = outHW(g);
      const R = randArray(rng, N * O * HO * WO, false);
      const loss = (): number => {
        const { out } = conv2dForward(x, xShape, w, wShape, b, opts);
        let sum = 0;
        for (let i = 0; i < out.length; i++) sum += out[i]! * R[i]!;
        return sum;
      };
      const dx = conv2dBackwardInput(R, [N, O, HO, WO], w, wShape, xShape, opts);
      const dw = conv2dBackwardWeight(R, [N, O, HO, WO], x, xShape, wShape, opts);
      const db = conv2dBackwardBias(R, [N, O, HO, WO]);
      const h = 1e-6;
      const fd = (arr: Float64Array, i: number): number => {
        const v = arr[i]!;
        arr[i] = v + h;
        const lp = loss();
        arr[i] = v - h;
        const lm = loss();
        arr[i] = v;
        return (lp - lm) / (2 * h);
      };
      for (const [arr, grad] of [
        [x, dx],
        [w, dw],
        [b, db],
      ] as const) {
        for (let i = 0; i < arr.length; i++) {
          const num = fd(arr, i);
          expect(Math.abs(num - grad[i]!), `index ${i}`).toBeLessThan(1e-7 * Math.max(1, Math.abs(num)));
        }
      }
    });
  }
});

describe('conv2d forward sums', () => {
  it('a float32 forward is the 7-loop float64 sum (bias, then c, kh, kw in order) rounded once, bit for bit', () => {
    const rng = makeRng(5);
    const geos: Geo[] = [
      { N: 3, C: 8, H: 17, W: 15, O: 6, KH: 3, KW: 3, s: 1, p: 1 },
      { N: 2, C: 5, H: 24, W: 16, O: 7, KH: 3, KW: 3, s: 2, p: 1 },
      { N: 2, C: 9, H: 12, W: 10, O: 4, KH: 1, KW: 1, s: 2, p: 0 },
    ];
    for (const g of geos) {
      const x = randArray(rng, g.N * g.C * g.H * g.W, true);
      const w = randArray(rng, g.O * g.C * g.KH * g.KW, true);
      const bias = randArray(rng, g.O, true);
      const { out } = conv2dForward(x, [g.N, g.C, g.H, g.W], w, [g.O, g.C, g.KH, g.KW], bias, {
        stride: g.s,
        padding: g.p,
      });
      expect(Array.from(out)).toEqual(Array.from(Float32Array.from(reference(g, x, w, bias, null).y)));
    }
  });
});

describe('conv2d argument checks', () => {
  it('rejects mismatched shapes', () => {
    const x = new Float32Array(2 * 3 * 4 * 4);
    const w = new Float32Array(5 * 3 * 3 * 3);
    expect(() => conv2dForward(x, [2, 3, 4, 4], w, [5, 2, 3, 3], null, { stride: 1, padding: 1 })).toThrow(
      /input channels/,
    );
    expect(() => conv2dForward(x, [2, 3, 4, 5], w, [5, 3, 3, 3], null, { stride: 1, padding: 1 })).toThrow(/elements/);
    expect(() =>
      conv2dForward(x, [2, 3, 4, 4], w, [5, 3, 3, 3], new Float32Array(4), { stride: 1, padding: 1 }),
    ).toThrow(/bias/);
    expect(() => conv2dForward(x, [2, 3, 4, 4], w, [5, 3, 3, 3], null, { stride: 0, padding: 1 })).toThrow(/stride/);
    expect(() =>
      conv2dForward(x, [2, 3, 4, 4], new Float32Array(5 * 3 * 25), [5, 3, 5, 5], null, { stride: 1, padding: 0 }),
    ).toThrow(/larger/);
    const dy = new Float32Array(2 * 5 * 4 * 4);
    expect(() =>
      conv2dBackwardInput(dy, [2, 5, 4, 3], w, [5, 3, 3, 3], [2, 3, 4, 4], { stride: 1, padding: 1 }),
    ).toThrow(/dy shape/);
  });
});
