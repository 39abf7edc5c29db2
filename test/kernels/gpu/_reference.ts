/**
 * Float64 naive-loop references for the gpu kernels (written independently of the kernels: plain nested
 * loops over the definitions), a seeded RNG, and comparison helpers.
 */
import { expect } from 'vitest';
import { makeRng, randArray } from '../../_helpers/random.js';

export type S4 = [number, number, number, number];

/** Seeded uniform generator for test data (mulberry32). */
export const rng = makeRng;

/** Uniform in [-1, 1), rounded to float32 so that the float64 reference sees the same inputs. */
export function randomF32(n: number, r: () => number, scale = 1, offset = 0): Float32Array {
  return randArray(r, n, true, scale, offset) as Float32Array;
}

export const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function outSize(n: number, k: number, s: number, p: number): number {
  return Math.floor((n + 2 * p - k) / s) + 1;
}

export function conv2dRef(
  x: ArrayLike<number>,
  xs: S4,
  w: ArrayLike<number>,
  ws: S4,
  b: ArrayLike<number> | null,
  s: number,
  p: number,
): { y: Float64Array; ys: S4 } {
  const [N, C, H, W] = xs;
  const [O, , KH, KW] = ws;
  const HO = outSize(H, KH, s, p),
    WO = outSize(W, KW, s, p);
  const y = new Float64Array(N * O * HO * WO);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < HO; oh++)
        for (let ow = 0; ow < WO; ow++) {
          let acc = b ? (b[o] as number) : 0;
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * s - p + kh,
                  iw = ow * s - p + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc +=
                  (x[((n * C + c) * H + ih) * W + iw] as number) * (w[((o * C + c) * KH + kh) * KW + kw] as number);
              }
          y[((n * O + o) * HO + oh) * WO + ow] = acc;
        }
  return { y, ys: [N, O, HO, WO] };
}

/** dx = convᵀ(dy): scatter form (independent of the gather form the kernel uses). */
export function conv2dBackInputRef(
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
  xs: S4,
  ws: S4,
  s: number,
  p: number,
): Float64Array {
  const [N, C, H, W] = xs;
  const [O, , KH, KW] = ws;
  const HO = outSize(H, KH, s, p),
    WO = outSize(W, KW, s, p);
  const dx = new Float64Array(size(xs));
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < HO; oh++)
        for (let ow = 0; ow < WO; ow++) {
          const g = dy[((n * O + o) * HO + oh) * WO + ow] as number;
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * s - p + kh,
                  iw = ow * s - p + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                dx[((n * C + c) * H + ih) * W + iw]! += g * (w[((o * C + c) * KH + kh) * KW + kw] as number);
              }
        }
  return dx;
}

export function conv2dBackFilterRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  xs: S4,
  ws: S4,
  s: number,
  p: number,
): Float64Array {
  const [N, C, H, W] = xs;
  const [O, , KH, KW] = ws;
  const HO = outSize(H, KH, s, p),
    WO = outSize(W, KW, s, p);
  const dw = new Float64Array(size(ws));
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < HO; oh++)
        for (let ow = 0; ow < WO; ow++) {
          const g = dy[((n * O + o) * HO + oh) * WO + ow] as number;
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * s - p + kh,
                  iw = ow * s - p + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                dw[((o * C + c) * KH + kh) * KW + kw]! += g * (x[((n * C + c) * H + ih) * W + iw] as number);
              }
        }
  return dw;
}

export function channelSumRef(a: ArrayLike<number>, s: S4): Float64Array {
  const [N, C, H, W] = s;
  const out = new Float64Array(C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) out[c]! += a[(n * C + c) * H * W + i] as number;
  return out;
}

export interface BnRef {
  y: Float64Array;
  mean: Float64Array;
  invStd: Float64Array;
  runningMean: Float64Array;
  runningVar: Float64Array;
}

export function batchNormRef(
  x: ArrayLike<number>,
  s: S4,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  rm: ArrayLike<number>,
  rv: ArrayLike<number>,
  training: boolean,
  momentum: number,
  eps: number,
): BnRef {
  const [N, C, H, W] = s;
  const m = N * H * W;
  const mean = new Float64Array(C),
    invStd = new Float64Array(C);
  const runningMean = Float64Array.from(rm),
    runningVar = Float64Array.from(rv);
  for (let c = 0; c < C; c++) {
    if (training) {
      let sum = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) sum += x[(n * C + c) * H * W + i] as number;
      const mu = sum / m;
      let v = 0;
      for (let n = 0; n < N; n++)
        for (let i = 0; i < H * W; i++) v += ((x[(n * C + c) * H * W + i] as number) - mu) ** 2;
      mean[c] = mu;
      invStd[c] = 1 / Math.sqrt(v / m + eps);
      runningMean[c] = (1 - momentum) * runningMean[c]! + momentum * mu;
      runningVar[c] = (1 - momentum) * runningVar[c]! + momentum * (v / (m - 1));
    } else {
      mean[c] = rm[c] as number;
      invStd[c] = 1 / Math.sqrt((rv[c] as number) + eps);
    }
  }
  const y = new Float64Array(size(s));
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H * W; i++) {
        const k = (n * C + c) * H * W + i;
        y[k] = (gamma[c] as number) * ((x[k] as number) - mean[c]!) * invStd[c]! + (beta[c] as number);
      }
  return { y, mean, invStd, runningMean, runningVar };
}

/** Training-mode batch-norm gradients, from the textbook formula. */
export function batchNormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  s: S4,
  gamma: ArrayLike<number>,
  eps: number,
) {
  const [N, C, H, W] = s;
  const m = N * H * W;
  const ref = batchNormRef(
    x,
    s,
    gamma,
    new Float64Array(C),
    new Float64Array(C),
    new Float64Array(C).fill(1),
    true,
    0.1,
    eps,
  );
  const dx = new Float64Array(size(s)),
    dgamma = new Float64Array(C),
    dbeta = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let sdy = 0,
      sdyxh = 0;
    for (let n = 0; n < N; n++)
      for (let i = 0; i < H * W; i++) {
        const k = (n * C + c) * H * W + i;
        const xh = ((x[k] as number) - ref.mean[c]!) * ref.invStd[c]!;
        sdy += dy[k] as number;
        sdyxh += (dy[k] as number) * xh;
      }
    dbeta[c] = sdy;
    dgamma[c] = sdyxh;
    for (let n = 0; n < N; n++)
      for (let i = 0; i < H * W; i++) {
        const k = (n * C + c) * H * W + i;
        const xh = ((x[k] as number) - ref.mean[c]!) * ref.invStd[c]!;
        dx[k] = (((gamma[c] as number) * ref.invStd[c]!) / m) * (m * (dy[k] as number) - sdy - xh * sdyxh);
      }
  }
  return { dx, dgamma, dbeta, mean: ref.mean, invStd: ref.invStd };
}

export function upsampleRef(x: ArrayLike<number>, s: S4): Float64Array {
  const [N, C, H, W] = s;
  const y = new Float64Array(N * C * 4 * H * W);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < 2 * H; oh++)
      for (let ow = 0; ow < 2 * W; ow++)
        y[(nc * 2 * H + oh) * 2 * W + ow] = x[(nc * H + (oh >> 1)) * W + (ow >> 1)] as number;
  return y;
}

export function concatRef(parts: { a: ArrayLike<number>; s: S4 }[]): { y: Float64Array; ys: S4 } {
  const [N, , H, W] = parts[0]!.s;
  const CT = parts.reduce((t, p) => t + p.s[1], 0);
  const y = new Float64Array(N * CT * H * W);
  for (let n = 0; n < N; n++) {
    let c0 = 0;
    for (const p of parts) {
      const C = p.s[1];
      for (let c = 0; c < C; c++)
        for (let i = 0; i < H * W; i++) y[(n * CT + c0 + c) * H * W + i] = p.a[(n * C + c) * H * W + i] as number;
      c0 += C;
    }
  }
  return { y, ys: [N, CT, H, W] };
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** Max |got − want| relative to the largest |want| (at least 1e-3, so all-zero references compare absolutely). */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let scale = 1e-3,
    err = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i] as number));
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs((got[i] as number) - (want[i] as number)));
  return err / scale;
}

export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what = ''): void {
  const e = relErr(got, want);
  if (!(e <= tol)) throw new Error(`${what}: relative error ${e.toExponential(2)} > ${tol}`);
}
