/**
 * Float64 naive-loop references of the gpu kernels, for validating a device run (deviceBench.ts) where
 * no test framework is available (the tests have their own: test/kernels/gpu/_reference.ts). Deliberately plain: nested loops straight from the definitions.
 */

export type S4 = readonly [number, number, number, number];

export function convOutSize(n: number, k: number, s: number, p: number): number {
  return Math.floor((n + 2 * p - k) / s) + 1;
}

/** Calls f(n, o, oh, ow, c, kh, kw, xIndex, wIndex, yIndex) for every in-bounds tap of a conv. */
function forEachTap(xs: S4, ws: S4, s: number, p: number, f: (xi: number, wi: number, yi: number) => void): void {
  const [N, C, H, W] = xs;
  const [O, , KH, KW] = ws;
  const HO = convOutSize(H, KH, s, p),
    WO = convOutSize(W, KW, s, p);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < HO; oh++)
        for (let ow = 0; ow < WO; ow++) {
          const yi = ((n * O + o) * HO + oh) * WO + ow;
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * s - p + kh;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * s - p + kw;
                if (iw < 0 || iw >= W) continue;
                f(((n * C + c) * H + ih) * W + iw, ((o * C + c) * KH + kh) * KW + kw, yi);
              }
            }
        }
}

export function conv2dRef(
  x: ArrayLike<number>,
  xs: S4,
  w: ArrayLike<number>,
  ws: S4,
  b: ArrayLike<number> | null,
  s: number,
  p: number,
): Float64Array {
  const [N, , H, W] = xs;
  const [O, , KH, KW] = ws;
  const HO = convOutSize(H, KH, s, p),
    WO = convOutSize(W, KW, s, p);
  const y = new Float64Array(N * O * HO * WO);
  if (b) for (let i = 0; i < y.length; i++) y[i] = b[Math.floor(i / (HO * WO)) % O] as number;
  forEachTap(xs, ws, s, p, (xi, wi, yi) => {
    y[yi] = y[yi]! + (x[xi] as number) * (w[wi] as number);
  });
  return y;
}

export function conv2dBackpropInputRef(
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
  xs: S4,
  ws: S4,
  s: number,
  p: number,
): Float64Array {
  const dx = new Float64Array(xs[0] * xs[1] * xs[2] * xs[3]);
  forEachTap(xs, ws, s, p, (xi, wi, yi) => {
    dx[xi] = dx[xi]! + (dy[yi] as number) * (w[wi] as number);
  });
  return dx;
}

export function conv2dBackpropFilterRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  xs: S4,
  ws: S4,
  s: number,
  p: number,
): Float64Array {
  const dw = new Float64Array(ws[0] * ws[1] * ws[2] * ws[3]);
  forEachTap(xs, ws, s, p, (xi, wi, yi) => {
    dw[wi] = dw[wi]! + (dy[yi] as number) * (x[xi] as number);
  });
  return dw;
}

/** Per-channel sums of an NCHW array. */
export function channelSumsRef(a: ArrayLike<number>, shape: S4): Float64Array {
  const [N, C, H, W] = shape;
  const out = new Float64Array(C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H * W; i++) out[c] = out[c]! + (a[(n * C + c) * H * W + i] as number);
  return out;
}

/** Training-mode batch norm: normalised output with gamma, beta. */
export function batchNormTrainRef(
  x: ArrayLike<number>,
  shape: S4,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps: number,
): Float64Array {
  const [N, C, H, W] = shape;
  const m = N * H * W;
  const y = new Float64Array(x.length);
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) sum += x[(n * C + c) * H * W + i] as number;
    const mu = sum / m;
    let v = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) v += ((x[(n * C + c) * H * W + i] as number) - mu) ** 2;
    const is = 1 / Math.sqrt(v / m + eps);
    for (let n = 0; n < N; n++)
      for (let i = 0; i < H * W; i++) {
        const k = (n * C + c) * H * W + i;
        y[k] = (gamma[c] as number) * ((x[k] as number) - mu) * is + (beta[c] as number);
      }
  }
  return y;
}

export function upsample2xRef(x: ArrayLike<number>, shape: S4): Float64Array {
  const [N, C, H, W] = shape;
  const y = new Float64Array(N * C * 4 * H * W);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < 2 * H; oh++)
      for (let ow = 0; ow < 2 * W; ow++)
        y[(nc * 2 * H + oh) * 2 * W + ow] = x[(nc * H + (oh >> 1)) * W + (ow >> 1)] as number;
  return y;
}

/** max |got − want| / max(1e-3, max |want|). */
export function maxRelError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let scale = 1e-3,
    err = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i] as number));
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs((got[i] as number) - (want[i] as number));
    if (!(d <= err)) err = Number.isNaN(d) ? Infinity : Math.max(err, d);
  }
  return err / scale;
}

/** Deterministic uniform values in [-scale, scale), as float32. */
export function seededF32(n: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = scale * ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1);
  }
  return out;
}
