/**
 * The weight gradient of a 3×3 stride-1 padding-1 convolution by Winograd F(4×4, 3×3) (winograd4.ts), the
 * adjoint of its forward formula y_t = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d_t B)]A as for F(2×2) (winogradWeightGrad.ts):
 *
 *   dg = Gᵀ [ Σ_t (A dy_t Aᵀ) ⊙ (Bᵀ d_t B) ] G
 *
 * (dy_t: the tile's 4×4 output gradient, zero outside the map; d_t: its 6×6 input patch; A = (Aᵀ)ᵀ is 6×4, G
 * 6×3). For each of the 36 positions ξ the sum over tiles is a product with the reduction over tiles,
 * P[ξ][o][c] = Σ_t D[ξ][o][t] · V[ξ][c][t]: 36 multiplications per tile of 16 outputs and (o, c) pair, where
 * F(2×2) does 16 per tile of 4 (1.78× fewer) and the direct kernel 144.
 *
 * Two generated modules, as for F(2×2):
 * - `item` (winograd.ts: itemsWithWorkAreas): per work item (a fixed set of tiles: whole images, or tile-row
 *   blocks of one image; see weightGrad4Spec) the input transform V of the forward pass (winograd4.ts:
 *   emitInputTransform4, which pads inside the item), the transform D = A dy Aᵀ (four consecutive tiles of the
 *   item per vector, as V), and the item's partial sums P_k[ξ][o][c]: dot products over its tiles on a tile of
 *   2 output × 4 input channels vectorised over tiles, whose four sums' lanes are added by shuffles into one
 *   vector of four input channels, written to the item's own slot;
 * - `reduce`: per output channel, the partial sums of all items added in item order, then Gᵀ P G in float32,
 *   vectorised over four input channels.
 * Each weight's gradient is summed in an order fixed by the shape, so the thread count never changes a bit.
 *
 * The cut differs from the forward pass's: an item's partial sums (36·O·C floats) are written, read back and
 * added once per item, a cost that does not shrink with the item's tiles, so items take at least MIN_TILES
 * tiles (several images of a small map) and small maps few items (at least 2, for two threads).
 *
 * Accuracy: every exact term a·(A-coefficient·dy)·(B-coefficient·d)·(G-coefficients) goes through at most
 * Pg/4 + K + 21 roundings — input transform 4 (winograd4.ts), dy transform 4 (2 per direction: emitA), the
 * product 1, a lane's sum over the item's Pg/4 tile vectors, the lanes 2, the K items, Gᵀ·G 10 (5 per
 * direction: two sums, a difference, ⅙ or 1⁄24 rounded to float32 and the product, one more sum: gT6) — so
 * |computed − exact| ≤ γ(Pg/4 + K + 21) · S, S the same algorithm on absolute values
 * (test/kernels/wasm/winograd4WeightGrad.test.ts).
 */
import { type ModuleBuilder, f32, f32x4, i32, v128, type Expr, type FunctionBuilder, type Local } from './emitter.js';
import { kernelInput, kernelOutput } from './arena.js';
import { threadsFor } from './conv2d.js';
import { kernelModule, newKernelModule, scratch, } from './runtime.js';
import { ITEM_BYTES, itemsWithWorkAreas, largestDivisorAtMost, TV } from './winograd.js';
import {
  type Consts,
  emitInputTransform4,
  emitTilePosition,
  emitTranspose,
  winograd4Cut,
  XI4,
  type Winograd4Spec,
} from './winograd4.js';
import { DB, emitDotProductTiles, paddedChannels, runWeightGradPasses } from './winogradWeightGrad.js';

/**
 * Tiles an item takes at least, where the batch has them: each (ξ, o, c) sum of an item ends in adding its
 * lanes and storing it, and the reduction reads it back, whatever the item's tile count.
 */
export const MIN_TILES = 96;
/** Fewest items where the batch has images enough: one per thread of two. */
const MIN_ITEMS = 2;

/** The plan of one F(4×4) weight gradient: the forward pass's plan (winograd4.ts) with its own cut and work area. */
export interface WeightGrad4Spec extends Winograd4Spec {
  /** H and W are multiples of 4: every dy tile lies inside the map and is read in place. */
  exact: boolean;
  /** Floats of the item's padded dy rows ([g][4·TR][4·tW], zeros outside the map), 0 when `exact`. */
  dyPadFloats: number;
}

/**
 * The plan for N images of C → O channels at H×W. Items of whole images where an image has fewer than
 * `minTiles` tiles (the fewest images that reach it, leaving at least MIN_ITEMS items), else of tile-row blocks
 * of about max(minTiles, the tiles whose V and D fill ITEM_BYTES).
 */
export function weightGrad4Spec(N: number, C: number, O: number, H: number, W: number, minTiles = MIN_TILES): WeightGrad4Spec {
  const tH = Math.ceil(H / 4), tW = Math.ceil(W / 4);
  const perImage = tH * tW;
  const want = Math.max(minTiles, Math.floor(ITEM_BYTES / (XI4 * (C + O) * 4)));
  let g = 1, TR = tH;
  if (perImage >= want) TR = largestDivisorAtMost(tH, want / tW);
  else {
    const most = Math.max(1, Math.floor(N / MIN_ITEMS));
    for (let d = 1; d <= most; d++) {
      if (N % d !== 0) continue;
      g = d;
      if (d * perImage >= want) break;
    }
  }
  const s = winograd4Cut(N, C, O, H, W, false, false, g, TR);
  const exact = H % 4 === 0 && W % 4 === 0;
  const dyPadFloats = exact ? 0 : g * 4 * TR * 4 * tW;
  // V [36][vStride], D [36][mStride], the x and dy tile tables (Pg words each), x's and dy's padded rows
  const workFloats = XI4 * (s.vStride + s.mStride) + 2 * s.Pg + s.padFloats + dyPadFloats;
  return { ...s, exact, dyPadFloats, workFloats };
}

export function weightGrad4Key(s: WeightGrad4Spec): string {
  return `winograd4-dw:${s.N},${s.C},${s.O},${s.H},${s.W},${s.g},${s.TR}`;
}

/**
 * Export `item$items`: for every item k, P_k [O][36][Cp] (Cp = C padded to 4; padding lanes zero). Args (byte
 * offsets): [0] x [N][C][H][W], [1] dy [N][O][H][W] (neither padded: items pad what they read), [2] the partial
 * sums (`items` slots of 36·O·Cp floats), [3] unused, [4] the work areas (`workFloats` floats per thread), [5] 0.
 */
export function buildWeightGrad4Module(s: WeightGrad4Spec): ModuleBuilder {
  const m = newKernelModule();
  itemsWithWorkAreas(m, s, (f, args, n0, tr0, V, k) => {
    const kc: Consts = { four: f.local('v128', 'four'), eight: f.local('v128', 'eight') };
    f.set(kc.four, f32x4.splat(f32.const(4)));
    f.set(kc.eight, f32x4.splat(f32.const(8)));
    const D = f.local('i32', 'D'), xTable = f.local('i32', 'xTable'), dyTable = f.local('i32', 'dyTable');
    const xPad = f.local('i32', 'xPad'), dyPad = f.local('i32', 'dyPad');
    f.set(D, i32.add(V, i32.const(XI4 * s.vStride * 4)));
    f.set(xTable, i32.add(D, i32.const(XI4 * s.mStride * 4)));
    f.set(dyTable, i32.add(xTable, i32.const(s.Pg * 4)));
    f.set(xPad, i32.add(dyTable, i32.const(s.Pg * 4)));
    f.set(dyPad, i32.add(xPad, i32.const(s.padFloats * 4)));
    emitInputTransform4(f, s, kc, args, n0, tr0, V, xTable, xPad);
    emitDyTransform4(f, s, kc, args, n0, tr0, D, dyTable, dyPad);
    emitDotProducts4(f, s, args, V, D, k);
  });
  return m;
}

/**
 * out[0..5] = A v for four vectors v (A = (Aᵀ)ᵀ of winograd4.ts; out must not alias v), two roundings at most:
 *   v0,  (v0 + v2) ± (v1 + v3),  (v0 + 4v2) ± 2(v1 + 4v3),  v3   (the factors 2 and 4 are exact).
 */
function emitA(f: FunctionBuilder, k: Consts, v: readonly Local[], out: readonly Local[], tmp: readonly Local[]): void {
  const [e, o, e4, o4] = tmp as [Local, Local, Local, Local];
  f.set(e, f32x4.add(v[0]!, v[2]!));
  f.set(o, f32x4.add(v[1]!, v[3]!));
  f.set(e4, f32x4.add(v[0]!, f32x4.mul(k.four, v[2]!)));
  f.set(o4, f32x4.add(v[1]!, f32x4.mul(k.four, v[3]!)));
  f.set(o4, f32x4.add(o4, o4));
  f.set(out[0]!, v[0]!);
  f.set(out[1]!, f32x4.add(e, o));
  f.set(out[2]!, f32x4.sub(e, o));
  f.set(out[3]!, f32x4.add(e4, o4));
  f.set(out[4]!, f32x4.sub(e4, o4));
  f.set(out[5]!, v[3]!);
}

/**
 * D[ξ][o][col] = (A dy Aᵀ)[ξ] for the item's tiles, four consecutive tiles per vector (as the input transform
 * takes them: a table the item writes first gives each tile's offset). Each tile's dy row is one vector load;
 * a 4×4 transpose per row puts one tile per lane. Where the map's height or width is not a multiple of 4, the
 * item's dy rows go, channel by channel, into padded rows in its work area (zeros outside the map, written once
 * per item); else the tiles are read in place. Columns [Pi, Pg) are zeros: the padding tiles add nothing.
 */
function emitDyTransform4(
  f: FunctionBuilder, s: WeightGrad4Spec, k: Consts, args: Local, n0: Local, tr0: Local, D: Local, table: Local, pad: Local,
): void {
  const o = f.local('i32', 'dyo'), grp = f.local('i32', 'dygrp'), tile = f.local('i32', 'dytile'), pt = f.local('i32', 'dypt');
  const img = f.local('i32', 'dyimg'), row = f.local('i32', 'dyrow'), col = f.local('i32', 'dycol');
  const q = f.local('i32', 'dyq'), base = f.local('i32', 'dybase');
  const at = Array.from({ length: TV }, (_, t) => f.local('i32', `dyat${t}`));
  const lo = Array.from({ length: TV }, (_, t) => f.local('v128', `dylo${t}`));
  const cols = Array.from({ length: 4 }, (_, j) => f.local('v128', `dycol${j}`));
  const u = Array.from({ length: 24 }, (_, j) => f.local('v128', `dyu${j}`));
  const colIn = Array.from({ length: 4 }, (_, j) => f.local('v128', `dyci${j}`));
  const colOut = Array.from({ length: 6 }, (_, j) => f.local('v128', `dyco${j}`));
  const tmp = Array.from({ length: 4 }, (_, j) => f.local('v128', `dyt${j}`));
  const padW = 4 * s.tW, padRows = 4 * s.TR;
  const rowStride = (s.exact ? s.W : padW) * 4; // bytes from a dy row to the next
  const imageStride = (s.exact ? s.O * s.H * s.W : padRows * padW) * 4; // bytes from an image's tile to the next image's
  const xiStride = s.mStride * 4;
  // the table: tile → its first dy element, from the channel's base (image n0, output row 4·tr0)
  f.forRange(tile, 0, s.Pg, 1, () => {
    f.set(pt, tile);
    if (s.Pg > s.Pi) f.if(i32.ge_s(pt, i32.const(s.Pi)), () => f.set(pt, i32.const(s.Pi - 1)));
    emitTilePosition(f, s, pt, img, row, col);
    f.do(i32.store(i32.add(table, i32.mul(tile, i32.const(4))), i32.add(i32.add(i32.mul(img, i32.const(imageStride)), i32.mul(row, i32.const(4 * rowStride))), i32.mul(col, i32.const(16)))));
  });
  const src = f.local('i32', 'dysrc'), dst = f.local('i32', 'dydst'), r = f.local('i32', 'dyr'), rowHi = f.local('i32', 'dyrowHi');
  if (s.exact) {
    f.set(base, i32.add(i32.load(args, 4), i32.add(i32.mul(n0, i32.const(s.O * s.H * s.W * 4)), i32.mul(tr0, i32.const(4 * s.W * 4)))));
  } else {
    f.forRange(r, 0, s.dyPadFloats / 4, 1, () => f.do(v128.store(i32.add(pad, i32.mul(r, i32.const(16))), v128.zero())));
    // rows of the item's tile rows inside the map: min(4·TR, H − 4·tr0)
    f.set(rowHi, i32.sub(i32.const(s.H), i32.mul(tr0, i32.const(4))));
    f.if(i32.gt_s(rowHi, i32.const(padRows)), () => f.set(rowHi, i32.const(padRows)));
    f.set(base, pad);
  }
  f.set(q, D);
  f.forRange(o, 0, s.O, 1, () => {
    if (!s.exact) {
      // this channel's dy rows of the item's images into the padded rows
      for (let gi = 0; gi < s.g; gi++) {
        f.set(src, i32.add(i32.load(args, 4), i32.mul(i32.add(i32.mul(i32.add(n0, i32.const(gi)), i32.const(s.O)), o), i32.const(s.H * s.W * 4))));
        f.set(src, i32.add(src, i32.mul(tr0, i32.const(4 * s.W * 4))));
        f.set(dst, i32.add(pad, i32.const(gi * padRows * padW * 4)));
        f.forRange(r, 0, rowHi, 1, () => {
          for (let x = 0; x + 4 <= s.W; x += 4) f.do(v128.store(dst, v128.load(src, 4 * x), 4 * x));
          for (let x = s.W - (s.W % 4); x < s.W; x++) f.do(f32.store(dst, f32.load(src, 4 * x), 4 * x));
          f.set(src, i32.add(src, i32.const(s.W * 4)));
          f.set(dst, i32.add(dst, i32.const(padW * 4)));
        });
      }
    }
    f.set(pt, table);
    f.forRange(grp, 0, s.Pg / TV, 1, () => {
      for (let t = 0; t < TV; t++) f.set(at[t]!, i32.add(base, i32.load(pt, 4 * t)));
      // dy row i of the four tiles, one tile per lane, then A along the row: u[6i + j] = (dy Aᵀ)(i, j)
      for (let i = 0; i < 4; i++) {
        for (let t = 0; t < TV; t++) f.set(lo[t]!, v128.load(at[t]!, i * rowStride));
        emitTranspose(f, lo, cols, tmp);
        emitA(f, k, cols, u.slice(6 * i, 6 * i + 6), tmp);
      }
      // A down the columns; ξ = 6·row + column
      for (let j = 0; j < 6; j++) {
        for (let i = 0; i < 4; i++) f.set(colIn[i]!, u[6 * i + j]!);
        emitA(f, k, colIn, colOut, tmp);
        for (let i = 0; i < 6; i++) f.do(v128.store(q, colOut[i]!, (6 * i + j) * xiStride));
      }
      f.set(q, i32.add(q, i32.const(TV * 4)));
      f.set(pt, i32.add(pt, i32.const(TV * 4)));
    });
    if (s.exact) f.set(base, i32.add(base, i32.const(s.H * s.W * 4)));
  });
  if (s.Pg > s.Pi) {
    // the padding tiles' columns: zeros (V repeats the last tile there)
    f.set(q, D);
    f.forRange(o, 0, s.O, 1, () => {
      for (let xi = 0; xi < XI4; xi++) {
        for (let t = s.Pi; t < s.Pg; t++) f.do(f32.store(q, f32.const(0), xi * xiStride + t * 4));
      }
      f.set(q, i32.add(q, i32.const(s.Pg * 4)));
    });
  }
}

/**
 * [Σ a, Σ b, Σ c, Σ d] of four vectors' lanes, each as (l0 + l2) + (l1 + l3): four shuffles and two additions,
 * then two and one (x, y: scratch locals).
 */
function laneSums(f: FunctionBuilder, v: readonly Expr[], x: Local, y: Local): Expr {
  f.set(x, f32x4.add(v128.shuffle32(v[0]!, v[1]!, [0, 1, 4, 5]), v128.shuffle32(v[0]!, v[1]!, [2, 3, 6, 7])));
  f.set(y, f32x4.add(v128.shuffle32(v[2]!, v[3]!, [0, 1, 4, 5]), v128.shuffle32(v[2]!, v[3]!, [2, 3, 6, 7])));
  return f32x4.add(v128.shuffle32(x, y, [0, 2, 4, 6]), v128.shuffle32(x, y, [1, 3, 5, 7]));
}

/**
 * P_k[o][ξ][c] = Σ_t D[ξ][o][t] · V[ξ][c][t] over the item's Pg tiles, for ξ = 0..35. The slot is laid out
 * output channel by output channel so that the reduction reads an output channel's 36 rows in one run: with ξ
 * outside, its 36 loads were O·Cp·4 bytes apart (64 KiB for 128 channels), all in one set of the L1 cache.
 */
function emitDotProducts4(f: FunctionBuilder, s: WeightGrad4Spec, args: Local, V: Local, D: Local, k: Local): void {
  const Cp = paddedChannels(s.C);
  const xi = f.local('i32', 'pxi');
  const vx = f.local('i32', 'vx'), dx = f.local('i32', 'dx'), out = f.local('i32', 'pout');
  const hx = f.local('v128', 'hx'), hy = f.local('v128', 'hy');
  // input channels c … c + 3 of output channel o + a in one vector (channels past C: zeros)
  const storeSums = (na: number, nb: number, acc: readonly Local[], po: Local) => {
    for (let a = 0; a < na; a++) {
      const four = Array.from({ length: DB }, (_, b): Expr => (b < nb ? acc[a * nb + b]! : v128.zero()));
      f.do(v128.store(po, laneSums(f, four, hx, hy), a * XI4 * Cp * 4));
    }
  };
  const layout = { O: s.O, C: s.C, rowBytes: s.Pg * 4, outChannelBytes: XI4 * Cp * 4 };
  f.forRange(xi, 0, XI4, 1, () => {
    f.set(vx, i32.add(V, i32.mul(xi, i32.const(s.vStride * 4))));
    f.set(dx, i32.add(D, i32.mul(xi, i32.const(s.mStride * 4))));
    f.set(out, i32.add(i32.load(args, 8), i32.add(i32.mul(k, i32.const(XI4 * s.O * Cp * 4)), i32.mul(xi, i32.const(Cp * 4)))));
    emitDotProductTiles(f, layout, dx, vx, out, storeSums);
  });
}

export interface Reduce4Spec {
  O: number;
  C: number;
  /** Items whose partial sums are added. */
  K: number;
}

export function reduce4Key(s: Reduce4Spec): string {
  return `winograd4-dw-reduce:${s.O},${s.C},${s.K}`;
}

/**
 * (Gᵀ p) for six vectors (G of winograd4.ts, ⅙ and 1⁄24 rounded to float32; a, b, c, d: scratch locals), five
 * roundings at most:  ¼p0 + ((p3 + p4) − 4(p1 + p2))·1⁄24,  (½(p3 − p4) − (p1 − p2))·⅙,  ((p3 + p4) − (p1 + p2))·⅙ + p5.
 */
function gT6(f: FunctionBuilder, p: readonly Local[], t: readonly Local[]): Expr[] {
  const [a, b, c, d] = t as [Local, Local, Local, Local];
  const k = (x: number) => f32x4.splat(f32.const(x));
  f.set(a, f32x4.add(p[1]!, p[2]!));
  f.set(b, f32x4.sub(p[1]!, p[2]!));
  f.set(c, f32x4.add(p[3]!, p[4]!));
  f.set(d, f32x4.sub(p[3]!, p[4]!));
  return [
    f32x4.add(f32x4.mul(k(0.25), p[0]!), f32x4.mul(f32x4.sub(c, f32x4.mul(k(4), a)), k(1 / 24))),
    f32x4.mul(f32x4.sub(f32x4.mul(k(0.5), d), b), k(1 / 6)),
    f32x4.add(f32x4.mul(f32x4.sub(c, a), k(1 / 6)), p[5]!),
  ];
}

/**
 * Export `item$items` over output channels o: dw[o][c][3][3] = Gᵀ (Σ_k P_k[·][o][c]) G, four input channels per
 * vector (the sum over k in item order). Args: [0] the partial sums, [1] dw [O][C][3][3] (every element written).
 */
export function buildReduce4Module(s: Reduce4Spec): ModuleBuilder {
  const m = newKernelModule();
  const Cp = paddedChannels(s.C);
  const slot = XI4 * s.O * Cp * 4;
  m.itemFunction('item', (f, args, o) => {
    const pc = f.local('i32', 'pc'), pk = f.local('i32', 'pk'), end = f.local('i32', 'end'), pw = f.local('i32', 'pw');
    const cq = f.local('i32', 'cq');
    const t = Array.from({ length: 18 }, (_, i) => f.local('v128', `t${i}`));
    const six = Array.from({ length: 6 }, (_, i) => f.local('v128', `six${i}`));
    const tmp = Array.from({ length: 4 }, (_, i) => f.local('v128', `tmp${i}`));
    const out = f.local('v128', 'out');
    // four input channels from pc (P_0[o][0][c]) and pw (dw[o][c]); `lanes` of them are real
    const quad = (lanes: number) => {
      // t = Gᵀ M (3 rows × 6 columns), column j from M's column j summed over the items in order
      for (let j = 0; j < 6; j++) {
        for (let i = 0; i < 6; i++) f.set(six[i]!, v128.load(pc, (6 * i + j) * Cp * 4));
        if (s.K > 1 && s.K <= 4) {
          for (let k = 1; k < s.K; k++) {
            for (let i = 0; i < 6; i++) f.set(six[i]!, f32x4.add(six[i]!, v128.load(pc, k * slot + (6 * i + j) * Cp * 4)));
          }
        } else if (s.K > 4) {
          f.set(end, i32.add(pc, i32.const(s.K * slot)));
          f.forRange(pk, i32.add(pc, i32.const(slot)), end, slot, () => {
            for (let i = 0; i < 6; i++) f.set(six[i]!, f32x4.add(six[i]!, v128.load(pk, (6 * i + j) * Cp * 4)));
          });
        }
        const col = gT6(f, six, tmp);
        for (let i = 0; i < 3; i++) f.set(t[6 * i + j]!, col[i]!);
      }
      // dw = t G: each row of t through Gᵀ; lane l is input channel c + l: dw[o][c + l][i][j]
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 6; j++) f.set(six[j]!, t[6 * i + j]!);
        const row = gT6(f, six, tmp);
        for (let j = 0; j < 3; j++) {
          f.set(out, row[j]!);
          for (let l = 0; l < lanes; l++) f.do(f32.store(pw, f32x4.extract_lane(out, l), (l * 9 + 3 * i + j) * 4));
        }
      }
    };
    f.set(pc, i32.add(i32.load(args, 0), i32.mul(o, i32.const(XI4 * Cp * 4))));
    f.set(pw, i32.add(i32.load(args, 4), i32.mul(o, i32.const(s.C * 9 * 4))));
    const full = Math.floor(s.C / 4);
    if (full > 0) {
      f.forRange(cq, 0, full, 1, () => {
        quad(4);
        f.set(pc, i32.add(pc, i32.const(16)));
        f.set(pw, i32.add(pw, i32.const(4 * 9 * 4)));
      });
    }
    if (s.C % 4 > 0) quad(s.C % 4);
  });
  return m;
}

/**
 * dw [O][C][3][3] of y = conv2d(x, w) (3×3, stride 1, padding 1) from dy [N][O][H][W] and x [N][C][H][W] by
 * F(4×4, 3×3); `spec` (by default weightGrad4Spec's) fixes the cut. N, O and C must be positive.
 */
export function weightGradWinograd4(
  dy: Float32Array, x: Float32Array, N: number, C: number, O: number, H: number, W: number,
  spec: WeightGrad4Spec = weightGrad4Spec(N, C, O, H, W),
): Float32Array {
  const kernel = kernelModule(weightGrad4Key(spec), () => buildWeightGrad4Module(spec));
  const rspec: Reduce4Spec = { O, C, K: spec.items };
  const reduce = kernelModule(reduce4Key(rspec), () => buildReduce4Module(rspec));
  scratch.reset();
  const dw = kernelOutput(O * C * 9);
  const xB = kernelInput(x.subarray(0, N * C * H * W));
  const dyB = kernelInput(dy.subarray(0, N * O * H * W));
  const partials = spec.items * XI4 * O * paddedChannels(C);
  const threads = threadsFor(2 * N * O * H * W * C * 9);
  runWeightGradPasses(kernel, reduce, { xB, dyB, dwByte: dw.byte }, { items: spec.items, partials, workFloats: spec.workFloats, threads, O });
  return dw.result();
}
