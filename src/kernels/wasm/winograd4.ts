/**
 * Winograd F(4×4, 3×3) for 3×3 convolutions with stride 1 and padding 1 (Lavin & Gray 2016): the same
 * formula as F(2×2, 3×3) (winograd.ts), Y = Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A, on 4×4 tiles of outputs from
 * the 6×6 input patches under them. 36 products per tile and channel pair give 16 outputs: 2.25
 * multiplications per output where F(2×2) does 4 and the direct kernel 9.
 *
 *   Bᵀ = | 4  0 −5  0  1  0 |   G = |  ¼     0     0  |   Aᵀ = | 1  1  1  1  1  0 |
 *        | 0 −4 −4  1  1  0 |       | −⅙    −⅙    −⅙  |        | 0  1 −1  2 −2  0 |
 *        | 0  4 −4 −1  1  0 |       | −⅙     ⅙    −⅙  |        | 0  1  1  4  4  0 |
 *        | 0 −2 −1  2  1  0 |       | 1⁄24  1⁄12  ⅙  |        | 0  1 −1  8 −8  1 |
 *        | 0  2 −1 −2  1  0 |       | 1⁄24 −1⁄12  ⅙  |
 *        | 0  4  0 −5  0  1 |       |  0     0     1  |
 *
 * Two generated modules, as for F(2×2): the weight transform (four filters at a time, in float32) and the
 * convolution. One work item = a fixed set of tiles
 * (a block of tile rows of one image, or a few whole images), in three stages:
 *   1. the input transform over four tiles at a time. The four tiles are the item's tiles 4k … 4k + 3 in
 *      row-major order, wherever they lie: a map 2 tiles wide (12×8) puts two tile rows in one vector, and no
 *      lane is padding except at the end of an item. Each tile's patch row is one vector load (columns 0–3)
 *      and one 64-bit load (4–5); a 4×4 transpose and four shuffles turn the four tiles' rows into the six
 *      columns d0 … d5 with one tile per lane. Then Bᵀ along the rows and down the columns, into V[ξ][c][tile].
 *   2. the 36 products M[ξ] = U[ξ]·V[ξ] on the pointwise kernel's tile (winograd.ts: emitProducts).
 *   3. the output transform over four tiles at a time, plus bias and ReLU; a 4×4 transpose per output row
 *      turns lanes = tiles back into each tile's four neighbouring outputs, one vector store per tile and row
 *      (lane by lane for tiles cut by the map's border).
 *   Every output is computed inside one item in a fixed order, so the thread count never changes a bit.
 *
 * Accuracy (float32; test/kernels/wasm/winograd4.test.ts): every exact term a·(G-coefficient·g)·(B-coefficient·d)
 * of an output goes through at most C + 20 roundings — input transform 4 (2 per direction: every row of Bᵀ is
 * evaluated as a sum of two rounded differences, e.g. 4(d0 − d2) + (d4 − d2), the factors 2 and 4 being exact),
 * weight transform 8 (4 per direction: two sums, ⅙ or 1⁄24 rounded to float32, the product),
 * the product 1, the sum over C channels C, output transform 6 (3 per direction) and the bias 1 — so
 * |computed − exact| ≤ γ(C + 20)·S, S the algorithm on absolute values, as for F(2×2). Aᵀ's 8s and Bᵀ's 5s make S
 * larger relative to Σ|w||x| than F(2×2)'s (the test reports both).
 */
import { type ModuleBuilder, f32, f32x4, i32, i32x4, v128, type Expr, type FunctionBuilder, type Local } from './emitter.js';
import { newKernelModule } from './runtime.js';
import {
  emitProducts,
  GEMM_COLS,
  ITEM_BYTES,
  itemsWithWorkAreas,
  largestDivisorAtMost,
  MIN_ITEMS,
  setStride,
  TV,
  type WeightTransformSpec,
  type WinogradCut,
} from './winograd.js';

/** Positions of a transformed tile (6×6). */
export const XI4 = 36;

/** The plan of one F(4×4) convolution: the product's sizes and how tiles are cut into work items. */
export interface Winograd4Spec extends WinogradCut {
  /** Tile rows and tile columns of a map (⌈H/4⌉, ⌈W/4⌉). */
  tH: number;
  tW: number;
  /**
   * The padded input planes: Hp = 4·tH + 2 rows, Wp = 4·tW + 2 columns, the image at (1, 1). No such planes are
   * made: each item pads the rows it reads, one channel at a time, into its work area (see padRows).
   */
  Hp: number;
  Wp: number;
  /** Rows of an item's padded rows per image (4·TR + 2) and floats of its padded-rows buffer (g images, a multiple of 4). */
  padRowsPerImage: number;
  padFloats: number;
  /**
   * 4-byte words of one thread's work area: V [36][vStride], M [36][mStride], the tile tables (Pg words for the
   * input's offsets, 3 × Pg for the output's offsets, rows and columns), then the padded rows of one channel.
   */
  workFloats: number;
}

const padded = (tiles: number) => Math.ceil(tiles / GEMM_COLS) * GEMM_COLS;

/**
 * Images per item when whole images fit: among the divisors of N that leave at least MIN_ITEMS items and fit
 * `fit` images in ITEM_BYTES, the one whose tiles pad least to the products' 8 columns (the padding is
 * multiplied like real tiles), the largest of those; where all of them pad, a divisor up to twice `fit` that
 * pads nothing (192→64 at 12×8: 6 tiles an image, 4 images = 24 tiles instead of 2 = 12 padded to 16).
 */
function imagesPerItem(N: number, perImage: number, fit: number): number {
  const most = N / Math.min(N, MIN_ITEMS);
  let best = 1;
  for (let d = 1; d <= Math.min(fit, most); d++) {
    if (N % d !== 0) continue;
    const waste = (x: number) => padded(x * perImage) / (x * perImage);
    if (waste(d) <= waste(best)) best = d;
  }
  if ((best * perImage) % GEMM_COLS === 0) return best;
  for (let d = best + 1; d <= Math.min(2 * fit, most); d++) if (N % d === 0 && (d * perImage) % GEMM_COLS === 0) return d;
  return best;
}

/** The plan for N images of C → O channels at H×W: items of about ITEM_BYTES of V and M. */
export function winograd4Spec(N: number, C: number, O: number, H: number, W: number, bias: boolean, relu: boolean): Winograd4Spec {
  const tH = Math.ceil(H / 4), tW = Math.ceil(W / 4);
  const perImage = tH * tW;
  const tilesFit = Math.max(GEMM_COLS, Math.floor(ITEM_BYTES / (XI4 * (C + O) * 4)));
  let g = 1, TR = tH;
  if (perImage <= tilesFit) g = imagesPerItem(N, perImage, Math.max(1, Math.floor(tilesFit / perImage)));
  else TR = largestDivisorAtMost(tH, tilesFit / tW);
  return winograd4Cut(N, C, O, H, W, bias, relu, g, TR);
}

/**
 * The plan for a given cut: g whole images per item (g divides N; then TR = ⌈H/4⌉), or TR tile rows (dividing
 * ⌈H/4⌉) of one image per item (g = 1). The weight gradient (winograd4WeightGrad.ts) cuts its own way.
 */
export function winograd4Cut(
  N: number, C: number, O: number, H: number, W: number, bias: boolean, relu: boolean, g: number, TR: number,
): Winograd4Spec {
  const tH = Math.ceil(H / 4), tW = Math.ceil(W / 4);
  const blocks = tH / TR;
  const Pi = g * TR * tW;
  const Pg = padded(Pi);
  const vStride = setStride(C * Pg), mStride = setStride(O * Pg);
  const Wp = 4 * tW + 2, padRowsPerImage = 4 * TR + 2;
  const padFloats = Math.ceil((g * padRowsPerImage * Wp) / 4) * 4;
  return {
    N, C, O, H, W, bias, relu, tH, tW, Hp: 4 * tH + 2, Wp, padRowsPerImage, padFloats, g, TR, blocks,
    items: (N / g) * blocks, Pi, Pg, vStride, mStride, workFloats: XI4 * (vStride + mStride) + 4 * Pg + padFloats,
  };
}

export function winograd4Key(s: Winograd4Spec): string {
  return `winograd4:${s.N},${s.C},${s.O},${s.H},${s.W},${s.bias},${s.relu}`;
}

// ------------------------------------------------------------------------------------------------
// The weight transform

export function weightTransform4Key(s: WeightTransformSpec): string {
  return `winograd4-weights:${s.A},${s.B},${s.flip}`;
}

/**
 * (G v) for 3 vectors v (four filters, one per lane), in float32: v0/4, −(v0 + v1 + v2)·⅙, −(v0 − v1 + v2)·⅙,
 * (v0 + 4v2 ± 2v1)·1⁄24, v2, with ⅙ and 1⁄24 rounded to float32: at most 4 roundings (two sums, the constant,
 * the product), the halvings and doublings being exact.
 */
function gRow4(f: FunctionBuilder, v: readonly Local[], tmp: readonly Local[]): Expr[] {
  const [s02, w, twice1] = tmp as [Local, Local, Local];
  const c = (x: number) => f32x4.splat(f32.const(x));
  f.set(s02, f32x4.add(v[0]!, v[2]!));
  f.set(w, f32x4.add(v[0]!, f32x4.mul(c(4), v[2]!)));
  f.set(twice1, f32x4.add(v[1]!, v[1]!));
  return [
    f32x4.mul(c(0.25), v[0]!),
    f32x4.mul(f32x4.add(s02, v[1]!), c(-1 / 6)),
    f32x4.mul(f32x4.sub(s02, v[1]!), c(-1 / 6)),
    f32x4.mul(f32x4.add(w, twice1), c(1 / 24)),
    f32x4.mul(f32x4.sub(w, twice1), c(1 / 24)),
    v[2]!,
  ];
}

/**
 * Export `item(args, a)`: U[ξ][a][b] = (G g Gᵀ)[ξ] for every b (g as in winograd.ts's weight transform:
 * w[a][b] forward, w[b][a] rotated by 180° for the input gradient). Args (byte offsets): [0] w [O][C][3][3],
 * [1] U [36][A][B]. Four filters b … b + 3 at a time, one per lane (their taps gathered lane by lane; the last
 * B mod 4 filters in the lanes of one more group, stored lane by lane).
 */
export function buildWeightTransform4Module(s: WeightTransformSpec): ModuleBuilder {
  const m = newKernelModule();
  const Cw = s.flip ? s.A : s.B;
  const stepW = (s.flip ? Cw * 9 : 9) * 4; // bytes from filter b to filter b + 1
  m.itemFunction('item', (f, args, a) => {
    const pw = f.local('i32', 'pw'), pu = f.local('i32', 'pu'), b = f.local('i32', 'b');
    const g = Array.from({ length: 9 }, (_, k) => f.local('v128', `g${k}`));
    const t = Array.from({ length: 18 }, (_, k) => f.local('v128', `t${k}`));
    const row = Array.from({ length: 3 }, (_, k) => f.local('v128', `row${k}`));
    const tmp = Array.from({ length: 3 }, (_, k) => f.local('v128', `tmp${k}`));
    const last = f.local('v128', 'last');
    const group = (lanes: number) => {
      // tap k of filter b + lane; lanes past `lanes` repeat lane 0
      for (let k = 0; k < 9; k++) {
        const tap = 4 * (s.flip ? 8 - k : k);
        let e = v128.load32_splat(pw, tap);
        for (let l = 1; l < lanes; l++) e = i32x4.replace_lane(e, l, i32.load(pw, tap + l * stepW));
        f.set(g[k]!, e);
      }
      // t = G g: 6 rows × 3 columns, column by column
      for (let col = 0; col < 3; col++) {
        const r = gRow4(f, [g[col]!, g[3 + col]!, g[6 + col]!], tmp);
        for (let i = 0; i < 6; i++) f.set(t[3 * i + col]!, r[i]!);
      }
      // U = t Gᵀ: each row of t through G
      for (let i = 0; i < 6; i++) {
        for (let j = 0; j < 3; j++) f.set(row[j]!, t[3 * i + j]!);
        const r = gRow4(f, row, tmp);
        for (let j = 0; j < 6; j++) {
          const at = (6 * i + j) * s.A * s.B * 4;
          if (lanes === 4) f.do(v128.store(pu, r[j]!, at));
          else {
            f.set(last, r[j]!);
            for (let l = 0; l < lanes; l++) f.do(f32.store(pu, f32x4.extract_lane(last, l), at + 4 * l));
          }
        }
      }
    };
    f.set(pw, i32.add(i32.load(args, 0), i32.mul(a, i32.const((s.flip ? 1 : Cw) * 9 * 4))));
    f.set(pu, i32.add(i32.load(args, 4), i32.mul(a, i32.const(s.B * 4))));
    const full = Math.floor(s.B / 4);
    if (full > 0) {
      f.forRange(b, 0, full, 1, () => {
        group(4);
        f.set(pw, i32.add(pw, i32.const(4 * stepW)));
        f.set(pu, i32.add(pu, i32.const(16)));
      });
    }
    if (s.B % 4 > 0) group(s.B % 4);
  });
  return m;
}

// ------------------------------------------------------------------------------------------------
// The convolution

/** The constants the transforms multiply by (exact powers of two), splatted once per item. */
export interface Consts {
  four: Local;
  eight: Local;
}

/**
 * out[0..5] = Bᵀ d for six vectors (out must not alias d), two roundings per element:
 *   r0 = 4(d0 − d2) + (d4 − d2)      r1, r2 = (d4 − 4d2) ± (d3 − 4d1)
 *   r3, r4 = (d4 − d2) ± 2(d3 − d1)   r5 = (d5 − d3) − 4(d3 − d1)
 */
function emitBT(f: FunctionBuilder, k: Consts, d: readonly Local[], out: readonly Local[], tmp: readonly Local[]): void {
  const [e, a, b, h] = tmp as [Local, Local, Local, Local];
  f.set(e, f32x4.sub(d[4]!, d[2]!));
  f.set(a, f32x4.sub(d[4]!, f32x4.mul(k.four, d[2]!)));
  f.set(b, f32x4.sub(d[3]!, f32x4.mul(k.four, d[1]!)));
  f.set(h, f32x4.sub(d[3]!, d[1]!));
  f.set(out[0]!, f32x4.add(f32x4.mul(k.four, f32x4.sub(d[0]!, d[2]!)), e));
  f.set(out[5]!, f32x4.sub(f32x4.sub(d[5]!, d[3]!), f32x4.mul(k.four, h)));
  f.set(out[1]!, f32x4.add(a, b));
  f.set(out[2]!, f32x4.sub(a, b));
  f.set(h, f32x4.add(h, h));
  f.set(out[3]!, f32x4.add(e, h));
  f.set(out[4]!, f32x4.sub(e, h));
}

/**
 * out[0..3] = Aᵀ m for six vectors (out must not alias m), three roundings at most per element:
 *   y0 = (m0 + (m1 + m2)) + (m3 + m4)       y1 = (m1 − m2) + 2(m3 − m4)
 *   y2 = (m1 + m2) + 4(m3 + m4)             y3 = ((m1 − m2) + 8(m3 − m4)) + m5
 */
function emitAT(f: FunctionBuilder, k: Consts, m: readonly Local[], out: readonly Local[], tmp: readonly Local[]): void {
  const [p, q, r, s] = tmp as [Local, Local, Local, Local];
  f.set(p, f32x4.add(m[1]!, m[2]!));
  f.set(q, f32x4.sub(m[1]!, m[2]!));
  f.set(r, f32x4.add(m[3]!, m[4]!));
  f.set(s, f32x4.sub(m[3]!, m[4]!));
  f.set(out[0]!, f32x4.add(f32x4.add(m[0]!, p), r));
  f.set(out[1]!, f32x4.add(q, f32x4.add(s, s)));
  f.set(out[2]!, f32x4.add(p, f32x4.mul(k.four, r)));
  f.set(out[3]!, f32x4.add(f32x4.add(q, f32x4.mul(k.eight, s)), m[5]!));
}

/** out[t] = lane t of each of rows[0..3] (a 4×4 transpose; out must not alias rows). */
export function emitTranspose(f: FunctionBuilder, rows: readonly Expr[], out: readonly Local[], tmp: readonly Local[]): void {
  f.set(tmp[0]!, v128.shuffle32(rows[0]!, rows[1]!, [0, 4, 1, 5]));
  f.set(tmp[1]!, v128.shuffle32(rows[2]!, rows[3]!, [0, 4, 1, 5]));
  f.set(tmp[2]!, v128.shuffle32(rows[0]!, rows[1]!, [2, 6, 3, 7]));
  f.set(tmp[3]!, v128.shuffle32(rows[2]!, rows[3]!, [2, 6, 3, 7]));
  f.set(out[0]!, v128.shuffle32(tmp[0]!, tmp[1]!, [0, 1, 4, 5]));
  f.set(out[1]!, v128.shuffle32(tmp[0]!, tmp[1]!, [2, 3, 6, 7]));
  f.set(out[2]!, v128.shuffle32(tmp[2]!, tmp[3]!, [0, 1, 4, 5]));
  f.set(out[3]!, v128.shuffle32(tmp[2]!, tmp[3]!, [2, 3, 6, 7]));
}

/**
 * Where tile `tile` of the item lies, relative to the item's first tile: its image, tile row and tile column
 * as (image, row, column) locals. Tiles run row-major over the item's g images × TR rows × tW columns.
 */
export function emitTilePosition(f: FunctionBuilder, s: Winograd4Spec, tile: Local, img: Local, row: Local, col: Local): void {
  const perImage = s.TR * s.tW;
  f.set(img, i32.div_u(tile, i32.const(perImage)));
  f.set(col, i32.rem_u(tile, i32.const(perImage)));
  f.set(row, i32.div_u(col, i32.const(s.tW)));
  f.set(col, i32.rem_u(col, i32.const(s.tW)));
}

/**
 * Export `item$items(args, counter, count)`, the item driver: every output of the items it takes. Args (byte
 * offsets): [0] the input [N][C][H][W] (not padded: each item pads the rows it reads), [1] U [36][O][C], [2] out
 * [N][O][H][W] (every element written), [3] bias [O] (when spec.bias), [4] the work areas, `workFloats` floats
 * per thread, [5] 0.
 */
export function buildWinograd4Module(s: Winograd4Spec): ModuleBuilder {
  const m = newKernelModule();
  itemsWithWorkAreas(m, s, (f, args, n0, tr0, V) => {
    const M = f.local('i32', 'M');
    const k: Consts = { four: f.local('v128', 'four'), eight: f.local('v128', 'eight') };
    f.set(k.four, f32x4.splat(f32.const(4)));
    f.set(k.eight, f32x4.splat(f32.const(8)));
    f.set(M, i32.add(V, i32.const(XI4 * s.vStride * 4)));
    const tables = f.local('i32', 'tables');
    f.set(tables, i32.add(M, i32.const(XI4 * s.mStride * 4)));
    emitInputTransform4(f, s, k, args, n0, tr0, V, tables, i32.add(tables, i32.const(4 * s.Pg * 4)));
    emitProducts(f, s, args, V, M, XI4);
    emitOutputTransform4(f, s, k, args, n0, tr0, M, i32.add(tables, i32.const(s.Pg * 4)));
  });
  return m;
}

/**
 * Stage 1: V[ξ][c][col] = (Bᵀ d B)[ξ] for the item's tiles. Columns [Pi, Pg) repeat the last tile (finite
 * values the products compute on and the output transform never reads). Channels outside, groups of four
 * tiles inside, so that V is written row after row (tiles outside measured 2× slower: each channel's 36 rows
 * were left for the next group, and C·36 lines do not stay in L1). The four tiles' offsets come from a table
 * the item writes first (`table`, Pg words: byte offsets into the padded rows).
 *
 * The zero padding is made here, not by a copy of the whole input before the kernel: per channel, the item's
 * input rows go into a small buffer of padded rows (`pad`: [g][4·TR + 2][Wp], in the work area, so in the
 * core's cache), whose border rows and columns are zeroed once per item — they are the same for every
 * channel. A separate padding pass wrote and read again a padded copy of every input (about a fifth of a
 * 16-channel pass at 48×32) and ran before the kernel's items could start.
 */
export function emitInputTransform4(
  f: FunctionBuilder, s: Winograd4Spec, k: Consts, args: Local, n0: Local, tr0: Local, V: Local, table: Local, pad: Expr,
): void {
  const grp = f.local('i32', 'grp'), c = f.local('i32', 'c'), base = f.local('i32', 'base'), q = f.local('i32', 'q');
  const tile = f.local('i32', 'tile'), img = f.local('i32', 'img'), row = f.local('i32', 'row'), col = f.local('i32', 'col');
  const pt = f.local('i32', 'pt');
  const at = Array.from({ length: TV }, (_, t) => f.local('i32', `at${t}`));
  const lo = Array.from({ length: TV }, (_, t) => f.local('v128', `lo${t}`));
  const hi = Array.from({ length: TV }, (_, t) => f.local('v128', `hi${t}`));
  const d = Array.from({ length: 6 }, (_, j) => f.local('v128', `d${j}`));
  const tmp = Array.from({ length: 4 }, (_, j) => f.local('v128', `it${j}`));
  const rowT = Array.from({ length: 36 }, (_, j) => f.local('v128', `r${j}`));
  const colIn = Array.from({ length: 6 }, (_, j) => f.local('v128', `ci${j}`));
  const colOut = Array.from({ length: 6 }, (_, j) => f.local('v128', `co${j}`));
  const plane = s.padRowsPerImage * s.Wp * 4; // bytes of one image's padded rows in the buffer
  const xiStride = s.vStride * 4;
  const rowLo = f.local('i32', 'rowLo'), rowHi = f.local('i32', 'rowHi'), r = f.local('i32', 'r');
  const src = f.local('i32', 'src'), dst = f.local('i32', 'dst'), z = f.local('i32', 'z');
  f.set(base, pad);
  // zero the buffer: its border rows and columns stay zero for every channel
  f.forRange(z, 0, s.padFloats / 4, 1, () => f.do(v128.store(i32.add(base, i32.mul(z, i32.const(16))), v128.zero())));
  // padded row r of the item is input row 4·tr0 − 1 + r: rows [rowLo, rowHi) lie inside the map
  f.set(rowLo, i32.const(0));
  f.if(i32.eq(tr0, i32.const(0)), () => f.set(rowLo, i32.const(1)));
  f.set(rowHi, i32.sub(i32.const(s.H + 1), i32.mul(tr0, i32.const(4))));
  f.if(i32.gt_s(rowHi, i32.const(s.padRowsPerImage)), () => f.set(rowHi, i32.const(s.padRowsPerImage)));
  // the table: tile → its patch's offset in the buffer (image, tile row within the item, tile column)
  f.forRange(tile, 0, s.Pg, 1, () => {
    f.set(pt, tile);
    if (s.Pg > s.Pi) f.if(i32.ge_s(pt, i32.const(s.Pi)), () => f.set(pt, i32.const(s.Pi - 1)));
    emitTilePosition(f, s, pt, img, row, col);
    f.do(i32.store(i32.add(table, i32.mul(tile, i32.const(4))), i32.add(i32.add(i32.mul(img, i32.const(plane)), i32.mul(row, i32.const(4 * s.Wp * 4))), i32.mul(col, i32.const(16)))));
  });
  f.set(q, V);
  f.forRange(c, 0, s.C, 1, () => {
    // this channel's input rows of the item's images into the buffer, at column 1
    for (let gi = 0; gi < s.g; gi++) {
      // src: input row 4·tr0 − 1 + rowLo of channel c of image n0 + gi
      f.set(src, i32.add(i32.load(args, 0), i32.mul(i32.add(i32.mul(i32.add(n0, i32.const(gi)), i32.const(s.C)), c), i32.const(s.H * s.W * 4))));
      f.set(src, i32.add(src, i32.mul(i32.sub(i32.add(i32.mul(tr0, i32.const(4)), rowLo), i32.const(1)), i32.const(s.W * 4))));
      f.set(dst, i32.add(base, i32.add(i32.const(gi * plane + 4), i32.mul(rowLo, i32.const(s.Wp * 4)))));
      f.forRange(r, rowLo, rowHi, 1, () => {
        for (let x = 0; x + 4 <= s.W; x += 4) f.do(v128.store(dst, v128.load(src, 4 * x), 4 * x));
        for (let x = s.W - (s.W % 4); x < s.W; x++) f.do(f32.store(dst, f32.load(src, 4 * x), 4 * x));
        f.set(src, i32.add(src, i32.const(s.W * 4)));
        f.set(dst, i32.add(dst, i32.const(s.Wp * 4)));
      });
    }
    f.set(pt, table);
    f.forRange(grp, 0, s.Pg / TV, 1, () => {
      for (let t = 0; t < TV; t++) f.set(at[t]!, i32.add(base, i32.load(pt, 4 * t)));
      for (let i = 0; i < 6; i++) {
        const off = i * s.Wp * 4;
        // patch row i of the four tiles: columns 0–3 and 4–5, then one tile per lane
        for (let t = 0; t < TV; t++) {
          f.set(lo[t]!, v128.load(at[t]!, off));
          f.set(hi[t]!, v128.load64_zero(at[t]!, off + 16));
        }
        emitTranspose(f, lo, d.slice(0, 4), tmp);
        f.set(tmp[0]!, v128.shuffle32(hi[0]!, hi[1]!, [0, 4, 1, 5]));
        f.set(tmp[1]!, v128.shuffle32(hi[2]!, hi[3]!, [0, 4, 1, 5]));
        f.set(d[4]!, v128.shuffle32(tmp[0]!, tmp[1]!, [0, 1, 4, 5]));
        f.set(d[5]!, v128.shuffle32(tmp[0]!, tmp[1]!, [2, 3, 6, 7]));
        // (d B) along the row: rowT[6i + j]
        emitBT(f, k, d, rowT.slice(6 * i, 6 * i + 6), tmp);
      }
      // Bᵀ (d B) down the columns; ξ = 6·row + column
      for (let j = 0; j < 6; j++) {
        for (let i = 0; i < 6; i++) f.set(colIn[i]!, rowT[6 * i + j]!);
        emitBT(f, k, colIn, colOut, tmp);
        for (let i = 0; i < 6; i++) f.do(v128.store(q, colOut[i]!, (6 * i + j) * xiStride));
      }
      f.set(q, i32.add(q, i32.const(TV * 4)));
      f.set(pt, i32.add(pt, i32.const(TV * 4)));
    });
  });
}

/**
 * Stage 3: out = Aᵀ M A (+ bias, ReLU) for the item's tiles, four tiles at a time: output channels outside,
 * groups of tiles inside (M read row after row), from tables the item writes first at `tables`: each tile's
 * output offset, and (for maps whose tiles the border cuts) its rows and columns inside the map.
 */
function emitOutputTransform4(
  f: FunctionBuilder, s: Winograd4Spec, k: Consts, args: Local, n0: Local, tr0: Local, M: Local, tables: Expr,
): void {
  const grp = f.local('i32', 'ogrp'), o = f.local('i32', 'o'), base = f.local('i32', 'obase'), pm = f.local('i32', 'pm');
  const pb = f.local('i32', 'pb'), tile = f.local('i32', 'otile'), img = f.local('i32', 'oimg'), row = f.local('i32', 'orow');
  const col = f.local('i32', 'ocol'), tab = f.local('i32', 'otab'), pt = f.local('i32', 'opt'), n = f.local('i32', 'on');
  const b = f.local('v128', 'b');
  const at = Array.from({ length: TV }, (_, t) => f.local('i32', `oat${t}`));
  const mm = Array.from({ length: 36 }, (_, j) => f.local('v128', `m${j}`));
  const sRow = Array.from({ length: 24 }, (_, j) => f.local('v128', `s${j}`));
  const colIn = Array.from({ length: 6 }, (_, j) => f.local('v128', `oci${j}`));
  const y = Array.from({ length: 16 }, (_, j) => f.local('v128', `y${j}`));
  const z = Array.from({ length: TV }, (_, j) => f.local('v128', `z${j}`));
  const tmp = Array.from({ length: 4 }, (_, j) => f.local('v128', `ot${j}`));
  const plane = s.H * s.W * 4;
  const xiStride = s.mStride * 4;
  const groups = Math.ceil(s.Pi / TV);
  // tiles cut by the border (or lanes past the item's last tile) store only their outputs inside the map
  const allFull = s.H % 4 === 0 && s.W % 4 === 0 && s.Pi % TV === 0;
  const rows = Array.from({ length: TV }, (_, t) => f.local('i32', `rows${t}`));
  const cols = Array.from({ length: TV }, (_, t) => f.local('i32', `cols${t}`));
  const full = Array.from({ length: TV }, (_, t) => f.local('i32', `full${t}`));
  const clampTo4 = (l: Local) => f.if(i32.gt_s(l, i32.const(4)), () => f.set(l, i32.const(4)));
  // the tables: [0, Pg) offsets from channel 0 of image n0, output row 4·tr0; [Pg, 2Pg) rows; [2Pg, 3Pg) columns
  const rowsAt = s.Pg * 4, colsAt = 2 * s.Pg * 4;
  f.set(tab, tables);
  f.forRange(tile, 0, groups * TV, 1, () => {
    f.set(pt, i32.add(tab, i32.mul(tile, i32.const(4))));
    emitTilePosition(f, s, tile, img, row, col);
    f.do(i32.store(pt, i32.add(i32.add(i32.mul(img, i32.const(s.O * plane)), i32.mul(row, i32.const(4 * s.W * 4))), i32.mul(col, i32.const(16)))));
    if (!allFull) {
      // rows = min(4, H − 4·(tr0 + row)), 0 past the item's tiles; cols = min(4, W − 4·col)
      f.set(n, i32.sub(i32.const(s.H), i32.mul(i32.add(tr0, row), i32.const(4))));
      clampTo4(n);
      f.if(i32.ge_s(tile, i32.const(s.Pi)), () => f.set(n, i32.const(0)));
      f.do(i32.store(pt, n, rowsAt));
      f.set(n, i32.sub(i32.const(s.W), i32.mul(col, i32.const(4))));
      clampTo4(n);
      f.do(i32.store(pt, n, colsAt));
    }
  });
  f.set(base, i32.add(i32.load(args, 8), i32.add(i32.mul(n0, i32.const(s.O * plane)), i32.mul(tr0, i32.const(4 * s.W * 4)))));
  f.set(pm, M);
  f.set(pb, i32.load(args, 12));
  f.forRange(o, 0, s.O, 1, () => {
    if (s.bias) f.set(b, v128.load32_splat(pb));
    f.set(pt, tab);
    f.forRange(grp, 0, groups, 1, () => {
      for (let t = 0; t < TV; t++) {
        f.set(at[t]!, i32.add(base, i32.load(pt, 4 * t)));
        if (!allFull) {
          f.set(rows[t]!, i32.load(pt, rowsAt + 4 * t));
          f.set(cols[t]!, i32.load(pt, colsAt + 4 * t));
          f.set(full[t]!, i32.and(i32.eq(rows[t]!, i32.const(4)), i32.eq(cols[t]!, i32.const(4))));
        }
      }
      for (let xi = 0; xi < XI4; xi++) f.set(mm[xi]!, v128.load(pm, xi * xiStride));
      // Aᵀ along each row r of the 6×6: sRow[4r + j]
      for (let r = 0; r < 6; r++) emitAT(f, k, mm.slice(6 * r, 6 * r + 6), sRow.slice(4 * r, 4 * r + 4), tmp);
      // Aᵀ down the columns: y[4i + j] = output (i, j) of the four tiles, then bias and ReLU
      for (let j = 0; j < 4; j++) {
        for (let r = 0; r < 6; r++) f.set(colIn[r]!, sRow[4 * r + j]!);
        const out = [y[j]!, y[4 + j]!, y[8 + j]!, y[12 + j]!];
        emitAT(f, k, colIn, out, tmp);
        for (const l of out) {
          let e: Expr = s.bias ? f32x4.add(l, b) : l;
          if (s.relu) e = f32x4.max(e, v128.zero());
          if (e !== l) f.set(l, e);
        }
      }
      // output row i of each tile: lanes = its four columns
      for (let i = 0; i < 4; i++) {
        emitTranspose(f, y.slice(4 * i, 4 * i + 4), z, tmp);
        for (let t = 0; t < TV; t++) {
          const whole = () => f.do(v128.store(at[t]!, z[t]!, i * s.W * 4));
          if (allFull) {
            whole();
            continue;
          }
          f.if(full[t]!, whole);
          f.if(i32.and(i32.eq(full[t]!, i32.const(0)), i32.gt_s(rows[t]!, i32.const(i))), () => {
            for (let j = 0; j < 4; j++) {
              f.if(i32.gt_s(cols[t]!, i32.const(j)), () => f.do(f32.store(at[t]!, f32x4.extract_lane(z[t]!, j), (i * s.W + j) * 4)));
            }
          });
        }
      }
      f.set(pm, i32.add(pm, i32.const(TV * 4)));
      f.set(pt, i32.add(pt, i32.const(TV * 4)));
    });
    // pm: from the end of this channel's groups to the next channel's row of M
    f.set(pm, i32.add(pm, i32.const((s.Pg - groups * TV) * 4)));
    f.set(base, i32.add(base, i32.const(plane)));
    if (s.bias) f.set(pb, i32.add(pb, i32.const(4)));
  });
}
