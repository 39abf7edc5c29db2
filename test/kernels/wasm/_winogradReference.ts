/**
 * Float64 references for the Winograd convolution tests (winograd.test.ts: F(2×2, 3×3); winograd4.test.ts and
 * winograd4WeightGrad.test.ts: F(4×4, 3×3)): the algorithm itself in float64 with any transform matrices, which
 * on absolute values (|Bᵀ|, |G|, |Aᵀ|, |x|, |g|) is the S of the float32 bound |computed − exact| ≤ γ(k)·S, and
 * the element-wise check of that bound. Written from the formula Y = Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A and
 * its adjoint for the weight gradient, not from the kernels. Also the tests' shared check that a kernel's
 * results do not depend on the thread count.
 */
import { expect } from 'vitest';
import { getNumThreads, setNumThreads } from '../../../src/kernels/wasm/threads.js';
import { randomF32, type S4 } from '../gpu/_reference.js';

const u = 2 ** -24;
/** γ(m) = m·u / (1 − m·u), u = 2⁻²⁴: the bound of m float32 roundings (Higham §3.1). */
export const gamma = (m: number) => (m * u) / (1 - m * u);

/** Element-wise absolute values of a matrix. */
export const absMatrix = (m: number[][]) => m.map((r) => r.map(Math.abs));

/** The 3×3 filter (row-major) of output channel o and input channel c. */
export type Filter = (o: number, c: number) => number[];

/** A Winograd algorithm F(m×m, 3×3): Bᵀ (p×p, p = m + 2), G (p×3), Aᵀ (m×p). */
export interface WinogradMatrices {
  bt: number[][];
  g: number[][];
  at: number[][];
}

/**
 * V[c] = Bᵀ d B for every channel c of image n, d the p×p input patch of tile (ti, tj) at input rows m·ti − 1 …,
 * columns m·tj − 1 … (zeros outside the map), in float64; `a` is the identity or Math.abs (for S).
 */
function inputTransformF64(
  x: Float32Array,
  [, C, H, W]: S4,
  n: number,
  ti: number,
  tj: number,
  bt: readonly (readonly number[])[],
  m: number,
  a: (v: number) => number,
  V: Float64Array,
): void {
  const p = bt.length,
    P = p * p;
  for (let c = 0; c < C; c++)
    for (let r = 0; r < p; r++)
      for (let s = 0; s < p; s++) {
        let v = 0;
        for (let i = 0; i < p; i++)
          for (let j = 0; j < p; j++) {
            const ih = m * ti - 1 + i,
              iw = m * tj - 1 + j;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            v += bt[r]![i]! * a(x[((n * C + c) * H + ih) * W + iw]!) * bt[s]![j]!;
          }
        V[c * P + p * r + s] = v;
      }
}

/**
 * The Winograd algorithm with the given matrices in float64 (on absolute values of the operands when `absolute`):
 * the stride-1, padding-1 3×3 convolution of x [N][C][H][W] with the filters filt(o, c), O outputs, plus bias.
 * With the matrices' absolute values and absolute = true it is S of the bound.
 */
export function winogradF64(
  x: Float32Array,
  [N, C, H, W]: S4,
  O: number,
  filt: Filter,
  bias: Float32Array | null,
  { bt, g, at }: WinogradMatrices,
  absolute: boolean,
): Float64Array {
  const p = bt.length,
    m = at.length,
    P = p * p;
  const a = absolute ? Math.abs : (v: number) => v;
  const out = new Float64Array(N * O * H * W);
  const U = new Float64Array(O * C * P);
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++) {
      const f = filt(o, c).map(a);
      for (let r = 0; r < p; r++)
        for (let s = 0; s < p; s++) {
          let v = 0;
          for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) v += g[r]![i]! * f[3 * i + j]! * g[s]![j]!;
          U[(o * C + c) * P + p * r + s] = v;
        }
    }
  const V = new Float64Array(C * P);
  const Msum = new Float64Array(P);
  for (let n = 0; n < N; n++)
    for (let ti = 0; ti < Math.ceil(H / m); ti++)
      for (let tj = 0; tj < Math.ceil(W / m); tj++) {
        inputTransformF64(x, [N, C, H, W], n, ti, tj, bt, m, a, V);
        for (let o = 0; o < O; o++) {
          Msum.fill(0);
          for (let c = 0; c < C; c++) for (let k = 0; k < P; k++) Msum[k]! += U[(o * C + c) * P + k]! * V[c * P + k]!;
          for (let i = 0; i < m; i++)
            for (let j = 0; j < m; j++) {
              const oh = m * ti + i,
                ow = m * tj + j;
              if (oh >= H || ow >= W) continue;
              let v = bias === null ? 0 : a(bias[o]!);
              for (let r = 0; r < p; r++) for (let s = 0; s < p; s++) v += at[i]![r]! * Msum[p * r + s]! * at[j]![s]!;
              out[((n * O + o) * H + oh) * W + ow] = v;
            }
        }
      }
  return out;
}

/** F(4×4, 3×3) (Lavin & Gray 2016), as written out in src/kernels/wasm/winograd4.ts. */
export const F4_MATRICES: WinogradMatrices = {
  bt: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  g: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
  at: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
};

/**
 * The weight gradient of the stride-1, padding-1 3×3 convolution of x [N][C][H][W] (O output channels) by the
 * Winograd algorithm with the given matrices in float64 (on absolute values of dy and x when `absolute`):
 * dg[o][c] = Gᵀ [Σ_t (A dy_t Aᵀ) ⊙ (Bᵀ d_t B)] G, A = (Aᵀ)ᵀ, dy_t the tile's m×m output gradient and d_t its
 * p×p input patch (zeros outside the map). With the matrices' absolute values and absolute = true it is S of
 * the weight gradient's bound.
 */
export function winogradWeightGradF64(
  dy: Float32Array,
  x: Float32Array,
  [N, C, H, W]: S4,
  O: number,
  { bt, g, at }: WinogradMatrices,
  absolute: boolean,
): Float64Array {
  const p = bt.length,
    m = at.length,
    P = p * p;
  const a = absolute ? Math.abs : (v: number) => v;
  const M = new Float64Array(O * C * P);
  const D = new Float64Array(O * P),
    V = new Float64Array(C * P);
  for (let n = 0; n < N; n++)
    for (let ti = 0; ti < Math.ceil(H / m); ti++)
      for (let tj = 0; tj < Math.ceil(W / m); tj++) {
        // A dy_t Aᵀ: (A)[r][i] = Aᵀ[i][r]
        for (let o = 0; o < O; o++)
          for (let r = 0; r < p; r++)
            for (let s = 0; s < p; s++) {
              let v = 0;
              for (let i = 0; i < m; i++)
                for (let j = 0; j < m; j++) {
                  const oh = m * ti + i,
                    ow = m * tj + j;
                  if (oh >= H || ow >= W) continue;
                  v += at[i]![r]! * a(dy[((n * O + o) * H + oh) * W + ow]!) * at[j]![s]!;
                }
              D[o * P + p * r + s] = v;
            }
        inputTransformF64(x, [N, C, H, W], n, ti, tj, bt, m, a, V);
        for (let o = 0; o < O; o++)
          for (let c = 0; c < C; c++)
            for (let k = 0; k < P; k++) M[(o * C + c) * P + k]! += D[o * P + k]! * V[c * P + k]!;
      }
  // Gᵀ M G for every (o, c)
  const dg = new Float64Array(O * C * 9);
  for (let oc = 0; oc < O * C; oc++)
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        let v = 0;
        for (let r = 0; r < p; r++) for (let s = 0; s < p; s++) v += g[r]![i]! * M[oc * P + p * r + s]! * g[s]![j]!;
        dg[oc * 9 + 3 * i + j] = v;
      }
  return dg;
}

/**
 * Every element within γ(k)·S; throws naming the worst offender otherwise. Returns, for the report, the largest
 * error relative to Σ|w||x| (`absDirect`), how much of the bound it used, and the largest S/Σ|w||x|.
 */
export function expectWithinWinogradBound(
  got: ArrayLike<number>,
  exact: Float64Array,
  S: Float64Array,
  absDirect: Float64Array,
  k: number,
  what: string,
): string {
  expect(got.length).toBe(exact.length);
  const g = gamma(k);
  let worstRel = 0,
    ofBound = 0,
    sRatio = 0;
  for (let i = 0; i < exact.length; i++) {
    const err = Math.abs(got[i]! - exact[i]!);
    if (!(err <= g * S[i]! + 1e-30)) {
      throw new Error(
        `${what}: element ${i} is ${got[i]} vs exact ${exact[i]}, ${(err / (g * S[i]!)).toFixed(2)}× the Winograd float32 bound`,
      );
    }
    if (S[i]! > 0) ofBound = Math.max(ofBound, err / (g * S[i]!));
    if (absDirect[i]! > 0) {
      worstRel = Math.max(worstRel, err / absDirect[i]!);
      sRatio = Math.max(sRatio, S[i]! / absDirect[i]!);
    }
  }
  return `${worstRel.toExponential(1)} of Σ|w||x| (${(100 * ofBound).toFixed(1)} % of the bound; S ≤ ${sRatio.toFixed(1)}·Σ|w||x|)`;
}

export const absValues = (a: Float32Array) => a.map(Math.abs);

/** Random operands of a 3×3 stride-1 convolution per [x shape, w shape]: x, w, bias, and dy of the output's shape. */
export function convOperands(shapes: readonly [S4, S4][], r: () => number) {
  return shapes.map(([xs, ws]) => ({
    xs,
    ws,
    x: randomF32(xs[0] * xs[1] * xs[2] * xs[3], r),
    w: randomF32(ws[0] * ws[1] * 9, r),
    b: randomF32(ws[0], r),
    dy: randomF32(xs[0] * ws[0] * xs[2] * xs[3], r),
  }));
}

/** `run` on 1 and on 2 threads gives the same arrays bit for bit (the thread setting is restored after). */
export function expectSameBitsOnOneAndTwoThreads(run: () => Float32Array[]): void {
  const saved = getNumThreads();
  try {
    setNumThreads(1);
    const one = run();
    setNumThreads(2);
    const two = run();
    expect(two).toHaveLength(one.length);
    for (let i = 0; i < one.length; i++)
      expect(Buffer.from(two[i]!.buffer).equals(Buffer.from(one[i]!.buffer))).toBe(true);
  } finally {
    setNumThreads(saved);
  }
}
