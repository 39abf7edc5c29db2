/**
 * 2-D convolution (cross-correlation, PyTorch semantics) over NCHW typed arrays: the readable reference.
 * One thread, plain loops, every sum in float64 and rounded once into the output's type. Each pass is the
 * formula it implements, with x[n, c, i·s − p + kh, j·s − p + kw] read as 0 outside the image:
 *
 *   forward          y[n,o,i,j]    = bias[o] + Σ_c Σ_kh Σ_kw  x[n, c, i·s−p+kh, j·s−p+kw] · w[o,c,kh,kw]
 *   input gradient   dx[n,c,h,w]  = Σ over (o, i, j, kh, kw) with i·s−p+kh = h, j·s−p+kw = w  of  dy[n,o,i,j] · w[o,c,kh,kw]
 *   weight gradient  dw[o,c,kh,kw] = Σ_n Σ_i Σ_j  dy[n,o,i,j] · x[n, c, i·s−p+kh, j·s−p+kw]
 *   bias gradient    db[o]         = Σ_n Σ_i Σ_j  dy[n,o,i,j]
 *
 * The loops run over whole output rows (the innermost index j moves along memory), which is what lets a
 * JavaScript engine run them at a useful speed without unrolling anything by hand.
 */
import type { TypedArray as F } from '../types.js';

export type Shape4 = [number, number, number, number];

export interface Conv2dOptions {
  stride: number;
  padding: number;
}

function allocLike(like: F, n: number): F {
  return like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}

function checkShape(name: string, s: readonly number[]): void {
  if (s.length !== 4 || s.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new Error(`conv2d: ${name} must be 4 non-negative integers, got [${s.join(', ')}]`);
  }
}

function checkLen(name: string, a: F, s: readonly number[]): void {
  const n = s.reduce((p, v) => p * v, 1);
  if (a.length !== n) throw new Error(`conv2d: ${name} has ${a.length} elements, shape [${s.join(', ')}] needs ${n}`);
}

export interface Geometry {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  s: number;
  p: number;
  HO: number;
  WO: number;
}

export function geometry(xShape: Shape4, wShape: Shape4, opts: Conv2dOptions): Geometry {
  checkShape('xShape', xShape);
  checkShape('wShape', wShape);
  const [N, C, H, W] = xShape;
  const [O, Cw, KH, KW] = wShape;
  const s = opts.stride;
  const p = opts.padding;
  if (!Number.isInteger(s) || s < 1) throw new Error(`conv2d: stride must be an integer ≥ 1, got ${s}`);
  if (!Number.isInteger(p) || p < 0) throw new Error(`conv2d: padding must be an integer ≥ 0, got ${p}`);
  if (Cw !== C) throw new Error(`conv2d: weight has ${Cw} input channels, input has ${C}`);
  if (KH < 1 || KW < 1) throw new Error('conv2d: kernel must be at least 1×1');
  const HO = Math.floor((H + 2 * p - KH) / s) + 1;
  const WO = Math.floor((W + 2 * p - KW) / s) + 1;
  if (HO < 1 || WO < 1)
    throw new Error(`conv2d: kernel ${KH}×${KW} larger than padded input ${H + 2 * p}×${W + 2 * p}`);
  return { N, C, H, W, O, KH, KW, s, p, HO, WO };
}

/** Output spatial size of a convolution. */
export function conv2dOutputShape(xShape: Shape4, wShape: Shape4, opts: Conv2dOptions): Shape4 {
  const g = geometry(xShape, wShape, opts);
  return [g.N, g.O, g.HO, g.WO];
}

/** dy must have the forward's output shape, and as many values. */
function checkDy(dy: F, dyShape: Shape4, outShape: Shape4): void {
  checkShape('dyShape', dyShape);
  if (dyShape.some((d, i) => d !== outShape[i])) {
    throw new Error(`conv2d: dy shape [${dyShape.join(', ')}] is not the output shape [${outShape.join(', ')}]`);
  }
  checkLen('dy', dy, dyShape);
}

/** The range of output indices i with 0 ≤ i·s − p + k < size (the taps of offset k that land inside the image). */
function inside(k: number, size: number, out: number, s: number, p: number): [number, number] {
  const lo = Math.max(0, Math.ceil((p - k) / s));
  const hi = Math.min(out, Math.floor((size - 1 + p - k) / s) + 1);
  return [lo, Math.max(lo, hi)];
}

/** Forward pass: y = conv(x, w) + bias. */
export function conv2dForward(
  x: F,
  xShape: Shape4,
  w: F,
  wShape: Shape4,
  bias: F | null,
  opts: Conv2dOptions,
): { out: F; outShape: Shape4 } {
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = geometry(xShape, wShape, opts);
  checkLen('x', x, xShape);
  checkLen('weight', w, wShape);
  if (bias !== null && bias.length !== O) throw new Error(`conv2d: bias has ${bias.length} elements, expected ${O}`);
  const out = allocLike(x, N * O * HO * WO);
  const acc = new Float64Array(HO * WO);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      acc.fill(bias === null ? 0 : bias[o]!);
      for (let c = 0; c < C; c++) {
        const xPlane = (n * C + c) * H * W;
        for (let kh = 0; kh < KH; kh++) {
          const [i0, i1] = inside(kh, H, HO, s, p);
          for (let kw = 0; kw < KW; kw++) {
            const wv = w[((o * C + c) * KH + kh) * KW + kw]!;
            const [j0, j1] = inside(kw, W, WO, s, p);
            for (let i = i0; i < i1; i++) {
              const xRow = xPlane + (i * s - p + kh) * W - p + kw;
              const aRow = i * WO;
              for (let j = j0; j < j1; j++) acc[aRow + j] = acc[aRow + j]! + wv * x[xRow + j * s]!;
            }
          }
        }
      }
      out.set(acc, (n * O + o) * HO * WO);
    }
  }
  return { out, outShape: [N, O, HO, WO] };
}

/** Input gradient: every dy[n,o,i,j] · w[o,c,kh,kw] added to the input pixel its tap read. */
export function conv2dBackwardInput(
  dy: F,
  dyShape: Shape4,
  w: F,
  wShape: Shape4,
  xShape: Shape4,
  opts: Conv2dOptions,
): F {
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = geometry(xShape, wShape, opts);
  checkDy(dy, dyShape, [N, O, HO, WO]);
  checkLen('weight', w, wShape);
  const dx = allocLike(dy, N * C * H * W);
  const acc = new Float64Array(H * W);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      acc.fill(0);
      for (let o = 0; o < O; o++) {
        const dyPlane = (n * O + o) * HO * WO;
        for (let kh = 0; kh < KH; kh++) {
          const [i0, i1] = inside(kh, H, HO, s, p);
          for (let kw = 0; kw < KW; kw++) {
            const wv = w[((o * C + c) * KH + kh) * KW + kw]!;
            const [j0, j1] = inside(kw, W, WO, s, p);
            for (let i = i0; i < i1; i++) {
              const aRow = (i * s - p + kh) * W - p + kw;
              const dRow = dyPlane + i * WO;
              for (let j = j0; j < j1; j++) acc[aRow + j * s] = acc[aRow + j * s]! + wv * dy[dRow + j]!;
            }
          }
        }
      }
      dx.set(acc, (n * C + c) * H * W);
    }
  }
  return dx;
}

/** Weight gradient: each weight's taps, summed over the batch and the output positions. */
export function conv2dBackwardWeight(
  dy: F,
  dyShape: Shape4,
  x: F,
  xShape: Shape4,
  wShape: Shape4,
  opts: Conv2dOptions,
): F {
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = geometry(xShape, wShape, opts);
  checkDy(dy, dyShape, [N, O, HO, WO]);
  checkLen('x', x, xShape);
  const dw = allocLike(dy, O * C * KH * KW);
  for (let o = 0; o < O; o++) {
    for (let c = 0; c < C; c++) {
      for (let kh = 0; kh < KH; kh++) {
        const [i0, i1] = inside(kh, H, HO, s, p);
        for (let kw = 0; kw < KW; kw++) {
          const [j0, j1] = inside(kw, W, WO, s, p);
          let sum = 0;
          for (let n = 0; n < N; n++) {
            const xPlane = (n * C + c) * H * W,
              dyPlane = (n * O + o) * HO * WO;
            for (let i = i0; i < i1; i++) {
              const xRow = xPlane + (i * s - p + kh) * W - p + kw;
              const dRow = dyPlane + i * WO;
              for (let j = j0; j < j1; j++) sum += dy[dRow + j]! * x[xRow + j * s]!;
            }
          }
          dw[((o * C + c) * KH + kh) * KW + kw] = sum;
        }
      }
    }
  }
  return dw;
}

/** dL/dbias: sum of dy [N,O,HO,WO] over N, HO, WO → [O] (dy's dtype, float64 accumulation). */
export function conv2dBackwardBias(dy: F, dyShape: Shape4): F {
  checkShape('dyShape', dyShape);
  checkLen('dy', dy, dyShape);
  const [N, O, HO, WO] = dyShape;
  const P = HO * WO;
  const db = allocLike(dy, O);
  for (let o = 0; o < O; o++) {
    let s = 0;
    for (let n = 0; n < N; n++) {
      let i = (n * O + o) * P;
      const e = i + P;
      for (; i < e; i++) s += dy[i]!;
    }
    db[o] = s;
  }
  return db;
}
